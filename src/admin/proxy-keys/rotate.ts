import { Elysia, t } from "elysia";
import { MAX_ROTATION_GRACE_SECONDS } from "../../vault/proxy-key-rotation.ts";
import type { ProxyKeyService } from "../../vault/proxy-keys.ts";
import { adminAuth, type AdminAuthDeps } from "../auth.ts";
import { errorResponses, unwrap } from "../errors.ts";
import { CreatedProxyKeyView } from "./model.ts";
import type { proxyKeyViews } from "./views.ts";

const IdParams = t.Object({ id: t.String({ maxLength: 64, description: "Proxy key id", examples: ["Zk3a9QmP0xYb"] }) });

export const RotateProxyKeyBody = t.Object(
  {
    grace_seconds: t.Optional(
      t.Integer({
        minimum: 0,
        maximum: MAX_ROTATION_GRACE_SECONDS,
        description: `How long the old key keeps working, in seconds (at most ${MAX_ROTATION_GRACE_SECONDS}, a week). Absent or 0: it stops at once`,
        examples: [86_400],
      }),
    ),
  },
  { additionalProperties: false, title: "RotateProxyKey", examples: [{ grace_seconds: 86_400 }, {}] },
);

/**
 * `POST /api/proxy-keys/{id}/rotate`: admin tokens only. A `keys:issue`
 * token mints short-lived keys within a policy and nothing else; replacing a
 * key's secret acts on a key already handed out (a CI job's key could be
 * pulled from under it), which is an administrator's call.
 */
export function rotateRoute(auth: AdminAuthDeps, service: ProxyKeyService, views: ReturnType<typeof proxyKeyViews>) {
  return new Elysia({ name: "admin.proxy-keys.rotate", prefix: "/proxy-keys", detail: { tags: ["Proxy keys"] } }).use(adminAuth(auth)).post(
    "/:id/rotate",
    async ({ params, body, actor }) => {
      const rotated = unwrap(await service.rotate(actor.id, params.id, body.grace_seconds ?? 0));
      return views.createdView(rotated.row, rotated.key);
    },
    {
      scope: "admin",
      params: IdParams,
      parse: "application/json",
      body: RotateProxyKeyBody,
      response: { 200: CreatedProxyKeyView, ...errorResponses(400, 401, 403, 404, 409, 422) },
      detail: {
        summary: "Rotate a proxy key's secret",
        description: [
          "Issues a new secret for the same key id and returns the full new `kwp_…` key once, as minting does. Limits, spend, budget, metadata and expiry stay with the id.",
          "",
          "The old key keeps working for `grace_seconds` (`previous_secret_expires_at` in the answer), then fails like a wrong key. Rotating again during a grace ends the older grace at once: only the key before the newest one is still accepted.",
          "",
          "Revoked and expired keys cannot be rotated (409). Audit-logged as `proxy_key.rotate`. Needs the admin scope.",
        ].join("\n"),
      },
    },
  );
}
