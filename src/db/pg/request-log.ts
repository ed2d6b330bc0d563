/**
 * The request log on PostgreSQL, shared by every instance: rows, the usage
 * rollups and the hours' id ranges written together (the twin of
 * src/db/request-log-sql.ts), the log pages (./log-page.ts) and usage
 * (./usage.ts) read from them, and retention pruning.
 *
 * Several instances append at once, so nothing here may assume it is the only
 * writer, as SQLite's path does (it reads the rows a write added as the ids
 * above the old maximum). Ids come from the identity column as each row is
 * inserted, the insert returns them, and every rollup or hour row is added
 * to with `ON CONFLICT … DO UPDATE`, which locks the row and adds to what the
 * other writer committed. Two writers lock the same rows in the same order
 * (hours, then rollups by primary key), so they wait for each other but never
 * deadlock.
 */
import type { Sql } from "postgres";
import { HOUR, LOG_DELETE_BATCH_ROWS, logRowValues, rollupsOf, type LogRowValues, type RollupValues } from "../request-log-sql.ts";
import type { IdPageQuery, LogPage, NewRequestLogRow, RequestLogFilter, TimeWindow, UsageGroup, UsageRow } from "../store.ts";
import { queryPgLogPage } from "./log-page.ts";
import { queryPgUsage } from "./usage.ts";

export interface PgRequestLog {
  /** Rows, their rollups and their hours' id ranges, in one transaction and one round trip. */
  appendMany(rows: NewRequestLogRow[]): Promise<void>;
  page(filter: RequestLogFilter, query: IdPageQuery): Promise<LogPage>;
  /** From the rollups, and from rows for the parts of hours at the window's ends: SQLite's answer, row for row. */
  usage(group: UsageGroup, window: TimeWindow): Promise<UsageRow[]>;
  /** Deletes one small batch of rows older than `at` (the rollups stay); returns how many, fewer than a batch once none are left. */
  pruneBatch(at: number): Promise<number>;
}

/** Each column's array type, in `LogRowValues` order (`LOG_COLUMNS` in request-log-sql.ts). */
const LOG_COLUMNS = [
  ["at", "int8"],
  ["request_id", "text"],
  ["proxy_key_id", "text"],
  ["provider_key_id", "text"],
  ["provider", "text"],
  ["model", "text"],
  ["method", "text"],
  ["path", "text"],
  ["status", "int8"],
  ["streamed", "bool"],
  ["input_tokens", "int8"],
  ["output_tokens", "int8"],
  ["cached_tokens", "int8"],
  ["cost_micros", "int8"],
  ["latency_ms", "int8"],
  ["ttfb_ms", "int8"],
  ["error_code", "text"],
  ["count", "int8"],
  ["overrun_micros", "int8"],
] as const;

/** In `RollupValues` order; the first six are the primary key. */
const ROLLUP_COLUMNS = [
  ["grain", "int8"],
  ["span", "int8"],
  ["start", "int8"],
  ["proxy_key_id", "text"],
  ["provider_key_id", "text"],
  ["model", "text"],
  ["requests", "int8"],
  ["errors", "int8"],
  ["input_tokens", "int8"],
  ["output_tokens", "int8"],
  ["cached_tokens", "int8"],
  ["cost_micros", "int8"],
  ["overrun_micros", "int8"],
] as const;

const names = (columns: readonly (readonly [string, string])[]) => columns.map(([name]) => name).join(", ");
/** One array parameter per column, from `$first`: a statement's text and parameter count stay the same for any number of rows. */
const unnest = (columns: readonly (readonly [string, string])[], first: number) =>
  `unnest(${columns.map(([, type], i) => `$${first + i}::${type}[]`).join(", ")})`;

/**
 * The rows, then the id range of each hour they fall in, widened to take
 * the new ids in (min and max, so ranges another writer added stay inside).
 * Hours are locked in ascending order.
 */
