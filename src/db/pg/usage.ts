/**
 * GET /api/usage on PostgreSQL: the plan SQLite's query follows
 * (src/db/usage-query.ts: the fewest whole rollup buckets, and request-log
 * rows for the parts of hours at a window's ends), and answers equal to
 * SQLite's row for row, in the same order.
 */
import type { Sql } from "postgres";
import type { TimeWindow, UsageGroup, UsageRow } from "../store.ts";
import { bound, planUsage, spansOf, usageGrain, type UsagePlan } from "../usage-query.ts";

interface GroupSql {
  /** The group's value in a rollup row and in a log row. */
  rollup: string;
  row: string;
  /**
   * The group each value belongs to now (see usage-query.ts): a column of
   * `via.table`, joined on its `id` to the sums per value, one lookup each.
   */
  via?: { table: string; column: string };
}

/** A UTC day as SQLite's `strftime('%Y-%m-%d', t / 1000, 'unixepoch')` writes it (integer division there too). */
const day = (column: string) => `to_char(to_timestamp(${column} / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')`;

const GROUPS: Record<UsageGroup, GroupSql> = {
  proxy_key: { rollup: "nullif(proxy_key_id, '')", row: "proxy_key_id" },
  provider_key: { rollup: "nullif(provider_key_id, '')", row: "provider_key_id" },
  model: { rollup: "nullif(model, '')", row: "model" },
  day: { rollup: day("start"), row: day("at") },
  // The key's current team, as on SQLite: proxy_keys is in the same database as the log.
  team: { rollup: "nullif(proxy_key_id, '')", row: "proxy_key_id", via: { table: "proxy_keys", column: "team_id" } },
};

/**
 * SQLite's order: bytewise (not the database's collation, which may sort
 * `gpt-4o-mini` before `gpt-4o` or ignore case) and NULL first.
 */
const ORDER = `COLLATE "C" NULLS FIRST`;

const MEASURES = ["requests", "errors", "input_tokens", "output_tokens", "cached_tokens", "cost_micros", "overrun_micros"] as const;

/** sum() of int8 is numeric, which the driver reads as text: cast back, the values stay far below 2^63. */
const sums = (from: string) => MEASURES.map((m) => `sum(${from}.${m})::int8 AS ${m}`).join(", ");

/** One statement: the buckets and rows the plan names, summed per group, ordered by group. */
export function pgUsageSql(group: UsageGroup, plan: UsagePlan): { sql: string; params: number[] } {
  const g = GROUPS[group];
  const grain = usageGrain(group);
  const parts: string[] = [];
  const params: number[] = [];
  /** Adds a parameter and gives its placeholder. */
  const p = (value: number) => `$${params.push(value)}`;
  for (const range of plan.buckets) {
    parts.push(
      `SELECT ${g.rollup} AS g, requests, errors, input_tokens, output_tokens, cached_tokens, cost_micros, overrun_micros FROM usage_rollups ` +
        `WHERE grain = ${p(grain)} AND span = ${p(range.span)} AND start >= ${p(bound(range.from))} AND start < ${p(bound(range.to))}`,
    );
  }
  for (const range of plan.raw) {
    parts.push(
      `SELECT ${g.row} AS g, count AS requests, CASE WHEN error_code IS NULL THEN 0 ELSE count END AS errors, ` +
        `input_tokens, output_tokens, cached_tokens, cost_micros, overrun_micros FROM request_log WHERE at >= ${p(range.from)} AND at < ${p(range.to)}`,
    );
  }
  const byValue = `SELECT parts.g, ${sums("parts")} FROM (${parts.join(" UNION ALL ")}) AS parts GROUP BY parts.g`;
  if (g.via === undefined) return { sql: `${byValue} ORDER BY parts.g ${ORDER}`, params };
  // A value with no row there (a deleted key) sums under NULL, as on SQLite.
  const grouped = `owner.${g.via.column}`;
  return {
    sql: `SELECT ${grouped} AS g, ${sums("per_value")} FROM (${byValue}) AS per_value LEFT JOIN ${g.via.table} AS owner ON owner.id = per_value.g GROUP BY ${grouped} ORDER BY ${grouped} ${ORDER}`,
    params,
  };
}

interface UsageRecord {
  g: string | null;
  requests: number;
  errors: number;
  input_tokens: number;
  output_tokens: number;
  cached_tokens: number;
  cost_micros: number;
  overrun_micros: number;
}

export async function queryPgUsage(sql: Sql, group: UsageGroup, window: TimeWindow): Promise<UsageRow[]> {
  const plan = planUsage(window, spansOf(group));
  if (plan.buckets.length === 0 && plan.raw.length === 0) return [];
  const query = pgUsageSql(group, plan);
  const records = await sql.unsafe<UsageRecord[]>(query.sql, query.params);
  return records.map((r) => ({
    group: r.g,
    requests: r.requests,
    errors: r.errors,
    inputTokens: r.input_tokens,
    outputTokens: r.output_tokens,
    cachedTokens: r.cached_tokens,
    costMicros: r.cost_micros,
    overrunMicros: r.overrun_micros,
  }));
}
