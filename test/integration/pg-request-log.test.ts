/**
 * The request log on PostgreSQL answers what SQLite's answers. The same
 * varied rows go into a SQLite store and, from two writers at once (two
 * instances' pools), into PostgreSQL; then usage for every grouping and
 * window, the rollups and hours' id ranges, and log pages for every filter
 * are compared, and retention prunes in batches from two instances at once
 * without touching the rollups. PostgreSQL's database sorts text
 * linguistically (ICU en-US), so an answer in its order instead of SQLite's
 * bytewise one shows.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres, { type Sql } from "postgres";
import { openDatabase, type OpenedDatabase } from "../../src/db/open.ts";
import { openPostgres } from "../../src/db/pg/connect.ts";
import { queryPgLogPage } from "../../src/db/pg/log-page.ts";
import { migratePostgres } from "../../src/db/pg/migrate.ts";
import { createPgRequestLog } from "../../src/db/pg/request-log.ts";
import { HOUR, LOG_DELETE_BATCH_ROWS, ROLLUP_GRAINS, ROLLUP_SPANS, rowFromValues, type LogRowValues } from "../../src/db/request-log-sql.ts";
import { createSqliteStore } from "../../src/db/sqlite-store.ts";
import { USAGE_GROUPS, type IdPageQuery, type LogPage, type RequestLogFilter, type RequestLogRow, type Store } from "../../src/db/store.ts";
import { detectRuntime } from "../../src/runtime/index.ts";
import { databaseUrl, dropDatabase, usePostgres } from "../helpers/postgres.ts";
import { SETUP, seedRows, windows } from "../helpers/log-fixtures.ts";
import { prng } from "../helpers/seed-log.ts";

const ALL = seedRows();
const runtime = await detectRuntime();
const server = usePostgres();
const dir = mkdtempSync(join(tmpdir(), "keyward-pg-log-"));
let icuDatabase = "";
let sqlite: OpenedDatabase & { store: Store };
const pools: Sql[] = [];

function pool(max: number): Sql {
  const sql = openPostgres({ url: databaseUrl(server.serverUrl, icuDatabase), max });
  pools.push(sql);
  return sql;
}

beforeAll(async () => {
  icuDatabase = `kw_icu_${randomBytes(6).toString("hex")}`;
  const admin = postgres(server.serverUrl, { max: 1, onnotice: () => undefined });
  await admin.unsafe(`CREATE DATABASE ${icuDatabase} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'`);
  await admin.end();
  const reader = pool(4);
  await migratePostgres(reader);
  const opened = openDatabase(runtime, dir);
  sqlite = { ...opened, store: createSqliteStore(opened.db, () => opened.client.close()) };
  for (const [text, params] of SETUP) {
    sqlite.client.prepare(text).run(...params);
    let n = 0;
    await reader.unsafe(
      text.replace(/\?/g, () => `$${++n}`),
      params.map((p) => (p instanceof Uint8Array ? Buffer.from(p) : p)),
    );
  }

  // Two instances write interleaved blocks of the rows at once, in batches of every size, some out of time order.
  const halves: [LogRowValues[], LogRowValues[]] = [[], []];
  ALL.forEach((row, i) => halves[(i >> 5) % 2]?.push(row));
  await Promise.all(
    halves.map(async (rows, w) => {
      const log = createPgRequestLog(pool(2));
      const random = prng(100 + w);
      for (let i = 0; i < rows.length;) {
        const batch = rows.slice(i, i + 1 + Math.floor(random() * 250)).map(rowFromValues);
        if (random() < 0.2) batch.reverse();
        await log.appendMany(batch);
        i += batch.length;
      }
    }),
  );

  // SQLite gets the same rows in the order PostgreSQL gave them ids, so both list them in the same order.
  const order = (await reader.unsafe<{ request_id: string }[]>("SELECT request_id FROM request_log ORDER BY id")).map((r) => r.request_id);
  const byRequestId = new Map(ALL.map((row) => [row[1], row]));
  for (let i = 0; i < order.length; i += 500) {
    const batch = order.slice(i, i + 500).map((id) => rowFromValues(byRequestId.get(id) as LogRowValues));
    sqlite.store.transaction((tx) => tx.requestLog.appendMany(batch));
  }
}, 30_000);

afterAll(async () => {
  for (const sql of pools.splice(0)) await sql.end();
  sqlite?.store.close();
  rmSync(dir, { recursive: true, force: true });
  if (icuDatabase) await dropDatabase(server.serverUrl, icuDatabase);
});

const reader = () => pools[0] as Sql;
/** Ids differ between the two databases; every other field must not. */
const withoutId = (row: RequestLogRow): RequestLogRow => ({ ...row, id: 0 });

