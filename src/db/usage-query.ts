/**
 * GET /api/usage from the rollups (`usage_rollups`): a window is tiled with
 * the fewest whole buckets (eight days, then days, then hours), and only the
 * parts of hours at its two ends are summed from request-log rows. Exact, as
 * long as those rows are still there: the route refuses sub-hour edges older
 * than the log's retention.
 */
import type { SqliteClient } from "../runtime/types.ts";
import { HOUR, ROLLUP_GRAINS, ROLLUP_SPANS, type RollupGrain } from "./request-log-sql.ts";
import type { UsageGroup, UsageRow } from "./store.ts";

/** Milliseconds; `from` inclusive, `to` exclusive; either may be absent (unbounded). */
export interface UsageWindow {
  from?: number;
  to?: number;
}

/** Rollup buckets of one span whose start lies in [from, to). */
export interface BucketRange {
  span: number;
  from: number;
  to: number;
}

/** Request-log rows whose `at` lies in [from, to): less than an hour at either end of a window. */
export interface RawRange {
  from: number;
  to: number;
}

export interface UsagePlan {
  buckets: BucketRange[];
  raw: RawRange[];
}

const floorTo = (t: number, span: number) => (Number.isFinite(t) ? t - (((t % span) + span) % span) : t);
const ceilTo = (t: number, span: number) => (Number.isFinite(t) ? -floorTo(-t, span) : t);

/** Tiles [lo, hi) (multiples of the finest span, or infinite) with whole buckets, coarsest first. */
function tile(lo: number, hi: number, spans: readonly number[], out: BucketRange[]): void {
  if (lo >= hi) return;
  const [span, ...finer] = spans;
  if (span === undefined) throw new Error(`Cannot tile ${lo}..${hi}: not aligned to the finest span`);
  const first = ceilTo(lo, span);
  const last = floorTo(hi, span);
  if (first >= last) return tile(lo, hi, finer, out);
  out.push({ span, from: first, to: last });
  tile(lo, first, finer, out);
  tile(last, hi, finer, out);
}

/**
 * Which buckets and rows a window reads. `spans` are those whose buckets may
 * be summed together (coarsest first): a day's total cannot come from an
 * eight-day bucket.
 */
export function planUsage(window: UsageWindow, spans: readonly number[]): UsagePlan {
  const a = window.from ?? -Infinity;
  const b = window.to ?? Infinity;
  if (!(a < b)) return { buckets: [], raw: [] };
  const lo = ceilTo(a, HOUR);
  const hi = floorTo(b, HOUR);
  // Within an hour, or across parts of two: rows only (both ends are finite here).
  if (lo >= hi) return { buckets: [], raw: [{ from: a, to: b }] };
  const raw: RawRange[] = [];
  if (a < lo) raw.push({ from: a, to: lo });
  if (hi < b) raw.push({ from: hi, to: b });
  const buckets: BucketRange[] = [];
  tile(lo, hi, spans, buckets);
  return { buckets, raw };
}

interface GroupSql {
  grain: RollupGrain;
  /** The group's value in a rollup row and in a log row. */
  rollup: string;
  row: string;
  /**
   * The group each value above belongs to now (`?` is the value): the sums
   * per value are regrouped by it after summing, one lookup per value.
   */
  via?: string;
}

const GROUPS: Record<UsageGroup, GroupSql> = {
  proxy_key: { grain: ROLLUP_GRAINS.proxyKey, rollup: "nullif(proxy_key_id, '')", row: "proxy_key_id" },
  provider_key: { grain: ROLLUP_GRAINS.providerKey, rollup: "nullif(provider_key_id, '')", row: "provider_key_id" },
  model: { grain: ROLLUP_GRAINS.model, rollup: "nullif(model, '')", row: "model" },
  day: { grain: ROLLUP_GRAINS.all, rollup: "strftime('%Y-%m-%d', start / 1000, 'unixepoch')", row: "strftime('%Y-%m-%d', at / 1000, 'unixepoch')" },
  // By the key's current team: rows carry no team, and a key moved between teams counts toward its
  // current one for all its history. Keys without a team (or deleted) sum under null.
  team: {
    grain: ROLLUP_GRAINS.proxyKey,
    rollup: "nullif(proxy_key_id, '')",
    row: "proxy_key_id",
    via: "(SELECT team_id FROM proxy_keys WHERE id = per_value.g)",
  },
};

/** The rollup grain a grouping reads (PostgreSQL's queries read the same ones). */
export const usageGrain = (group: UsageGroup): RollupGrain => GROUPS[group].grain;

/** The spans a grouping's grain is kept in, coarsest first. */
export const spansOf = (group: UsageGroup): number[] => [...ROLLUP_SPANS[GROUPS[group].grain]].sort((x, y) => y - x);

/** Integers for unbounded ends, which both backends' int8 columns compare with. */
export const bound = (t: number): number => (t === -Infinity ? Number.MIN_SAFE_INTEGER : t === Infinity ? Number.MAX_SAFE_INTEGER : t);

/** One statement: the buckets and rows the plan names, summed per group, ordered by group. */
export function usageSql(group: UsageGroup, plan: UsagePlan): { sql: string; params: number[] } {
  const g = GROUPS[group];
  const parts: string[] = [];
  const params: number[] = [];
  for (const range of plan.buckets) {
    parts.push(
      `SELECT ${g.rollup} AS g, requests, errors, input_tokens, output_tokens, cached_tokens, cost_micros, overrun_micros ` +
        "FROM usage_rollups WHERE grain = ? AND span = ? AND start >= ? AND start < ?",
    );
    params.push(g.grain, range.span, bound(range.from), bound(range.to));
  }
  for (const range of plan.raw) {
    parts.push(
      `SELECT ${g.row} AS g, count AS requests, iif(error_code IS NULL, 0, count) AS errors, input_tokens, output_tokens, cached_tokens, cost_micros, overrun_micros ` +
        "FROM request_log WHERE at >= ? AND at < ?",
    );
    params.push(range.from, range.to);
  }
  const sums = "sum(requests), sum(errors), sum(input_tokens), sum(output_tokens), sum(cached_tokens), sum(cost_micros), sum(overrun_micros)";
  const byValue = `SELECT g, ${sums} FROM (${parts.join(" UNION ALL ")}) GROUP BY g`;
  if (g.via === undefined) return { sql: `${byValue} ORDER BY g`, params };
  const named =
    "SELECT g, sum(requests) AS requests, sum(errors) AS errors, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, " +
    `sum(cached_tokens) AS cached_tokens, sum(cost_micros) AS cost_micros, sum(overrun_micros) AS overrun_micros FROM (${parts.join(" UNION ALL ")}) GROUP BY g`;
  return { sql: `SELECT ${g.via} AS grouped, ${sums} FROM (${named}) AS per_value GROUP BY grouped ORDER BY grouped`, params };
}

type UsageValues = [string | null, number, number, number, number, number, number, number];

export function queryUsage(client: SqliteClient, group: UsageGroup, window: UsageWindow): UsageRow[] {
  const plan = planUsage(window, spansOf(group));
  if (plan.buckets.length === 0 && plan.raw.length === 0) return [];
  const { sql, params } = usageSql(group, plan);
  return (client.prepare(sql).values(...params) as UsageValues[]).map((v) => ({
    group: v[0],
    requests: v[1],
    errors: v[2],
    inputTokens: v[3],
    outputTokens: v[4],
    cachedTokens: v[5],
    costMicros: v[6],
    overrunMicros: v[7],
  }));
}
