import { Elysia, t } from "elysia";
import { decodeIdCursor, idPageOf } from "../../db/cursor.ts";
import type { Store } from "../../db/store.ts";
import { adminAuth, type AdminAuthDeps } from "../auth.ts";
import { errorResponses } from "../errors.ts";
import { iso, PageQuery, pageModel, readCursor } from "../pagination.ts";

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

export function auditRoutes(auth: AdminAuthDeps & { store: Store }) {
  return new Elysia({ name: "admin.audit", prefix: "/audit", detail: { tags: ["Audit"] } }).use(adminAuth(auth)).get(
    "",
    ({ query }) => {
      const limit = query.limit ?? 50;
      const beforeId = readCursor(query.cursor, decodeIdCursor);
      const page = idPageOf(auth.store.audit.page({ limit: limit + 1, beforeId }), limit);
      return {
        data: page.rows.map((r) => ({
          id: r.id,
          at: iso(r.at) as string,
          actor_id: r.actorId,
          action: r.action,
          target_type: r.targetType,
          target_id: r.targetId,
          details: r.details ?? null,
        })),
        next_cursor: page.nextCursor,
      };
    },
    {
      scope: "read",
      query: t.Object(PageQuery),
      response: { 200: pageModel(AuditEntryView, "AuditPage"), ...errorResponses(401, 403, 422) },
      detail: { summary: "List the audit log", description: "Every change, newest first, with the acting token id. Never secrets." },
    },
  );
}