test("every row arrives once, whole, in both", async () => {
  const pgRows = await createPgRequestLog(reader()).page({}, { limit: 10_000 });
  const sqliteRows = sqlite.store.requestLog.page({}, { limit: 10_000 });
  expect(pgRows.rows.length).toBe(ALL.length);
  expect(pgRows.rows.map(withoutId)).toEqual(sqliteRows.rows.map(withoutId));
  // The two writers' batches interleave in id order: they did write at once.
  const writers = pgRows.rows.map((r) => (Number(r.requestId.slice(4)) >> 5) % 2);
  expect(writers.filter((w, i) => i > 0 && w !== writers[i - 1]).length).toBeGreaterThan(10);
});

test("the rollups and hours' id ranges equal a full scan of the rows, and SQLite's rollups", async () => {
  const sql = reader();
  const order = `ORDER BY grain, span, start, proxy_key_id COLLATE "C", provider_key_id COLLATE "C", model COLLATE "C"`;
  const columns =
    "grain, span, start, proxy_key_id, provider_key_id, model, requests, errors, input_tokens, output_tokens, cached_tokens, cost_micros, overrun_micros";
  const rolled: unknown[][] = [...(await sql.unsafe(`SELECT ${columns} FROM usage_rollups ${order}`).values())];
  // Which ids each grain is per, restated here as the oracle; the measures summed as the writers sum them.
  const per: Record<number, string[]> = {
    [ROLLUP_GRAINS.full]: ["proxy_key_id", "provider_key_id", "model"],
    [ROLLUP_GRAINS.proxyKey]: ["proxy_key_id"],
    [ROLLUP_GRAINS.providerKey]: ["provider_key_id"],
    [ROLLUP_GRAINS.model]: ["model"],
    [ROLLUP_GRAINS.all]: [],
  };
  const measures = [
    "count",
    "CASE WHEN error_code IS NULL THEN 0 ELSE count END",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cost_micros",
    "overrun_micros",
  ];
  const scans = Object.entries(ROLLUP_SPANS).flatMap(([grain, spans]) =>
    spans.map((span) => {
      const ids = ["proxy_key_id", "provider_key_id", "model"].map((c) => (per[Number(grain)]?.includes(c) ? `coalesce(${c}, '')` : "''"));
      return `SELECT ${grain}::int8, ${span}::int8, at - at % ${span}, ${ids.join(", ")}, ${measures.map((m) => `sum(${m})::int8`).join(", ")}
        FROM request_log GROUP BY 3, 4, 5, 6`;
    }),
  );
  const scanned = await sql.unsafe(`SELECT * FROM (${scans.join(" UNION ALL ")}) AS s (${columns}) ${order}`).values();
  expect(rolled.length).toBeGreaterThan(1_000);
  expect(rolled).toEqual(scanned);
  expect(rolled).toEqual(
    sqlite.client.prepare(`SELECT ${columns} FROM usage_rollups ORDER BY grain, span, start, proxy_key_id, provider_key_id, model`).values(),
  );

  const hours = await sql.unsafe("SELECT hour, first_id, last_id FROM request_log_hours ORDER BY hour").values();
  const hoursScanned = await sql.unsafe(`SELECT at - at % ${HOUR}, min(id), max(id) FROM request_log GROUP BY 1 ORDER BY 1`).values();
  expect(hours.length).toBeGreaterThan(400);
  expect(hours).toEqual(hoursScanned);
});

test("usage equals SQLite's for every grouping and window", async () => {
  const log = createPgRequestLog(reader());
  let compared = 0;
  for (const window of windows(3)) {
    for (const group of USAGE_GROUPS) {
      const expected = sqlite.store.requestLog.usage(group, window);
      expect({ group, window, rows: await log.usage(group, window) }).toEqual({ group, window, rows: expected });
      compared += expected.length;
    }
  }
  expect(compared).toBeGreaterThan(500);
  // The groups the linguistic order would have put elsewhere were there.
  const teams = sqlite.store.requestLog.usage("team", {}).map((r) => r.group);
  expect(teams).toEqual([null, "tB", "ta"]);
  expect(sqlite.store.requestLog.usage("model", {}).map((r) => r.group)).toEqual([null, "Claude-3", "amazon-nova", "gpt-4o", "gpt-4o-mini", "o3"]);
});

