/**
 * The request-log write path as raw SQL, shared by the store (inline writes)
 * and the log worker (which has its own connection and no drizzle). At
 * thousands of rows a second, building each insert through drizzle's query
 * builder cost more than running it.
 */
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

export const LOG_DELETE_BEFORE = "DELETE FROM request_log WHERE at < ?";

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
