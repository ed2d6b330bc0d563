import { Elysia, t } from "elysia";
import { decodeCursor, pageOf } from "../../db/cursor.ts";
import type { Store } from "../../db/store.ts";
import { adminAuth, type AdminAuthDeps } from "../auth.ts";
import { errorResponses } from "../errors.ts";
import { iso, PageQuery, pageModel, readCursor } from "../pagination.ts";

const StoredObjectView = t.Object(
  {
    object_id: t.String({ description: "The provider's id of the object", examples: ["file-abc123"] }),
    kind: t.String({ examples: ["file"], description: "file, upload, batch, response, vector_store, message_batch or cached_content" }),
    provider_key_id: t.String({ examples: ["pk_3kTMd9QzA1bc"] }),
    proxy_key_id: t.String({ description: "The proxy key that created it: the only one that can read, list, change or delete it", examples: ["Zk3a9QmP0xYb"] }),
    created_at: t.String({ format: "date-time" }),
  },
  { title: "StoredObject" },
);

const Filters = {
  proxy_key_id: t.Optional(t.String({ maxLength: 64 })),
  provider_key_id: t.Optional(t.String({ maxLength: 64 })),
  kind: t.Optional(t.String({ maxLength: 32 })),
};

/** Who owns what a provider stores, as keyward recorded it from the providers' answers. */
export function storedObjectRoutes(auth: AdminAuthDeps & { store: Store }) {
  return new Elysia({ name: "admin.stored-objects", prefix: "/stored-objects", detail: { tags: ["Stored objects"] } }).use(adminAuth(auth)).get(
    "",
    ({ query }) => {
      const limit = query.limit ?? 50;
      const after = readCursor(query.cursor, decodeCursor);
      const rows = auth.store.storedObjects.page(
        { limit: limit + 1, after },
        { proxyKeyId: query.proxy_key_id, providerKeyId: query.provider_key_id, kind: query.kind },
      );
      const page = pageOf(
        rows.map((r) => ({ ...r, id: r.objectId })),
        limit,
      );
      return {
        data: page.rows.map((r) => ({
          object_id: r.objectId,
          kind: r.kind,
          provider_key_id: r.providerKeyId,
          proxy_key_id: r.proxyKeyId,
          created_at: iso(r.createdAt) as string,
        })),
        next_cursor: page.nextCursor,
      };
    },
    {
      scope: "read",
      query: t.Object({ ...PageQuery, ...Filters }),
      response: { 200: pageModel(StoredObjectView, "StoredObjectPage"), ...errorResponses(401, 403, 422) },
      detail: {
        summary: "List stored objects and their owners",
        description:
          "Files, uploads, batches, stored responses, vector stores and message batches created through keyward, with the proxy key that created each. Other proxy keys on the same provider key get 404 for them, and provider lists they ask for are filtered to their own.",
      },
    },
  );
}
