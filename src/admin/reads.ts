/**
 * The admin API's long reads, as the read worker runs them (src/db/reads.ts):
 * each queries the store and, where the answer needs nothing but the rows,
 * also makes the answer's JSON there, as UTF-8 bytes, so the thread that
 * serves requests only passes them on (moved to it, not copied, and not
 * encoded again). A usage answer of a thousand keys took that thread
 * milliseconds to shape and serialise (test/bench/README.md).
 * A key page is made there too, with each key's spend as stored; the
 * serving thread sends it on unless its budget ledger knows better.
 */
import { idPageOf, pageOf } from "../db/cursor.ts";
import type { ReadHandlers, Reads } from "../db/reads.ts";
import type {
  AuditRow,
  IdPageQuery,
  PageQuery,
  ProviderKeyRow,
  ProxyKeyFilter,
  ProxyKeyRow,
  RequestLogFilter,
  Store,
  TimeWindow,
  UsageGroup,
} from "../db/store.ts";
import { storedSpend } from "../limits/balance.ts";
import type { Budgeted } from "../limits/budget-book.ts";
import { proxyKeyViewOf } from "./proxy-keys/view.ts";
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

/** A page of keys made on the read worker: the body, and each key's budget as stored. */
export interface StoredKeyPage {
  body: Uint8Array<ArrayBuffer>;
  budgets: Budgeted[];
}

const encoder = new TextEncoder();

/** An answer's body: JSON as UTF-8. */
export const jsonBody = (value: unknown): Uint8Array<ArrayBuffer> => encoder.encode(JSON.stringify(value));

export const ADMIN_READS = {
  /** GET /api/usage's body. */
  usage: (store: Store, group: UsageGroup, window: TimeWindow): Uint8Array<ArrayBuffer> => jsonBody(usageBody(group, store.requestLog.usage(group, window))),
  /** GET /api/logs's body: `limit` entries below `beforeId`. */
  logs: (store: Store, filter: RequestLogFilter, limit: number, beforeId: number | undefined): Uint8Array<ArrayBuffer> =>
    jsonBody(logBody(store.requestLog.page(filter, { limit: limit + 1, beforeId }), limit)),
  /** GET /api/audit's body. */
  audit: (store: Store, limit: number, beforeId: number | undefined): Uint8Array<ArrayBuffer> => {
    const page = idPageOf(store.audit.page({ limit: limit + 1, beforeId } satisfies IdPageQuery), limit);
    return jsonBody({ data: page.rows.map(auditView), next_cursor: page.nextCursor });
  },
  /** Rows of GET /api/proxy-keys (`limit + 1` of them, to know whether there is a next page). */
  proxyKeyPage: (store: Store, query: PageQuery, filter: ProxyKeyFilter): ProxyKeyRow[] => store.proxyKeys.page(query, filter),
  /**
   * GET /api/proxy-keys's body with each key's spend as stored (`storedSpend`), and what the serving thread
   * needs to tell whether the budget ledger would show the same (`storedSpendHolds` in proxy-keys/views.ts).
   */
  proxyKeyPageBody: (store: Store, query: PageQuery, filter: ProxyKeyFilter, limit: number, now: number): StoredKeyPage => {
    const page = pageOf(store.proxyKeys.page(query, filter), limit);
    const providerKeys = new Map<string, ProviderKeyRow | undefined>();
    const providerKeyOf = (id: string) => {
      if (!providerKeys.has(id)) providerKeys.set(id, store.providerKeys.byId(id));
      return providerKeys.get(id);
    };
    return {
      body: jsonBody({
        data: page.rows.map((row) => proxyKeyViewOf(row, providerKeyOf(row.providerKeyId), storedSpend(row, now), now)),
        next_cursor: page.nextCursor,
      }),
      budgets: page.rows.map(({ id, budgetMicros, budgetPeriod, spendMicros, periodStartedAt }) => ({
        id,
        budgetMicros,
        budgetPeriod,
        spendMicros,
        periodStartedAt,
      })),
    };
  },
} satisfies ReadHandlers;

export type AdminReads = Reads<typeof ADMIN_READS>;

/** A JSON body made by a read, as the response. */
export function jsonResponse(body: Uint8Array<ArrayBuffer>, headers: Record<string, string> = {}): Response {
  return new Response(body, { headers: { "content-type": "application/json", ...headers } });
}
