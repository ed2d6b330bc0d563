import { Elysia, t } from "elysia";
import { decodeCursor } from "../../db/cursor.ts";
import type { TrustPolicyService } from "../../vault/oidc/trust-policies.ts";
import { adminAuth, type AdminAuthDeps } from "../auth.ts";
import { errorResponses, unwrap } from "../errors.ts";
import { PageQuery, readCursor } from "../pagination.ts";
import { CreateTrustPolicyBody, TrustPolicyPage, TrustPolicyView, trustPolicyView } from "./model.ts";

const IdParams = t.Object({ id: t.String({ maxLength: 64, description: "Trust policy id", examples: ["tp_Qm3xT0aB7cD9"] }) });

/** `/api/oidc/trust-policies`: who may exchange a CI's OIDC token for a proxy key. Admin scope only. */
export function trustPolicyRoutes(auth: AdminAuthDeps, service: TrustPolicyService) {
  return new Elysia({ name: "admin.oidc-trust-policies", prefix: "/oidc/trust-policies", detail: { tags: ["OIDC"] } })
    .use(adminAuth(auth))
    .post("", async ({ body, actor, status }) => status(201, trustPolicyView(unwrap(await service.create(actor.id, body)))), {
      scope: "admin",
      parse: "application/json",
      body: CreateTrustPolicyBody,
      response: { 201: TrustPolicyView, ...errorResponses(400, 401, 403, 404, 409, 422) },
      detail: {
        summary: "Create an OIDC trust policy",
        description:
          "Tokens from `issuer` for `audience` whose claims all match get a proxy key on `provider_key_id` from `POST /api/oidc/exchange`, living `ttl_seconds` with a total budget of `budget_usd`. For GitHub Actions the issuer is `https://token.actions.githubusercontent.com`; pin at least `repository` (or `repository_id`) and usually `ref` or `environment`. The issuer's signing keys are fetched only from its own host, or from hosts listed in `jwks_hosts`.",
      },
    })
    .get(
      "",
      ({ query }) => {
        const page = service.list(query.limit ?? 50, readCursor(query.cursor, decodeCursor));
        return { data: page.rows.map(trustPolicyView), next_cursor: page.nextCursor };
      },
      {
        scope: "admin",
        query: t.Object(PageQuery),
        response: { 200: TrustPolicyPage, ...errorResponses(401, 403, 422) },
        detail: { summary: "List OIDC trust policies", description: "Newest first." },
      },
    )
    .get("/:id", ({ params }) => trustPolicyView(unwrap(service.get(params.id))), {
      scope: "admin",
      params: IdParams,
      response: { 200: TrustPolicyView, ...errorResponses(401, 403, 404, 422) },
      detail: { summary: "Get an OIDC trust policy" },
    })
    .delete(
      "/:id",
      async ({ params, actor }) => {
        unwrap(await service.remove(actor.id, params.id));
        return { deleted: true as const, id: params.id };
      },
      {
        scope: "admin",
        params: IdParams,
        response: {
          200: t.Object({ deleted: t.Literal(true), id: t.String() }, { title: "DeletedTrustPolicy" }),
          ...errorResponses(401, 403, 404, 422),
        },
        detail: {
          summary: "Delete an OIDC trust policy",
          description: "No new exchanges under it; keys it already minted live until they expire (revoke them to stop them sooner).",
        },
      },
    );
}
