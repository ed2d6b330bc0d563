import { Elysia, t } from "elysia";
import type { Store } from "../../db/store.ts";
import { adminAuth, type AdminAuthDeps } from "../auth.ts";
import { ApiError, errorResponses } from "../errors.ts";
import { iso, pageModel } from "../pagination.ts";

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
  return new Elysia({ name: "admin.audit", prefix: "/audit", detail: { tags: ["Audit"] } })
    .use(adminAuth(auth))
    .get(
      "",
      ({ query }) => {
        const limit = query.limit ?? 50;
        let before: number | undefined;
        if (query.cursor !== undefined) {
          if (!/^\d{1,15}$/.test(query.cursor)) {
            throw new ApiError({ code: "validation_failed", message: "Cannot list audit log: cursor is not one this server issued", field: "cursor" });
          }
          before = Number(query.cursor);
        }
        const rows = auth.store.audit.page(limit + 1, before);
        const page = rows.slice(0, limit);
        const last = page[page.length - 1];
        return {
          data: page.map((r) => ({
            id: r.id,
            at: iso(r.at) as string,
            actor_id: r.actorId,
            action: r.action,
            target_type: r.targetType,
            target_id: r.targetId,
            details: r.details ?? null,
          })),
          next_cursor: rows.length > limit && last ? String(last.id) : null,
        };
      },
      {
        scope: "read",
        query: t.Object({
          limit: t.Optional(t.Integer({ minimum: 1, maximum: 200, default: 50 })),
          cursor: t.Optional(t.String({ maxLength: 20 })),
        }),
        response: { 200: pageModel(AuditEntryView, "AuditPage"), ...errorResponses(401, 403, 422) },
        detail: { summary: "List the audit log", description: "Every change, newest first, with the acting token id. Never secrets." },
      },
    );
}
