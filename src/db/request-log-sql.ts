/**
 * The request-log write path as raw SQL, shared by the store (inline writes)
 * and the log worker (which has its own connection and no drizzle). At
 * thousands of rows a second, building each insert through drizzle's query
 * builder cost more than running it.
 */
import type { SqliteClient, SqliteStatement } from "../runtime/types.ts";
import type { NewRequestLogRow, SpendUpdate } from "./store.ts";

const LOG_COLUMNS =
  "at, request_id, proxy_key_id, provider_key_id, provider, model, method, path, status, streamed, " +
  "input_tokens, output_tokens, cached_tokens, cost_micros, latency_ms, ttfb_ms, error_code, count, overrun_micros";
const ROW_PLACEHOLDERS = `(${Array.from({ length: 19 }, () => "?").join(", ")})`;

export const LOG_INSERT = `INSERT INTO request_log (${LOG_COLUMNS}) VALUES ${ROW_PLACEHOLDERS}`;

/** Rows per multi-row insert: a quarter less work per row than one statement each (19 × 32 parameters stays below even the old 999 limit of SQLite). */
export const LOG_INSERT_ROWS = 32;
export const LOG_INSERT_MANY = `INSERT INTO request_log (${LOG_COLUMNS}) VALUES ${Array.from({ length: LOG_INSERT_ROWS }, () => ROW_PLACEHOLDERS).join(", ")}`;

export const SPEND_UPDATE = "UPDATE proxy_keys SET spend_micros = ?, period_started_at = ? WHERE id = ?";
/** A team's spend (`SpendUpdate.team`), with the same parameters. */
export const TEAM_SPEND_UPDATE = "UPDATE teams SET spend_micros = ?, period_started_at = ? WHERE id = ?";

/** Ids are AUTOINCREMENT, never reused: rows written after this id are the ones a write added. */
export const LOG_MAX_ID = "SELECT ifnull(max(id), 0) FROM request_log";

export const HOUR = 3_600_000;
export const DAY = 86_400_000;
/** Eight days: aligned to the epoch like hours and days, so each tiles exactly into the next finer span. */
export const EIGHT_DAYS = 8 * DAY;

/**
 * Which ids a `usage_rollups` row is per; the id columns a grain does not use
 * hold `''`. `proxyKey`, `providerKey` and `model` answer the three
 * `group_by`s by id, `all` answers `group_by=day`, each from one row per
 * value and bucket; `full` (all three ids) is the record per proxy key,
 * provider key and model, and what a grouping by something a key belongs
 * to (a team) can be summed from.
 */
export const ROLLUP_GRAINS = { full: 0, proxyKey: 1, providerKey: 2, model: 3, all: 4 } as const;
export type RollupGrain = (typeof ROLLUP_GRAINS)[keyof typeof ROLLUP_GRAINS];

/**
 * The spans each grain is kept in. Hours only where a query needs them (the
 * ends of a window); eight days, so 90 days take at most 25 buckets per
 * group, not for days (a day's total cannot come from eight days).
 */
export const ROLLUP_SPANS: Record<RollupGrain, readonly number[]> = {
  [ROLLUP_GRAINS.full]: [DAY],
  [ROLLUP_GRAINS.proxyKey]: [HOUR, DAY, EIGHT_DAYS],
  [ROLLUP_GRAINS.providerKey]: [HOUR, DAY, EIGHT_DAYS],
  [ROLLUP_GRAINS.model]: [HOUR, DAY, EIGHT_DAYS],
  [ROLLUP_GRAINS.all]: [HOUR, DAY],
};

const ROLLUP_PAIRS = Object.entries(ROLLUP_SPANS).flatMap(([grain, spans]) => spans.map((span) => ({ grain: Number(grain) as RollupGrain, span })));

/**
 * Adds one group's sums to its rollup row. The writers sum a batch's rows in
 * memory first (`rollupsOf`), so a commit runs one of these per group and
 * bucket, not per row: summing in SQL (a GROUP BY over each row times each
 * grain and span) cost more than inserting the rows (test/bench/README.md).
 */
