/**
 * Usage rollups and the request log's reads, against real SQLite files: the
 * rollups both writers keep (the serving thread's and the log worker's) give
 * exactly what a full scan of the rows gives, for every grouping and for
 * windows that fall on and off the buckets' edges; the migration builds them
 * for rows logged before it; retention prunes rows in batches and keeps the
 * rollups; a log page read in steps lists exactly the rows a plain query
 * lists, in the same order.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { embeddedMigrations, JOURNAL } from "../../src/db/migrations.ts";
import { openDatabase } from "../../src/db/open.ts";
import { queryLogPage } from "../../src/db/log-query.ts";
import { DAY, HOUR, LOG_DELETE_BATCH_ROWS, rowFromValues, type LogRowValues } from "../../src/db/request-log-sql.ts";
import { createSqliteStore } from "../../src/db/sqlite-store.ts";
import { USAGE_GROUPS, type RequestLogFilter, type Store, type TimeWindow, type UsageGroup, type UsageRow } from "../../src/db/store.ts";
import { detectRuntime, type SqliteClient } from "../../src/runtime/index.ts";
import { silentLogger } from "../../src/telemetry/logger.ts";
import { RequestLogWriter } from "../../src/usage/request-log.ts";
import { ThreadedRequestLog } from "../../src/usage/threaded-request-log.ts";
import { prng, seedRow, type SeedShape } from "../helpers/seed-log.ts";

const runtime = await detectRuntime();
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function open() {
  const dir = mkdtempSync(join(tmpdir(), "keyward-rollups-"));
  dirs.push(dir);
  const opened = openDatabase(runtime, dir);
  return { ...opened, store: createSqliteStore(opened.db, () => opened.client.close()) };
}

// Twenty days that start and end off every bucket's edge, with a fifth of the rows on an hour's edge.
const T0 = Date.UTC(2026, 0, 3, 7, 23, 41, 5);
const T1 = T0 + 20 * DAY + 5 * HOUR + 17_003;
const SHAPE: SeedShape = {
  rows: 3_000,
  from: T0,
  to: T1,
  proxyKeyIds: ["kA", "kB", "kC", "kD", "kE"],
  providerKeyOf: (k) => (k < 3 ? "pv1" : "pv2"),
  models: ["gpt-4o", "gpt-4o-mini", "o3", null],
};

/** The rows, with some on hour edges and some without a proxy key (logged before any key was known). */
function rows(seed: number, count = SHAPE.rows): LogRowValues[] {
  const random = prng(seed);
  return Array.from({ length: count }, (_, i) => {
    const row = seedRow({ ...SHAPE, rows: count }, i, random);
    if (i % 5 === 0) row[0] -= row[0] % HOUR;
    if (i % 97 === 0) row[2] = null;
    return row;
  });
}

/** GET /api/usage's answer as it was before rollups: one scan of the rows. */
function fullScan(client: SqliteClient, group: UsageGroup, window: TimeWindow): UsageRow[] {
  const column = {
    proxy_key: "proxy_key_id",
    provider_key: "provider_key_id",
    model: "model",
    day: "strftime('%Y-%m-%d', at / 1000, 'unixepoch')",
    team: "(SELECT team_id FROM proxy_keys WHERE id = request_log.proxy_key_id)",
  }[group];
  const values = client
    .prepare(
      `SELECT ${column} AS g, sum(count), sum(iif(error_code IS NULL, 0, count)), sum(input_tokens), sum(output_tokens), sum(cached_tokens), sum(cost_micros), sum(overrun_micros)
       FROM request_log WHERE at >= ? AND at < ? GROUP BY g ORDER BY g`,
    )
    .values(window.from ?? Number.MIN_SAFE_INTEGER, window.to ?? Number.MAX_SAFE_INTEGER) as [string | null, ...number[]][];
  return values.map((v) => ({
    group: v[0],
    requests: v[1] as number,
    errors: v[2] as number,
    inputTokens: v[3] as number,
    outputTokens: v[4] as number,
    cachedTokens: v[5] as number,
    costMicros: v[6] as number,
    overrunMicros: v[7] as number,
  }));
}

