import { Elysia, t, type Static } from "elysia";
import { decodeIdCursor, idPageOf } from "../../db/cursor.ts";
import { USAGE_GROUPS, type RequestLogFilter, type RequestLogRow, type Store, type UsageGroup } from "../../db/store.ts";
import { microsToUsd } from "../../limits/money.ts";
import type { RequestLog } from "../../usage/request-log.ts";
import { adminAuth, type AdminAuthDeps } from "../auth.ts";
import { ApiError, errorResponses } from "../errors.ts";
import { iso, noCursorWritten, PageQuery, pageModel, readCursor } from "../pagination.ts";

const TimeRange = {
  from: t.Optional(t.String({ format: "date-time", description: "Inclusive start (ISO 8601)", examples: ["2026-11-01T00:00:00Z"] })),
  to: t.Optional(t.String({ format: "date-time", description: "Exclusive end (ISO 8601)", examples: ["2026-12-01T00:00:00Z"] })),
};

function parseTime(value: string | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  const at = Date.parse(value);
  if (Number.isNaN(at)) throw new ApiError({ code: "validation_failed", message: `Invalid query parameter ${field}: not an ISO 8601 date-time`, field });
  return at;
}

/** Each group's field in a usage row: the same names as in a log entry and in UsageRowView. */
const GROUP_FIELD: Record<UsageGroup, "proxy_key_id" | "provider_key_id" | "model" | "day"> = {
  proxy_key: "proxy_key_id",
  provider_key: "provider_key_id",
  model: "model",
  day: "day",
};

const UsageRowView = t.Object(
  {
    proxy_key_id: t.Optional(t.Union([t.String(), t.Null()])),
    provider_key_id: t.Optional(t.Union([t.String(), t.Null()])),
    model: t.Optional(t.Union([t.String(), t.Null()])),
    day: t.Optional(t.String({ description: "UTC date, YYYY-MM-DD" })),
    requests: t.Integer({ description: "Requests, counting each folded refusal (a log entry's count)", examples: [1520] }),
    errors: t.Integer({
      description: "Of those, requests with an error_code: refused by keyward (limits, bad bodies), failed upstream, or left by the client",
      examples: [500],
    }),
    input_tokens: t.Integer(),
    output_tokens: t.Integer(),
    cached_tokens: t.Integer(),
    cost_usd: t.Number(),
    overrun_usd: t.Number({
      description: "Part of cost_usd that upstreams billed beyond the requests' reservations (a cap ignored); charged all the same",
      examples: [0.0042],
    }),
  },
  { title: "UsageRow" },
);

const LogView = t.Object(
  {
    id: t.Integer(),
    at: t.String({ format: "date-time" }),
    request_id: t.String(),
    proxy_key_id: t.Union([t.String(), t.Null()]),
    provider_key_id: t.Union([t.String(), t.Null()]),
    provider: t.Union([t.String(), t.Null()]),
    model: t.Union([t.String(), t.Null()]),
    method: t.String(),
    path: t.String(),
    status: t.Integer(),
    streamed: t.Boolean(),
    input_tokens: t.Integer(),
    output_tokens: t.Integer(),
    cached_tokens: t.Integer(),
    cost_usd: t.Number(),
    latency_ms: t.Integer(),
    ttfb_ms: t.Union([t.Integer(), t.Null()]),
    error_code: t.Union([t.String(), t.Null()]),
    count: t.Integer({
      minimum: 1,
      description:
        "Requests this entry stands for. Refusals by keyward (limits, bad bodies) are folded into one entry per proxy key, error_code and minute: at is the minute's start, the other fields are the first refused request's",
      examples: [1, 500],
    }),
    overrun_usd: t.Number({
      description: "Part of cost_usd the upstream billed beyond the request's reservation (it ignored a cap); charged all the same",
      examples: [0, 0.0042],
    }),
  },
  { title: "RequestLogEntry" },
);

function logView(r: RequestLogRow) {
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

const SummaryQuery = t.Object({
  // A union of literals, not t.UnionEnum: Elysia 1.4 fills an absent UnionEnum query
  // value with its first member, so a forgotten group_by became "proxy_key" silently.
  group_by: t.Union(
    USAGE_GROUPS.map((g) => t.Literal(g)),
    { description: "Group rows by proxy key, provider key, model or UTC day" },
  ),
  ...TimeRange,
  cursor: PageQuery.cursor,
});

const LogQuery = t.Object({
  proxy_key_id: t.Optional(t.String({ maxLength: 64 })),
  provider_key_id: t.Optional(t.String({ maxLength: 64 })),
  model: t.Optional(t.String({ maxLength: 200 })),
  status: t.Optional(t.Integer({ minimum: 100, maximum: 599 })),
  ...TimeRange,
  ...PageQuery,
});

/** Requests, tokens and cost per group, in one page. */
function usageSummary(store: Store, query: Static<typeof SummaryQuery>) {
  readCursor(query.cursor, noCursorWritten);
  const filter: RequestLogFilter = { from: parseTime(query.from, "from"), to: parseTime(query.to, "to") };
  const group = query.group_by;
  const rows = store.requestLog.usage(group, filter);
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

/** One page of the request log, newest first, with the filters asked for. */
function logPage(store: Store, query: Static<typeof LogQuery>) {
  const limit = query.limit ?? 50;
  const beforeId = readCursor(query.cursor, decodeIdCursor);
  const filter: RequestLogFilter = {
    proxyKeyId: query.proxy_key_id,
    providerKeyId: query.provider_key_id,
    model: query.model,
    status: query.status,
    from: parseTime(query.from, "from"),
    to: parseTime(query.to, "to"),
  };
  const page = idPageOf(store.requestLog.page(filter, { limit: limit + 1, beforeId }), limit);
  return { data: page.rows.map(logView), next_cursor: page.nextCursor };
}

/**
 * Usage summaries and the request log. Both flush the log queue first, so a
 * request that finished before the call is always counted.
 */
export function usageRoutes(auth: AdminAuthDeps & { store: Store }, log: RequestLog) {
  return new Elysia({ name: "admin.usage", detail: { tags: ["Usage"] } })
    .use(adminAuth(auth))
    .get(
      "/usage",
      async ({ query }) => {
        await log.flush();
        return usageSummary(auth.store, query);
      },
      {
        scope: "read",
        query: SummaryQuery,
        response: {
          200: t.Object({ data: t.Array(UsageRowView), next_cursor: t.Null() }, { title: "UsageSummary" }),
          ...errorResponses(401, 403, 422),
        },
        detail: {
          summary: "Summarise usage",
          description: "Requests (refusals included), errors, tokens, cost and overrun from the request log.",
        },
      },
    )
    .get(
      "/logs",
      async ({ query }) => {
        await log.flush();
        return logPage(auth.store, query);
      },
      {
        scope: "read",
        query: LogQuery,
        response: { 200: pageModel(LogView, "RequestLogPage"), ...errorResponses(401, 403, 422) },
        detail: {
          summary: "List proxied requests",
          description:
            "One entry per request, newest first: ids, model, status, tokens, cost, latency. Refusals by keyward are folded into one entry per proxy key, error code and minute, with `count` saying how many; entries are listed in the order written, and a folded entry is written when its minute ends (or at the flush each read of the log makes first). Never bodies or keys.",
        },
      },
    );
}
