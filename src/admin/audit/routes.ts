import { Elysia, t } from "elysia";
import { decodeIdCursor } from "../../db/cursor.ts";
import type { Store } from "../../db/store.ts";
import { adminAuth, type AdminAuthDeps } from "../auth.ts";
import { errorResponses } from "../errors.ts";
import { PageQuery, pageModel, readCursor } from "../pagination.ts";
import { jsonResponse, type AdminReads } from "../reads.ts";

const AuditEntryView = t.Object(
  {
    id: t.Integer(),
    at: t.String({ format: "date-time" }),
    actor_id: t.Union([t.String(), t.Null()], { description: "Admin token id, or cli/bootstrap for host-side actions" }),
    action: t.String({ examples: ["proxy_key.revoke"] }),
    target_type: t.String({ examples: ["proxy_key"] }),
    target_id: t.Union([t.String(), t.Null()]),
    details: t.Union([t.Record(t.String(), t.Unknown()), t.Null()]),
  },
  { title: "AuditEntry" },
);

/** Pages are read by the read worker (src/db/reads.ts), off the thread that serves requests. */
export function auditRoutes(auth: AdminAuthDeps & { store: Store }, reads: AdminReads) {
  return new Elysia({ name: "admin.audit", prefix: "/audit", detail: { tags: ["Audit"] } }).use(adminAuth(auth)).get(
    "",
    async ({ query }) => {
      const beforeId = readCursor(query.cursor, decodeIdCursor);
      // Read and serialised by the read worker (src/admin/reads.ts); the schema below documents the body.
      return jsonResponse(await reads.read("audit", query.limit ?? 50, beforeId));
    },
    {
      scope: "read",
      query: t.Object(PageQuery),
      response: { 200: pageModel(AuditEntryView, "AuditPage"), ...errorResponses(401, 403, 422) },
      detail: { summary: "List the audit log", description: "Every change, newest first, with the acting token id. Never secrets." },
    },
  );
}
