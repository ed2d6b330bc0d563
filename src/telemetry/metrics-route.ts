import { timingSafeEqual } from "node:crypto";
import { Elysia } from "elysia";
import type { Metrics } from "./metrics.ts";

function sameToken(given: string, expected: string): boolean {
  const a = new TextEncoder().encode(given);
  const b = new TextEncoder().encode(expected);
  return a.byteLength === b.byteLength && timingSafeEqual(a, b);
}

/** `/metrics` in Prometheus text format; open unless a metrics token is configured. */
export function metricsRoutes(metrics: Metrics, gauges: () => { logQueueDepth: number }, token?: string) {
  return new Elysia({ name: "telemetry.metrics" }).get(
    "/metrics",
    ({ headers }) => {
      if (token !== undefined) {
        const given = /^Bearer\s+(\S+)$/i.exec(headers.authorization ?? "")?.[1] ?? "";
        if (!sameToken(given, token)) {
          return new Response("metrics token required\n", {
            status: 401,
            headers: { "www-authenticate": 'Bearer realm="metrics"', "content-type": "text/plain" },
          });
        }
      }
      return new Response(metrics.render(gauges()), {
        headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
      });
    },
    { detail: { hide: true } },
  );
}