/** Windows on and off the edges of hours, days and eight-day buckets, open at either end, tiny, empty and reversed. */
function windows(seed: number): TimeWindow[] {
  const random = prng(seed);
  const at = () => Math.floor(T0 - DAY + random() * (T1 - T0 + 2 * DAY));
  const fixed: TimeWindow[] = [
    {},
    { from: T0 },
    { to: T1 },
    { from: Date.UTC(2026, 0, 5), to: Date.UTC(2026, 0, 19) },
    { from: Date.UTC(2026, 0, 4, 13), to: Date.UTC(2026, 0, 20, 2) },
    { from: 20_456 * 8 * DAY, to: 20_458 * 8 * DAY },
    { from: Date.UTC(2026, 0, 9, 10, 15), to: Date.UTC(2026, 0, 9, 10, 45) },
    { from: Date.UTC(2026, 0, 9, 10, 15), to: Date.UTC(2026, 0, 9, 11, 45) },
    { from: Date.UTC(2026, 0, 9, 10, 15), to: Date.UTC(2026, 0, 9, 12, 45) },
    { from: Date.UTC(2026, 0, 9, 10), to: Date.UTC(2026, 0, 9, 10) },
    { from: Date.UTC(2026, 0, 12), to: Date.UTC(2026, 0, 11) },
    { from: Date.UTC(2027, 0, 1) },
  ];
  const random_: TimeWindow[] = Array.from({ length: 40 }, () => {
    const [a, b] = [at(), at()].sort((x, y) => x - y) as [number, number];
    const shape = random();
    return shape < 0.15 ? { from: a } : shape < 0.3 ? { to: b } : { from: a, to: b };
  });
  return [...fixed, ...random_];
}

function expectExact(client: SqliteClient, store: Store, seed: number): void {
  let compared = 0;
  for (const window of windows(seed)) {
    for (const group of USAGE_GROUPS) {
      const rolled = store.requestLog.usage(group, window);
      expect({ group, window, rows: rolled }).toEqual({ group, window, rows: fullScan(client, group, window) });
      compared += rolled.length;
    }
  }
  // The comparisons were not all of empty answers.
  expect(compared).toBeGreaterThan(1_000);
}

describe("rollups equal a full scan of the rows", () => {
  test("written by the serving thread's writer, in batches of every size", () => {
    const db = open();
    const all = rows(7);
    const random = prng(8);
    for (let i = 0; i < all.length;) {
      const n = 1 + Math.floor(random() * 300);
      const batch = all.slice(i, i + n).map(rowFromValues);
      db.store.relaxedTransaction((tx) => tx.requestLog.appendMany(batch));
      i += n;
    }
    expect(db.client.prepare("SELECT count(*) FROM request_log").values()[0]?.[0]).toBe(all.length);
    expectExact(db.client, db.store, 9);
    // Every grain and span the writers keep has rows.
    expect(db.client.prepare("SELECT count(DISTINCT grain || ' ' || span) FROM usage_rollups").values()[0]?.[0]).toBe(12);
  });

  test("written by the log worker, through the server's request log", async () => {
    const db = open();
    const spend = { drain: () => [], requeue() {}, dirtyAll() {} };
    const options = { flushIntervalMs: 60_000, retentionDays: 0 };
    let fellBack = false;
    const log = new ThreadedRequestLog(spend, { now: () => T1 }, silentLogger, {
      ...options,
      path: db.path,
      busyTimeoutMs: 5_000,
      fallback: () => {
        fellBack = true;
        return new RequestLogWriter(db.store, spend, { now: () => T1 }, silentLogger, options);
      },
    });
    log.start();
    const all = rows(11);
    for (let i = 0; i < all.length; i++) {
      log.append(rowFromValues(all[i] as LogRowValues) as Parameters<typeof log.append>[0]);
      if (i % 450 === 449) await log.flush();
    }
    await log.stop();
    expect(fellBack).toBe(false);
    expect(db.client.prepare("SELECT count(*) FROM request_log").values()[0]?.[0]).toBe(all.length);
    expectExact(db.client, db.store, 12);
  });
});