describe("log pages list SQLite's rows in SQLite's order", () => {
  const filters: RequestLogFilter[] = [
    {},
    { proxyKeyId: "kC" },
    { providerKeyId: "pv2" },
    { model: "o3" },
    { status: 429 },
    { status: 418 },
    { proxyKeyId: "kA", model: "gpt-4o", status: 200 },
    { from: Date.UTC(2026, 0, 10, 4, 5), to: Date.UTC(2026, 0, 12, 9) },
    { from: Date.UTC(2026, 0, 20) },
    { to: Date.UTC(2026, 0, 6, 12, 30) },
    { proxyKeyId: "kE", status: 502, from: Date.UTC(2026, 0, 5), to: Date.UTC(2026, 0, 18, 1, 2, 3) },
    { proxyKeyId: "nope" },
    { from: Date.UTC(2025, 0, 1), to: Date.UTC(2025, 1, 1) },
  ];

  /** Follows the pages as the route does: `resumeBelow` when a read stopped early, else the last row shown. */
  async function paged(read: (query: IdPageQuery) => LogPage | Promise<LogPage>, limit: number) {
    const rows: RequestLogRow[] = [];
    let beforeId: number | undefined;
    let short = 0;
    for (;;) {
      const page = await read({ limit: limit + 1, beforeId });
      const shown = page.rows.slice(0, limit);
      rows.push(...shown.map(withoutId));
      if (page.rows.length > limit) beforeId = shown[shown.length - 1]?.id;
      else if (page.resumeBelow !== undefined) [short, beforeId] = [short + 1, page.resumeBelow];
      else return { rows, short };
    }
  }

  test("whole pages, through the cursor", async () => {
    const log = createPgRequestLog(reader());
    let listed = 0;
    for (const filter of filters) {
      const expected = await paged((query) => sqlite.store.requestLog.page(filter, query), 9);
      const got = await paged((query) => log.page(filter, query), 9);
      expect({ filter, rows: got.rows, short: got.short }).toEqual({ filter, rows: expected.rows, short: 0 });
      listed += got.rows.length;
    }
    expect(listed).toBeGreaterThan(ALL.length);
  });

  test("stopping after every step: shorter pages, the same rows in the same order", async () => {
    let short = 0;
    for (const filter of filters) {
      const expected = await paged((query) => sqlite.store.requestLog.page(filter, query), 9);
      const got = await paged((query) => queryPgLogPage(reader(), filter, query, { chunkIds: 150, budgetMs: 0 }), 9);
      expect({ filter, rows: got.rows }).toEqual({ filter, rows: expected.rows });
      short += got.short;
    }
    expect(short).toBeGreaterThan(10);
  });
});

test("two instances prune in batches at once; the rollups and hour-aligned usage stay", async () => {
  const sql = reader();
  const cutoff = Date.UTC(2026, 0, 15, 6, 30);
  const onTheHour = (t: number | undefined) => (t === undefined ? undefined : t - (t % HOUR));
  const hourly = windows(4).map((w) => ({ from: onTheHour(w.from), to: onTheHour(w.to) }));
  const log = createPgRequestLog(sql);
  const usage = () => Promise.all(hourly.flatMap((window) => USAGE_GROUPS.map((group) => log.usage(group, window))));
  const rollups = () => sql.unsafe("SELECT * FROM usage_rollups ORDER BY grain, span, start, proxy_key_id, provider_key_id, model").values();
  const [usageBefore, rollupsBefore] = [await usage(), await rollups()];
  const [{ old }] = await sql.unsafe<[{ old: number }]>("SELECT count(*) AS old FROM request_log WHERE at < $1", [cutoff]);
  expect(old).toBeGreaterThan(4 * LOG_DELETE_BATCH_ROWS);

  const batches = await Promise.all(
    [pool(1), pool(1)].map(async (own) => {
      const pruner = createPgRequestLog(own);
      const removed: number[] = [];
      for (let n = LOG_DELETE_BATCH_ROWS; n === LOG_DELETE_BATCH_ROWS;) removed.push((n = await pruner.pruneBatch(cutoff)));
      return removed;
    }),
  );
  const all = batches.flat();
  expect(all.reduce((a, b) => a + b, 0)).toBe(old);
  expect(Math.max(...all)).toBe(LOG_DELETE_BATCH_ROWS);
  expect((await sql.unsafe("SELECT count(*) AS n FROM request_log WHERE at < $1", [cutoff]))[0]?.n).toBe(0);
  expect((await sql.unsafe("SELECT count(*) AS n FROM request_log"))[0]?.n).toBe(ALL.length - old);
  expect(await rollups()).toEqual(rollupsBefore);
  expect(await usage()).toEqual(usageBefore);
  // Hours whose rows are all gone lose their id range; the hour the cutoff falls in keeps it.
  expect((await sql.unsafe("SELECT min(hour) AS h FROM request_log_hours"))[0]?.h).toBe(cutoff - (cutoff % HOUR));
});
