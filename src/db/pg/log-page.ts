/**
 * A page of GET /api/logs on PostgreSQL: SQLite's reading (src/db/log-query.ts)
 * step for step, so both list the same rows in the same order and stop early
 * under the same time budget. A time window becomes an id range through
 * `request_log_hours`; then id ranges are read from the newest down, each
 * one statement. PostgreSQL keeps statistics and every filter's index ends in
 * the id, so a step needs neither SQLite's probes for the rarest filter nor
 * its `+column` hints: the planner picks the index.
 */
import type { Sql } from "postgres";
import { LOG_BUDGET_MS, LOG_CHUNK_IDS, type LogScanOptions } from "../log-query.ts";
import { HOUR } from "../request-log-sql.ts";
import type { IdPageQuery, LogPage, RequestLogFilter, RequestLogRow } from "../store.ts";

/** `request_log`'s columns under the row type's names. */
const ROW_COLUMNS =
  'id, at, request_id AS "requestId", proxy_key_id AS "proxyKeyId", provider_key_id AS "providerKeyId", provider, model, method, path, ' +
  'status, streamed, input_tokens AS "inputTokens", output_tokens AS "outputTokens", cached_tokens AS "cachedTokens", ' +
  'cost_micros AS "costMicros", latency_ms AS "latencyMs", ttfb_ms AS "ttfbMs", error_code AS "errorCode", count, overrun_micros AS "overrunMicros"';

type Param = string | number;

/** The filter's conditions besides the id range, with their parameters numbered from `$first`. */
function filterConditions(filter: RequestLogFilter, first: number): { where: string[]; params: Param[] } {
  const where: string[] = [];
  const params: Param[] = [];
  const add = (condition: (placeholder: string) => string, value: Param | undefined) => {
    if (value === undefined) return;
    params.push(value);
    where.push(condition(`$${first + params.length - 1}`));
  };
  add((p) => `proxy_key_id = ${p}`, filter.proxyKeyId);
  add((p) => `provider_key_id = ${p}`, filter.providerKeyId);
  add((p) => `model = ${p}`, filter.model);
  add((p) => `status = ${p}`, filter.status);
  add((p) => `at >= ${p}`, filter.from);
  add((p) => `at < ${p}`, filter.to);
  return { where, params };
}

interface IdBounds {
  lo: number | null;
  hi: number | null;
}

/** The ids the window's rows can have; `undefined` when no hour of it holds any. */
async function idRange(sql: Sql, filter: RequestLogFilter): Promise<{ lo: number; hi: number } | undefined> {
  let bounds: IdBounds | undefined;
  if (filter.from === undefined && filter.to === undefined) {
    // Both ends of the primary key's index; the lowest id, not 1, since pruning leaves nothing below it.
    [bounds] = await sql.unsafe<IdBounds[]>("SELECT min(id) AS lo, max(id) AS hi FROM request_log");
  } else {
    const where: string[] = [];
    const params: number[] = [];
    if (filter.from !== undefined) {
      params.push(filter.from - (((filter.from % HOUR) + HOUR) % HOUR));
      where.push(`hour >= $${params.length}`);
    }
    if (filter.to !== undefined) {
      params.push(filter.to);
      where.push(`hour < $${params.length}`);
    }
    [bounds] = await sql.unsafe<IdBounds[]>(`SELECT min(first_id) AS lo, max(last_id) AS hi FROM request_log_hours WHERE ${where.join(" AND ")}`, params);
  }
  if (bounds?.lo === null || bounds?.lo === undefined || bounds.hi === null) return undefined;
  return { lo: bounds.lo, hi: bounds.hi };
}

/**
 * Up to `query.limit` rows with ids below `query.beforeId`, newest first.
 * `resumeBelow` is set when the page stopped early (fewer rows than asked,
 * more ids left to read), as on SQLite.
 */
export async function queryPgLogPage(sql: Sql, filter: RequestLogFilter, query: IdPageQuery, options: LogScanOptions = {}): Promise<LogPage> {
  const chunk = options.chunkIds ?? LOG_CHUNK_IDS;
  const now = options.now ?? (() => performance.now());
  const deadline = now() + (options.budgetMs ?? LOG_BUDGET_MS);
  const range = await idRange(sql, filter);
  if (!range) return { rows: [] };
  const lo = range.lo;
  let top = Math.min(range.hi, query.beforeId === undefined ? range.hi : query.beforeId - 1);
  const conditions = filterConditions(filter, 4);
  const text =
    `SELECT ${ROW_COLUMNS} FROM request_log WHERE id >= $1 AND id <= $2${conditions.where.map((c) => ` AND ${c}`).join("")} ` + "ORDER BY id DESC LIMIT $3";
  const rows: RequestLogRow[] = [];
  while (top >= lo && rows.length < query.limit) {
    const bottom = Math.max(lo, top - chunk + 1);
    rows.push(...(await sql.unsafe<RequestLogRow[]>(text, [bottom, top, query.limit - rows.length, ...conditions.params])));
    top = bottom - 1;
    if (rows.length < query.limit && top >= lo && now() >= deadline) return { rows, resumeBelow: bottom };
  }
  return { rows };
}
