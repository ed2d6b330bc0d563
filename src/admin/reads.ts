/**
 * The admin API's long reads, as the read worker runs them (src/db/reads.ts):
 * each queries the store and, where the answer needs nothing but the rows,
 * also makes the answer's JSON text there, so the thread that serves
 * requests only passes a string on. A usage answer of a thousand keys took
 * that thread milliseconds to shape and serialise (test/bench/README.md).
 * Key pages come back as rows: their views need the budget ledger, which
 * lives on the serving thread.
 */
import { idPageOf } from "../db/cursor.ts";
import type { ReadHandlers, Reads } from "../db/reads.ts";
import type { AuditRow, IdPageQuery, PageQuery, ProxyKeyFilter, ProxyKeyRow, RequestLogFilter, Store, TimeWindow, UsageGroup } from "../db/store.ts";
import { iso } from "./time.ts";
import { logBody, usageBody } from "./usage/views.ts";

function auditView(r: AuditRow) {
  return {
    id: r.id,
    at: iso(r.at) as string,
    actor_id: r.actorId,
    action: r.action,
    target_type: r.targetType,
    target_id: r.targetId,
    details: r.details ?? null,
  };
}

export const ADMIN_READS = {
  /** GET /api/usage's body. */
  usage: (store: Store, group: UsageGroup, window: TimeWindow): string => JSON.stringify(usageBody(group, store.requestLog.usage(group, window))),
  /** GET /api/logs's body: `limit` entries below `beforeId`. */
  logs: (store: Store, filter: RequestLogFilter, limit: number, beforeId: number | undefined): string =>
    JSON.stringify(logBody(store.requestLog.page(filter, { limit: limit + 1, beforeId }), limit)),
  /** GET /api/audit's body. */
  audit: (store: Store, limit: number, beforeId: number | undefined): string => {
    const page = idPageOf(store.audit.page({ limit: limit + 1, beforeId } satisfies IdPageQuery), limit);
    return JSON.stringify({ data: page.rows.map(auditView), next_cursor: page.nextCursor });
  },
  /** Rows of GET /api/proxy-keys (`limit + 1` of them, to know whether there is a next page). */
  proxyKeyPage: (store: Store, query: PageQuery, filter: ProxyKeyFilter): ProxyKeyRow[] => store.proxyKeys.page(query, filter),
} satisfies ReadHandlers;

export type AdminReads = Reads<typeof ADMIN_READS>;

/** A JSON body made by a read, as the response. */
export function jsonResponse(text: string, headers: Record<string, string> = {}): Response {
  return new Response(text, { headers: { "content-type": "application/json", ...headers } });
}
