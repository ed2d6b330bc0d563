import { Elysia, t } from "elysia";
import type { ActorId } from "../../changes/audit.ts";
import { decodeCursor } from "../../db/cursor.ts";
import type { ProviderKeyService } from "../../vault/provider-keys.ts";
import { adminAuth, type AdminAuthDeps } from "../auth.ts";
import { errorResponses, unwrap } from "../errors.ts";
import { PageQuery, readCursor } from "../pagination.ts";
import { CreateProviderKeyBody, DeleteProviderKeyResult, ProviderKeyPage, ProviderKeyView, providerKeyView, UpdateProviderKeyBody } from "./model.ts";

const IdParams = t.Object({ id: t.String({ maxLength: 64, description: "Provider key id", examples: ["pk_3kTMd9QzA1bc"] }) });

const DeleteQuery = t.Object({
  cascade: t.Optional(t.Boolean({ default: false, description: "Revoke the provider key's active proxy keys instead of refusing" })),
});

async function removeProviderKey(service: ProviderKeyService, actor: ActorId, target: { id: string; cascade: boolean }) {
  const result = unwrap(await service.remove(actor, target.id, { cascade: target.cascade }));
  return { deleted: true as const, id: target.id, revoked_proxy_key_ids: result.revokedProxyKeyIds };
}

export function providerKeyRoutes(auth: AdminAuthDeps, service: ProviderKeyService) {
  return new Elysia({ name: "admin.provider-keys", prefix: "/provider-keys", detail: { tags: ["Provider keys"] } })
    .use(adminAuth(auth))
    .post("", async ({ body, actor, status }) => status(201, providerKeyView(unwrap(await service.create(actor.id, body)))), {
      scope: "admin",
      parse: "application/json",
      body: CreateProviderKeyBody,
      response: { 201: ProviderKeyView, ...errorResponses(400, 401, 403, 404, 409, 422) },
      detail: {
        summary: "Store a provider key",
        description: "Encrypts the key with AES-256-GCM under the master key. The key is never returned; `key_hint` identifies it.",
      },
    })
    .get(
      "",
      ({ query }) => {
        const page = service.list(query.limit ?? 50, readCursor(query.cursor, decodeCursor));
        return { data: page.rows.map(providerKeyView), next_cursor: page.nextCursor };
      },
      {
        scope: "read",
        query: t.Object(PageQuery),
        response: { 200: ProviderKeyPage, ...errorResponses(401, 403, 422) },
        detail: { summary: "List provider keys", description: "Newest first, paginated by `cursor`." },
      },
    )
    .get("/:id", ({ params }) => providerKeyView(unwrap(service.get(params.id))), {
      scope: "read",
      params: IdParams,
      response: { 200: ProviderKeyView, ...errorResponses(401, 403, 404, 422) },
      detail: { summary: "Get a provider key" },
    })
    .patch("/:id", async ({ params, body, actor }) => providerKeyView(unwrap(await service.update(actor.id, params.id, body))), {
      scope: "admin",
      params: IdParams,
      parse: "application/json",
      body: UpdateProviderKeyBody,
      response: { 200: ProviderKeyView, ...errorResponses(400, 401, 403, 404, 409, 422) },
      detail: {
        summary: "Update a provider key",
        description:
          "Rename, replace the key in place (its proxy keys keep working), change `base_url`, or disable (its proxy keys get 403 `provider_key_disabled`).",
      },
    })
    .delete("/:id", ({ params, query, actor }) => removeProviderKey(service, actor.id, { id: params.id, cascade: query.cascade ?? false }), {
      scope: "admin",
      params: IdParams,
      query: DeleteQuery,
      response: { 200: DeleteProviderKeyResult, ...errorResponses(401, 403, 404, 409, 422) },
      detail: {
        summary: "Delete a provider key",
        description:
          "Refused with 409 while active proxy keys use it, unless `cascade=true` revokes them. The provider key's proxy key records go with it; the audit log keeps their ids.",
      },
    });
}
