/**
 * A page of GET /api/logs, newest first, with any filters: read in id ranges
 * from the newest down, so each step is an index range scan (every filter
 * has an index ending in the rowid, and the step reads the one of the
 * rarest value) and no step sorts. The time window
 * becomes an id range first (`request_log_hours`), so a window in the past
 * does not walk the rows written after it.
 */
import { and, desc, eq, gte, lte, max, min, sql, type SQL } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import type { Db } from "./client.ts";
import { HOUR } from "./request-log-sql.ts";
import { requestLog, requestLogHours } from "./schema.ts";
import type { IdPageQuery, LogPage, RequestLogFilter } from "./store.ts";

export interface LogScanOptions {
  /** Ids per step. */
  chunkIds?: number;
  /**
   * After this many ms of steps, a page that is not full yet stops and says
   * where to resume: a filter that matches almost nothing never makes one
   * call read the whole log.
   */
  budgetMs?: number;
  now?: () => number;
}

/** Ids per step; figures in test/bench/README.md. */
export const LOG_CHUNK_IDS = 65_536;
export const LOG_BUDGET_MS = 25;

/** The filters that name a value, each with the index of its column. */
function equalities(filter: RequestLogFilter): Array<{ column: SQLiteColumn; value: string | number }> {
  const out: Array<{ column: SQLiteColumn; value: string | number }> = [];
  if (filter.proxyKeyId !== undefined) out.push({ column: requestLog.proxyKeyId, value: filter.proxyKeyId });
  if (filter.providerKeyId !== undefined) out.push({ column: requestLog.providerKeyId, value: filter.providerKeyId });
  if (filter.model !== undefined) out.push({ column: requestLog.model, value: filter.model });
  if (filter.status !== undefined) out.push({ column: requestLog.status, value: filter.status });
  return out;
}

/** Index entries counted per filter when choosing which index a step reads. */
const PROBE_ENTRIES = 1_000;

/**
 * The conditions of one step over ids [bottom, top]: the filter whose value
 * is rarest among those ids reads its index (counted, at most PROBE_ENTRIES
 * each, through the indexes themselves: SQLite has no statistics of its own
 * here, and gathering them read whole tables under the write lock); the
 * other filters are compared row by row (`+column`). `"none"` when some
 * filter matches nothing in the range: the step reads nothing more.
 */
function stepConditions(db: Db, filter: RequestLogFilter, bottom: number, top: number): SQL | undefined | "none" {
  const range = and(gte(requestLog.id, bottom), lte(requestLog.id, top));
  const filters = equalities(filter);
  let chosen = 0;
  if (filters.length > 1) {
    let fewest = Infinity;
    for (const [i, { column, value }] of filters.entries()) {
      const matched = db.all<{ n: number }>(
        sql`SELECT count(*) AS n FROM (SELECT 1 FROM ${requestLog} WHERE ${column} = ${value} AND ${range} LIMIT ${PROBE_ENTRIES})`,
      )[0]?.n;
      if (matched === 0) return "none";
      if ((matched ?? Infinity) < fewest) [fewest, chosen] = [matched ?? Infinity, i];
    }
  }
  return and(
    range,
    ...filters.map(({ column, value }, i) => (i === chosen ? eq(column, value) : sql`+${column} = ${value}`)),
    // `+at`: compared row by row, never through the `at` index, whose order is not the page's.
    filter.from === undefined ? undefined : sql`+${requestLog.at} >= ${filter.from}`,
    filter.to === undefined ? undefined : sql`+${requestLog.at} < ${filter.to}`,
  );
}

/** The ids the window's rows can have; `undefined` when no hour of it holds any. */
function idRange(db: Db, filter: RequestLogFilter): { lo: number; hi: number } | undefined {
  if (filter.from === undefined && filter.to === undefined) {
    const newest = db
      .select({ id: max(requestLog.id) })
      .from(requestLog)
      .get()?.id;
    return newest === null || newest === undefined ? undefined : { lo: 1, hi: newest };
  }
  const hours = db
    .select({ lo: min(requestLogHours.firstId), hi: max(requestLogHours.lastId) })
    .from(requestLogHours)
    .where(
      and(
        filter.from === undefined ? undefined : gte(requestLogHours.hour, filter.from - (((filter.from % HOUR) + HOUR) % HOUR)),
        filter.to === undefined ? undefined : sql`${requestLogHours.hour} < ${filter.to}`,
      ),
    )
    .get();
  if (hours?.lo === null || hours?.lo === undefined || hours.hi === null) return undefined;
  return { lo: hours.lo, hi: hours.hi };
}

/**
 * Up to `query.limit` rows with ids below `query.beforeId`, newest first.
 * `resumeBelow` is set when the page stopped early (fewer rows than asked,
 * more ids left to read).
 */
export function queryLogPage(db: Db, filter: RequestLogFilter, query: IdPageQuery, options: LogScanOptions = {}): LogPage {
  const chunk = options.chunkIds ?? LOG_CHUNK_IDS;
  const now = options.now ?? (() => performance.now());
  const deadline = now() + (options.budgetMs ?? LOG_BUDGET_MS);
  const range = idRange(db, filter);
  if (!range) return { rows: [] };
  const lo = range.lo;
  let top = Math.min(range.hi, query.beforeId === undefined ? range.hi : query.beforeId - 1);
  const rows: LogPage["rows"] = [];
  while (top >= lo && rows.length < query.limit) {
    const bottom = Math.max(lo, top - chunk + 1);
    const where = stepConditions(db, filter, bottom, top);
    if (where !== "none") {
      rows.push(
        ...db
          .select()
          .from(requestLog)
          .where(where)
          .orderBy(desc(requestLog.id))
          .limit(query.limit - rows.length)
          .all(),
      );
    }
    top = bottom - 1;
    if (rows.length < query.limit && top >= lo && now() >= deadline) return { rows, resumeBelow: bottom };
  }
  return { rows };
}