export const ROLLUP_ADD = `INSERT INTO usage_rollups (grain, span, start, proxy_key_id, provider_key_id, model, requests, errors,
  input_tokens, output_tokens, cached_tokens, cost_micros, overrun_micros) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (grain, span, start, proxy_key_id, provider_key_id, model) DO UPDATE SET
  requests = requests + excluded.requests, errors = errors + excluded.errors, input_tokens = input_tokens + excluded.input_tokens,
  output_tokens = output_tokens + excluded.output_tokens, cached_tokens = cached_tokens + excluded.cached_tokens,
  cost_micros = cost_micros + excluded.cost_micros, overrun_micros = overrun_micros + excluded.overrun_micros`;

/** `ROLLUP_ADD`'s parameters. */
export type RollupValues = [
  grain: RollupGrain,
  span: number,
  start: number,
  proxyKeyId: string,
  providerKeyId: string,
  model: string,
  requests: number,
  errors: number,
  inputTokens: number,
  outputTokens: number,
  cachedTokens: number,
  costMicros: number,
  overrunMicros: number,
];

/**
 * The rows' sums per grain, span, bucket and ids: requests are the rows'
 * `count` (a row of folded refusals stands for that many), errors the count
 * of rows with an error code. A missing id or model is `''`.
 */
export function rollupsOf(rows: readonly LogRowValues[]): RollupValues[] {
  const sums = new Map<string, RollupValues>();
  for (const r of rows) {
    const at = r[0];
    const ids = [r[2] ?? "", r[3] ?? "", r[5] ?? ""] as const;
    const count = r[17];
    const errors = r[16] === null ? 0 : count;
    for (const { grain, span } of ROLLUP_PAIRS) {
      const start = at - (at % span);
      const proxyKeyId = grain === ROLLUP_GRAINS.full || grain === ROLLUP_GRAINS.proxyKey ? ids[0] : "";
      const providerKeyId = grain === ROLLUP_GRAINS.full || grain === ROLLUP_GRAINS.providerKey ? ids[1] : "";
      const model = grain === ROLLUP_GRAINS.full || grain === ROLLUP_GRAINS.model ? ids[2] : "";
      const key = `${grain} ${span} ${start} ${proxyKeyId} ${providerKeyId} ${model}`;
      const sum = sums.get(key);
      if (sum) {
        sum[6] += count;
        sum[7] += errors;
        sum[8] += r[10];
        sum[9] += r[11];
        sum[10] += r[12];
        sum[11] += r[13];
        sum[12] += r[18];
      } else {
        sums.set(key, [grain, span, start, proxyKeyId, providerKeyId, model, count, errors, r[10], r[11], r[12], r[13], r[18]]);
      }
    }
  }
  return [...sums.values()];
}

/** Widens each hour's id range by the rows written after id `?` (see `request_log_hours`). */
export const HOURS_UPSERT = `INSERT INTO request_log_hours (hour, first_id, last_id)
SELECT at - at % ${HOUR}, min(id), max(id) FROM request_log WHERE id > ? GROUP BY 1
ON CONFLICT (hour) DO UPDATE SET first_id = min(first_id, excluded.first_id), last_id = max(last_id, excluded.last_id)`;

/**
 * One batch of retention pruning: at most `?` rows older than `?`. Small
 * batches, each its own short transaction, so the serving thread's writes
 * (keys, budget ceilings) never wait long for the lock.
 */
export const LOG_DELETE_BATCH = "DELETE FROM request_log WHERE id IN (SELECT id FROM request_log WHERE at < ? LIMIT ?)";
/** Rows pruned per batch; figures in test/bench/README.md. */
export const LOG_DELETE_BATCH_ROWS = 500;

/** Hours that end by `?` (their rows are all older than the cutoff, and pruned); rollups stay. */
export const HOURS_DELETE_ENDED = "DELETE FROM request_log_hours WHERE hour <= ?";

/** The statements a request-log writer prepares once on its connection. */
export interface LogWriteStatements {
  insert: SqliteStatement;
  insertMany: SqliteStatement;
  maxId: SqliteStatement;
  rollup: SqliteStatement;
  hours: SqliteStatement;
}

export function prepareLogWrites(client: SqliteClient): LogWriteStatements {
  return {
    insert: client.prepare(LOG_INSERT),
    insertMany: client.prepare(LOG_INSERT_MANY),
    maxId: client.prepare(LOG_MAX_ID),
    rollup: client.prepare(ROLLUP_ADD),
    hours: client.prepare(HOURS_UPSERT),
  };
}

