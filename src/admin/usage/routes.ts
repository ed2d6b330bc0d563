import { Elysia, t } from "elysia";
import type { Clock } from "../../clock.ts";
import { decodeIdCursor } from "../../db/cursor.ts";
import { HOUR } from "../../db/request-log-sql.ts";
import { USAGE_GROUPS, type RequestLogFilter, type Store, type TimeWindow } from "../../db/store.ts";
import type { RequestLog } from "../../usage/request-log.ts";
import { adminAuth, type AdminAuthDeps } from "../auth.ts";
import { ApiError, errorResponses } from "../errors.ts";
import { noCursorWritten, PageQuery, pageModel, readCursor } from "../pagination.ts";
import { jsonResponse, type AdminReads } from "../reads.ts";

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

const DAY = 86_400_000;
/** The widest window when the log is kept forever (`--log-retention-days 0`). */
const MAX_WINDOW_DAYS_UNRETAINED = 366;
/** Set when the server chose `from` (it was absent): the start of the window it answered for. */
export const WINDOW_FROM_HEADER = "x-keyward-window-from";

export interface WindowRules {
  clock: Clock;
  /** `--log-retention-days`: the widest window, and how far back log rows (and so sub-hour window ends) reach. */
  retentionDays: number;
}

/**
 * The window a usage or log query reads, at most the retention wide, so no
 * query reads without bound: a wider window asked for is a 422 naming
 * `from`; an absent `from` becomes the retention before `to` (or now),
 * rounded up to the hour, and `clamped` says so.
 */
function readWindow(query: { from?: string; to?: string }, rules: WindowRules): { window: TimeWindow; clamped: boolean } {
  const from = parseTime(query.from, "from");
  const to = parseTime(query.to, "to");
  const days = rules.retentionDays > 0 ? rules.retentionDays : MAX_WINDOW_DAYS_UNRETAINED;
  const end = to ?? rules.clock.now();
  if (from === undefined) {
    const start = end - days * DAY;
    return { window: { from: Math.ceil(start / HOUR) * HOUR, to }, clamped: true };
  }
  if (end - from > days * DAY) {
    throw new ApiError({
      code: "validation_failed",
      message: `Invalid query parameter from: the window from ${new Date(from).toISOString()} to ${new Date(end).toISOString()} is longer than ${days} days; ask for at most ${days} days at a time${rules.retentionDays > 0 ? " (--log-retention-days)" : ""}`,
      field: "from",
    });
  }
  return { window: { from, to }, clamped: false };
}

/**
 * Usage is summed from hourly (and coarser) rollups, and the parts of hours
 * at a window's ends from log rows. Older than the retention those rows are
 * gone, so an end there must fall on the hour.
 */
function checkUsageEnds(window: TimeWindow, rules: WindowRules): void {
  if (rules.retentionDays <= 0) return;
  const horizon = rules.clock.now() - rules.retentionDays * DAY;
  for (const field of ["from", "to"] as const) {
    const at = window[field];
    if (at === undefined || at % HOUR === 0) continue;
    const hourStart = at - (at % HOUR);
    if ((field === "from" ? at : hourStart) >= horizon) continue;
    throw new ApiError({
      code: "validation_failed",
      message: `Invalid query parameter ${field}: older than the request log's ${rules.retentionDays} days, usage is kept per hour; give a time on the hour`,
      field,
    });
  }
}

const UsageRowView = t.Object(
  {
    proxy_key_id: t.Optional(t.Union([t.String(), t.Null()])),
    provider_key_id: t.Optional(t.Union([t.String(), t.Null()])),
    model: t.Optional(t.Union([t.String(), t.Null()])),
    day: t.Optional(t.String({ description: "UTC date, YYYY-MM-DD" })),
    team_id: t.Optional(t.Union([t.String(), t.Null()], { description: "The keys' current team (null: keys without one)" })),
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

/**
 * Usage summaries and the request log. Both flush the log queue first, so a
 * request that finished before the call is always counted, then read on the
 * read worker (src/db/reads.ts), off the thread that serves requests.
 */
export function usageRoutes(auth: AdminAuthDeps & WindowRules & { store: Store; reads: AdminReads }, log: RequestLog) {
  const windowOf = (query: { from?: string; to?: string }) => {
    const { window, clamped } = readWindow(query, auth);
    const headers: Record<string, string> = clamped && window.from !== undefined ? { [WINDOW_FROM_HEADER]: new Date(window.from).toISOString() } : {};
    return { window, headers };
  };
  return new Elysia({ name: "admin.usage", detail: { tags: ["Usage"] } })
    .use(adminAuth(auth))
    .get(
      "/usage",
      async ({ query }) => {
        readCursor(query.cursor, noCursorWritten);
        const { window, headers } = windowOf(query);
        checkUsageEnds(window, auth);
        await log.flush();
        // Summed and serialised by the read worker (src/admin/reads.ts); the schema below documents the body.
        return jsonResponse(await auth.reads.read("usage", query.group_by, window), headers);
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
          description: [
            "Requests (refusals included), errors, tokens, cost and overrun, from hourly rollups of the request log that outlive its rows (`--log-retention-days` prunes rows, not usage).",
            "",
            "A window spans at most the retention (90 days by default; 366 when the log is kept forever): wider is a 422. Without `from`, the window starts that long before `to` (or now), on the hour, and the `x-keyward-window-from` header says where. Older than the retention, `from` and `to` must fall on the hour.",
          ].join("\n"),
        },
      },
    )
    .get(
      "/logs",
      async ({ query }) => {
        const limit = query.limit ?? 50;
        const beforeId = readCursor(query.cursor, decodeIdCursor);
        const { window, headers } = windowOf(query);
        const filter: RequestLogFilter = {
          proxyKeyId: query.proxy_key_id,
          providerKeyId: query.provider_key_id,
          model: query.model,
          status: query.status,
          ...window,
        };
        await log.flush();
        return jsonResponse(await auth.reads.read("logs", filter, limit, beforeId), headers);
      },
      {
        scope: "read",
        query: LogQuery,
        response: { 200: pageModel(LogView, "RequestLogPage"), ...errorResponses(401, 403, 422) },
        detail: {
          summary: "List proxied requests",
          description: [
            "One entry per request, newest first: ids, model, status, tokens, cost, latency. Refusals by keyward are folded into one entry per proxy key, error code and minute, with `count` saying how many; entries are listed in the order written, and a folded entry is written when its minute ends (or at the flush each read of the log makes first). Never bodies or keys.",
            "",
            "A window spans at most the retention, as for usage. A page whose filters match little among many entries may stop early: it then has fewer than `limit` entries and a `next_cursor` that continues the search; follow `next_cursor` until it is null to see every entry.",
          ].join("\n"),
        },
      },
    );
}
