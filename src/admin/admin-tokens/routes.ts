import { Elysia, t } from "elysia";
import { decodeCursor } from "../../db/cursor.ts";
import type { AdminTokenService } from "../../vault/admin-tokens.ts";
import { adminAuth, type AdminAuthDeps } from "../auth.ts";
import { errorResponses, unwrap } from "../errors.ts";
import { PageQuery, readCursor } from "../pagination.ts";
import { SCOPES } from "../../vault/scopes.ts";
import { AdminTokenPage, AdminTokenView, adminTokenView, CreateAdminTokenBody, CreatedAdminTokenView } from "./model.ts";

const IdParams = t.Object({ id: t.String({ maxLength: 64, description: "Admin token id" }) });

const SelfView = t.Object(
  {
    id: t.String({ examples: ["Qm3xT0aB7cD9"] }),
    name: t.String({ examples: ["ops-console"] }),
    scopes: t.Array(t.UnionEnum(SCOPES), { examples: [["read"]] }),
  },
  { title: "AdminTokenSelf" },
);

export function adminTokenRoutes(auth: AdminAuthDeps, service: AdminTokenService) {
  const now = () => auth.clock.now();
  return new Elysia({ name: "admin.admin-tokens", prefix: "/admin-tokens", detail: { tags: ["Admin tokens"] } })
    .use(adminAuth(auth))
    .post(
      "",
      async ({ body, actor, status }) => {
        const created = unwrap(await service.create(actor.id, body));
        return status(201, { ...adminTokenView(created.row, now()), token: created.token });
      },
      {
        scope: "admin",
        parse: "application/json",
        body: CreateAdminTokenBody,
        response: { 201: CreatedAdminTokenView, ...errorResponses(400, 401, 403, 409, 422) },
        detail: {
          summary: "Create an admin token",
          description:
            "Returns the full `kwa_…` token once. A `keys:issue` token (for CI) needs a `policy`: the provider keys it may mint on, the longest TTL and largest budget of a minted key, and optionally allowed models, a name prefix and aggregate bounds (`max_keys_per_hour`, `max_outstanding_budget_usd`: the summed budgets of its live keys); it cannot be combined with `admin`.",
        },
      },
    )
    .get(
      "",
      ({ query }) => {
        const page = service.list(query.limit ?? 50, readCursor(query.cursor, decodeCursor));
        return { data: page.rows.map((r) => adminTokenView(r, now())), next_cursor: page.nextCursor };
      },
      {
        scope: "read",
        query: t.Object(PageQuery),
        response: { 200: AdminTokenPage, ...errorResponses(401, 403, 422) },
        detail: { summary: "List admin tokens" },
      },
    )
    .get(
      "/self",
      ({ actor }) => {
        const row = auth.store.adminTokens.byId(actor.id);
        return { id: actor.id, name: row?.name ?? actor.id, scopes: [...actor.scopes] };
      },
      {
        scope: ["read", "admin", "keys:issue"],
        response: { 200: SelfView, ...errorResponses(401, 403) },
        detail: {
          summary: "Describe the calling token",
          description: "The id, name and scopes of the admin token that makes the call, for any scope: what a client such as the console may offer.",
        },
      },
    )
    .post("/:id/revoke", async ({ params, actor }) => adminTokenView(unwrap(await service.revoke(actor.id, params.id)), now()), {
      scope: "admin",
      params: IdParams,
      response: { 200: AdminTokenView, ...errorResponses(401, 403, 404, 422) },
      detail: { summary: "Revoke an admin token", description: "Takes effect on the next request. Idempotent." },
    });
}
