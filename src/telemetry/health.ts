import { Elysia, t } from "elysia";
import type { Store } from "../db/store.ts";

/** Liveness says the process answers; readiness says the database does too. */
export function healthRoutes(store: Store) {
  return new Elysia({ name: "telemetry.health", detail: { tags: ["Operations"] } })
    .get("/healthz", () => ({ status: "ok" as const }), {
      response: { 200: t.Object({ status: t.Literal("ok") }) },
      detail: { summary: "Liveness probe", security: [] },
    })
    .get("/readyz", ({ status }) => (store.ping() ? { status: "ready" as const } : status(503, { status: "unavailable" as const })), {
      response: {
        200: t.Object({ status: t.Literal("ready") }),
        503: t.Object({ status: t.Literal("unavailable") }),
      },
      detail: { summary: "Readiness probe", description: "503 while the database does not answer", security: [] },
    });
}