test("the migration builds the rollups and hour ranges of rows logged before it", () => {
  const dir = mkdtempSync(join(tmpdir(), "keyward-rollups-"));
  dirs.push(dir);
  const at = JOURNAL.findIndex((e) => e.tag === "0005_usage_rollups");
  expect(at).toBeGreaterThan(0);
  // The database as the release before the rollups left it, with rows logged then.
  const previous = runtime.openSqlite(join(dir, "keyward.db"));
  previous.exec("CREATE TABLE __drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at numeric)");
  for (const migration of embeddedMigrations().slice(0, at)) {
    for (const statement of migration.sql) if (statement.trim()) previous.exec(statement);
    previous.prepare("INSERT INTO __drizzle_migrations (hash, created_at) VALUES (?, ?)").run(migration.hash, migration.folderMillis);
  }
  const insert = previous.prepare(
    "INSERT INTO request_log (at, request_id, proxy_key_id, provider_key_id, provider, model, method, path, status, streamed, input_tokens, output_tokens, cached_tokens, cost_micros, latency_ms, ttfb_ms, error_code, count, overrun_micros) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
  );
  const logged = rows(21);
  previous
    .transaction(() => {
      for (const row of logged) insert.run(...row);
    })
    .immediate();
  previous.close();

  const upgraded = openDatabase(runtime, dir);
  const store = createSqliteStore(upgraded.db, () => upgraded.client.close());
  try {
    expect(upgraded.applied).toBeGreaterThanOrEqual(1);
    expectExact(upgraded.client, store, 22);
    // Time-filtered log pages rely on the hour ranges the migration built.
    const window = { from: Date.UTC(2026, 0, 8, 3, 30), to: Date.UTC(2026, 0, 9, 17) };
    const listed = store.requestLog.page(window, { limit: 10_000 }).rows.map((r) => r.id);
    const expected = upgraded.client
      .prepare("SELECT id FROM request_log WHERE at >= ? AND at < ? ORDER BY id DESC")
      .values(window.from, window.to)
      .flat() as number[];
    expect(listed).toEqual(expected);
    expect(listed.length).toBeGreaterThan(100);
  } finally {
    store.close();
  }
});

test("retention prunes rows in batches, keeps the rollups, and gives the freed pages back", () => {
  const db = open();
  const all = rows(31, 12_000);
  for (let i = 0; i < all.length; i += 1_000) db.store.transaction((tx) => tx.requestLog.appendMany(all.slice(i, i + 1_000).map(rowFromValues)));
  const cutoff = Date.UTC(2026, 0, 15, 6, 30);
  const onTheHour = (t: number | undefined) => (t === undefined ? undefined : t - (t % HOUR));
  const hourly = windows(32).map((w) => ({ from: onTheHour(w.from), to: onTheHour(w.to) }));
  const before = hourly.map((window) => USAGE_GROUPS.map((group) => db.store.requestLog.usage(group, window)));
  const old = db.client.prepare("SELECT count(*) FROM request_log WHERE at < ?").values(cutoff)[0]?.[0] as number;
  expect(old).toBeGreaterThan(2 * LOG_DELETE_BATCH_ROWS);

  const batches: number[] = [];
  for (let removed = -1; removed !== 0;) {
    removed = db.store.requestLog.pruneBatch(cutoff);
    batches.push(removed);
  }
  expect(batches.reduce((a, b) => a + b, 0)).toBe(old);
  expect(Math.max(...batches)).toBe(LOG_DELETE_BATCH_ROWS);
  expect(db.client.prepare("SELECT count(*) FROM request_log WHERE at < ?").values(cutoff)[0]?.[0]).toBe(0);
  expect(db.client.prepare("SELECT count(*) FROM request_log").values()[0]?.[0]).toBe(all.length - old);
  // Usage history outlives the rows: every hour-aligned window answers as before.
  expect(hourly.map((window) => USAGE_GROUPS.map((group) => db.store.requestLog.usage(group, window)))).toEqual(before);
  // Hours whose rows are all gone lose their id range; the hour the cutoff falls in keeps it.
  expect(db.client.prepare("SELECT min(hour) FROM request_log_hours").values()[0]?.[0]).toBe(cutoff - (cutoff % HOUR));

  const pages = () => db.client.prepare("PRAGMA page_count").values()[0]?.[0] as number;
  const free = () => db.client.prepare("PRAGMA freelist_count").values()[0]?.[0] as number;
  const [pagesBefore, freeBefore] = [pages(), free()];
  expect(freeBefore).toBeGreaterThan(0);
  while (db.store.vacuumStep());
  expect(free()).toBe(0);
  expect(pages()).toBe(pagesBefore - freeBefore);
});