/**
 * Writes rows and keeps `usage_rollups` and `request_log_hours` in step with
 * them. Call inside a write transaction: the three must commit together, and
 * no other writer may add rows between the insert and the sums.
 */
export function writeLogRows(statements: LogWriteStatements, rows: readonly LogRowValues[]): void {
  if (rows.length === 0) return;
  const before = (statements.maxId.values()[0]?.[0] as number | undefined) ?? 0;
  let i = 0;
  for (; i + LOG_INSERT_ROWS <= rows.length; i += LOG_INSERT_ROWS) statements.insertMany.run(...rows.slice(i, i + LOG_INSERT_ROWS).flat());
  for (; i < rows.length; i++) statements.insert.run(...(rows[i] as LogRowValues));
  for (const sum of rollupsOf(rows)) statements.rollup.run(...sum);
  statements.hours.run(before);
}

/**
 * Prunes one batch of rows older than `before`; returns how many went. When
 * none are left, also drops the id ranges of the hours that are now empty.
 */
export function pruneLogBatch(client: SqliteClient, before: number, limit = LOG_DELETE_BATCH_ROWS): number {
  const result = client.prepare(LOG_DELETE_BATCH).run(before, limit) as { changes?: number | bigint } | undefined;
  const removed = Number(result?.changes ?? 0);
  if (removed < limit) client.prepare(HOURS_DELETE_ENDED).run(before - HOUR);
  return removed;
}

/** Pages given back to the file system per incremental-vacuum step (1 MiB at 4 KiB pages); figures in test/bench/README.md. */
export const VACUUM_STEP_PAGES = 256;

/**
 * One step of giving freed pages back: only in databases created with
 * `auto_vacuum = INCREMENTAL` (src/db/open.ts); returns whether free pages
 * are left for another step.
 */
export function vacuumStep(client: SqliteClient, pages = VACUUM_STEP_PAGES): boolean {
  if (Number(client.prepare("PRAGMA auto_vacuum").values()[0]?.[0]) !== 2) return false;
  const free = () => Number(client.prepare("PRAGMA freelist_count").values()[0]?.[0] ?? 0);
  if (free() === 0) return false;
  client.exec(`PRAGMA incremental_vacuum(${Math.trunc(pages)})`);
  return free() > 0;
}

/** One row's values in `LOG_INSERT` order. */
export type LogRowValues = [
  at: number,
  requestId: string,
  proxyKeyId: string | null,
  providerKeyId: string | null,
  provider: string | null,
  model: string | null,
  method: string,
  path: string,
  status: number,
  streamed: 0 | 1,
  inputTokens: number,
  outputTokens: number,
  cachedTokens: number,
  costMicros: number,
  latencyMs: number,
  ttfbMs: number | null,
  errorCode: string | null,
  count: number,
  overrunMicros: number,
];

export function logRowValues(r: NewRequestLogRow): LogRowValues {
  return [
    r.at,
    r.requestId,
    r.proxyKeyId ?? null,
    r.providerKeyId ?? null,
    r.provider ?? null,
    r.model ?? null,
    r.method,
    r.path,
    r.status,
    r.streamed ? 1 : 0,
    r.inputTokens ?? 0,
    r.outputTokens ?? 0,
    r.cachedTokens ?? 0,
    r.costMicros ?? 0,
    r.latencyMs,
    r.ttfbMs ?? null,
    r.errorCode ?? null,
    r.count ?? 1,
    r.overrunMicros ?? 0,
  ];
}

export function rowFromValues(v: LogRowValues): NewRequestLogRow {
  return {
    at: v[0],
    requestId: v[1],
    proxyKeyId: v[2],
    providerKeyId: v[3],
    provider: v[4],
    model: v[5],
    method: v[6],
    path: v[7],
    status: v[8],
    streamed: v[9] === 1,
    inputTokens: v[10],
    outputTokens: v[11],
    cachedTokens: v[12],
    costMicros: v[13],
    latencyMs: v[14],
    ttfbMs: v[15],
    errorCode: v[16],
    count: v[17],
    overrunMicros: v[18],
  };
}

export function spendValues(u: SpendUpdate): [number, number, string] {
  return [u.spendMicros, u.periodStartedAt, u.id];
}