const INSERT_ROWS = `WITH added AS (
  INSERT INTO request_log (${names(LOG_COLUMNS)}) SELECT * FROM ${unnest(LOG_COLUMNS, 1)} RETURNING id, at
)
INSERT INTO request_log_hours (hour, first_id, last_id)
SELECT at - at % ${HOUR}, min(id), max(id) FROM added GROUP BY 1 ORDER BY 1
ON CONFLICT (hour) DO UPDATE SET first_id = least(request_log_hours.first_id, EXCLUDED.first_id),
  last_id = greatest(request_log_hours.last_id, EXCLUDED.last_id)`;

/** Adds each group's sums (`rollupsOf`) to its rollup row; the rows come sorted by primary key, and are locked in that order. */
const ADD_ROLLUPS = `INSERT INTO usage_rollups (${names(ROLLUP_COLUMNS)}) SELECT * FROM ${unnest(ROLLUP_COLUMNS, 1)}
ON CONFLICT (grain, span, start, proxy_key_id, provider_key_id, model) DO UPDATE SET
${ROLLUP_COLUMNS.slice(6)
  .map(([name]) => `  ${name} = usage_rollups.${name} + EXCLUDED.${name}`)
  .join(",\n")}`;

/** Primary-key order, the same in every instance (strings by code unit: any fixed order will do, it need not be the database's). */
function byPrimaryKey(a: RollupValues, b: RollupValues): number {
  for (let i = 0; i < 6; i++) {
    const [x, y] = [a[i] as number | string, b[i] as number | string];
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

type Cell = string | number | boolean | null;

/** Column arrays from rows of values: `columns[i]` holds every row's value `i`. */
function columnsOf(rows: readonly (readonly Cell[])[], width: number): Cell[][] {
  const columns = Array.from({ length: width }, (): Cell[] => Array.from({ length: rows.length }, () => null));
  rows.forEach((row, r) => {
    for (let c = 0; c < width; c++) (columns[c] as Cell[])[r] = row[c] ?? null;
  });
  return columns;
}

/**
 * Rows already in their values' form, as the request-log worker gets them
 * (JSON lines), and their rollups: one round trip, one transaction.
 */
export async function appendLogValues(sql: Sql, values: readonly LogRowValues[]): Promise<void> {
  if (values.length === 0) return;
  const logColumns = columnsOf(values, LOG_COLUMNS.length);
  logColumns[9] = values.map((v) => v[9] === 1);
  const rollupColumns = columnsOf(rollupsOf(values).sort(byPrimaryKey), ROLLUP_COLUMNS.length);
  // One round trip, one implicit transaction (a batch ends with one Sync): all of it commits, or none.
  await sql.batch([sql.unsafe(INSERT_ROWS, logColumns), sql.unsafe(ADD_ROLLUPS, rollupColumns)]);
}

function appendRows(sql: Sql, rows: NewRequestLogRow[]): Promise<void> {
  return appendLogValues(sql, rows.map(logRowValues));
}

/**
 * At most `$2` rows older than `$1`. Rows another instance's pruning holds
 * are skipped rather than waited for: it is deleting them already. So a
 * short batch means none are left for this instance; the hours dropped then
 * are ones whose rows the other is deleting.
 */
const DELETE_BATCH = "DELETE FROM request_log WHERE id IN (SELECT id FROM request_log WHERE at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)";
/** Hours that end by `$1` (their rows are all older than the cutoff, and pruned); rollups stay. */
const DELETE_ENDED_HOURS = "DELETE FROM request_log_hours WHERE hour <= $1";

async function pruneBatch(sql: Sql, before: number, limit = LOG_DELETE_BATCH_ROWS): Promise<number> {
  const removed = (await sql.unsafe(DELETE_BATCH, [before, limit])).count;
  if (removed < limit) await sql.unsafe(DELETE_ENDED_HOURS, [before - HOUR]);
  return removed;
}

/** `sql` must come from `openPostgres` (src/db/pg/connect.ts): every int8 read here is taken as a number. */
export function createPgRequestLog(sql: Sql): PgRequestLog {
  return {
    appendMany: (rows) => appendRows(sql, rows),
    page: (filter, query) => queryPgLogPage(sql, filter, query),
    usage: (group, window) => queryPgUsage(sql, group, window),
    pruneBatch: (at) => pruneBatch(sql, at),
  };
}
