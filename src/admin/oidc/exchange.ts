import { Elysia } from "elysia";
import { bearerToken } from "../auth.ts";
import { ApiError, errorResponses, unwrap } from "../errors.ts";
import type { OidcExchange } from "../../vault/oidc/exchange.ts";
import { CreatedProxyKeyView } from "../proxy-keys/model.ts";
import type { proxyKeyViews } from "../proxy-keys/views.ts";

const MISSING = "Cannot exchange token: send the CI's OIDC ID token as Authorization: Bearer <jwt>";

/**
 * `POST /api/oidc/exchange`. Not behind the admin-token macro: the caller
 * authenticates with its OIDC ID token; errors keep the admin API's shape.
 */
export function oidcExchangeRoutes(exchange: OidcExchange, views: ReturnType<typeof proxyKeyViews>) {
  return new Elysia({ name: "oidc.exchange", prefix: "/oidc", detail: { tags: ["OIDC"] } }).post(
    "/exchange",
    async ({ request, status }) => {
      const token = bearerToken(request.headers.get("authorization") ?? undefined);
      if (!token) throw new ApiError({ code: "unauthorized", message: MISSING });
      if (/^kw[ap]_/.test(token)) {
        throw new ApiError({ code: "unauthorized", message: "Cannot exchange token: this route takes an OIDC ID token, not a keyward key or token" });
      }
      const created = unwrap(await exchange.exchange(token));
      return status(201, views.createdView(created.row, created.key));
    },
    {
      response: { 201: CreatedProxyKeyView, ...errorResponses(401, 403, 409, 502) },
      detail: {
        summary: "Exchange a CI's OIDC ID token for a proxy key",
        description:
          "Send the ID token (GitHub Actions, GitLab CI…) as `Authorization: Bearer <jwt>`. It is verified against its issuer's published keys (RS256 or ES256 only), its audience, times and `jti` (each token is exchanged once); the first trust policy whose claims it satisfies mints a proxy key with that policy's lifetime, budget and models. 401 for a token that does not verify, 403 (naming the first failing claim and the value received) when no policy accepts it.",
        security: [{ oidcIdToken: [] }],
      },
    },
  );
}
