/**
 * The bodies of GET /api/usage and GET /api/logs, made from store rows:
 * plain functions with no Elysia, because the read worker (src/admin/reads.ts)
 * makes them there, off the thread that serves requests.
 */
import { encodeIdCursor, idPageOf } from "../../db/cursor.ts";
import type { LogPage, RequestLogRow, UsageGroup, UsageRow } from "../../db/store.ts";
import { microsToUsd } from "../../limits/money.ts";
import { iso } from "../time.ts";

/** Each group's field in a usage row: the same names as in a log entry and in UsageRowView. */
export const GROUP_FIELD: Record<UsageGroup, "proxy_key_id" | "provider_key_id" | "model" | "day" | "team_id"> = {
  proxy_key: "proxy_key_id",
  provider_key: "provider_key_id",
  model: "model",
  day: "day",
  team: "team_id",
};

export function usageBody(group: UsageGroup, rows: UsageRow[]) {
  return {
    data: rows.map((r) => ({
      [GROUP_FIELD[group]]: r.group,
      requests: r.requests,
      errors: r.errors,
      input_tokens: r.inputTokens,
      output_tokens: r.outputTokens,
      cached_tokens: r.cachedTokens,
      cost_usd: microsToUsd(r.costMicros),
      overrun_usd: microsToUsd(r.overrunMicros),
    })),
    next_cursor: null,
  };
}

export function logView(r: RequestLogRow) {
  return {
    id: r.id,
    at: iso(r.at) as string,
    request_id: r.requestId,
    proxy_key_id: r.proxyKeyId,
    provider_key_id: r.providerKeyId,
    provider: r.provider,
    model: r.model,
    method: r.method,
    path: r.path,
    status: r.status,
    streamed: r.streamed,
    input_tokens: r.inputTokens,
    output_tokens: r.outputTokens,
    cached_tokens: r.cachedTokens,
    cost_usd: microsToUsd(r.costMicros),
    latency_ms: r.latencyMs,
    ttfb_ms: r.ttfbMs,
    error_code: r.errorCode,
    count: r.count,
    overrun_usd: microsToUsd(r.overrunMicros),
  };
}

/**
 * A page of `limit` entries from a read of `limit + 1` rows: the cursor is
 * the last id shown when there are more, or where the read stopped early
 * (a filter that matched little among many rows) when it did.
 */
export function logBody(read: LogPage, limit: number) {
  const page = idPageOf(read.rows, limit);
  const resume = read.resumeBelow === undefined ? null : encodeIdCursor(read.resumeBelow);
  return { data: page.rows.map(logView), next_cursor: page.nextCursor ?? resume };
}