describe("a log page read in steps lists what a plain query lists", () => {
  const db = open();
  const all = rows(41, 4_000);
  // Written out of time order now and then, as the folded refusals of a minute are.
  for (let i = 0; i < all.length; i += 400) {
    const batch = all.slice(i, i + 400).map(rowFromValues);
    if (i % 1_200 === 0) batch.reverse();
    db.store.transaction((tx) => tx.requestLog.appendMany(batch));
  }

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

  function expected(filter: RequestLogFilter): number[] {
    const where: string[] = [];
    const params: (string | number)[] = [];
    const add = (sql: string, value: string | number | undefined) => {
      if (value === undefined) return;
      where.push(sql);
      params.push(value);
    };
    add("proxy_key_id = ?", filter.proxyKeyId);
    add("provider_key_id = ?", filter.providerKeyId);
    add("model = ?", filter.model);
    add("status = ?", filter.status);
    add("at >= ?", filter.from);
    add("at < ?", filter.to);
    return db.client
      .prepare(`SELECT id FROM request_log ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id DESC`)
      .values(...params)
      .flat() as number[];
  }

  /** Follows the pages as the route does: `resumeBelow` when a read stopped early, else the last row shown. */
  function paged(filter: RequestLogFilter, limit: number, options: Parameters<typeof queryLogPage>[3]): { ids: number[]; short: number } {
    const ids: number[] = [];
    let beforeId: number | undefined;
    let short = 0;
    for (let i = 0; i < 10_000; i++) {
      const page = queryLogPage(db.db, filter, { limit: limit + 1, beforeId }, options);
      const shown = page.rows.slice(0, limit);
      ids.push(...shown.map((r) => r.id));
      if (page.rows.length > limit) beforeId = shown[shown.length - 1]?.id;
      else if (page.resumeBelow !== undefined) {
        short++;
        beforeId = page.resumeBelow;
      } else return { ids, short };
    }
    throw new Error("pages do not end");
  }

  test("with the defaults: whole pages", () => {
    for (const filter of filters) {
      const ids = expected(filter);
      expect({ filter, ids: paged(filter, 7, {}).ids }).toEqual({ filter, ids });
      expect({ filter, short: paged(filter, 7, {}).short }).toEqual({ filter, short: 0 });
    }
    expect(expected({}).length).toBe(all.length);
  });

  test("stopping after every step (no time budget, small steps): shorter pages, the same rows in the same order", () => {
    let shortPages = 0;
    for (const filter of filters) {
      const ids = expected(filter);
      const result = paged(filter, 7, { chunkIds: 150, budgetMs: 0 });
      expect({ filter, ids: result.ids }).toEqual({ filter, ids });
      shortPages += result.short;
    }
    expect(shortPages).toBeGreaterThan(10);
  });
});
