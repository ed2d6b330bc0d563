/**
 * The admin API's long reads through `app.handle`, with the request log
 * seeded straight into the file: usage, log, audit and key pages are
 * answered by the read worker with what the serving thread's store gives; a
 * worker that cannot run hands its reads back, logged; windows are bounded
 * by the retention (a 422 naming the field, or a clamped `from` the answer
 * names); and usage outlives the rows retention prunes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../../src/db/open.ts";
import { PacedReads } from "../../src/admin/paced-reads.ts";
import { ADMIN_READS } from "../../src/admin/reads.ts";
import { ThreadedReads } from "../../src/db/reads.ts";
import { workerUrl } from "../../src/runtime/worker-url.ts";
import { DAY, HOUR, prepareLogWrites, writeLogRows } from "../../src/db/request-log-sql.ts";
import { createSqliteStore } from "../../src/db/sqlite-store.ts";
import { detectRuntime } from "../../src/runtime/index.ts";
import type { Logger } from "../../src/telemetry/logger.ts";
import { WINDOW_FROM_HEADER } from "../../src/admin/usage/routes.ts";
import { createTestApp, TestClock, type TestApp } from "../helpers/app.ts";
import { prng, seedRow, type SeedShape } from "../helpers/seed-log.ts";

const NOW = Date.UTC(2026, 5, 10, 12, 34, 56);
const shape = (from: number, to: number, rows: number): SeedShape => ({
  rows,
  from,
  to,
  proxyKeyIds: ["kA", "kB", "kC"],
  providerKeyOf: (k) => `pv${k % 2}`,
  models: ["gpt-4o", "gpt-4o-mini", null],
});

/** Rows written into the app's own file, as the log writers write them. */
function seed(t: TestApp, s: SeedShape, seedNumber: number): void {
  const random = prng(seedNumber);
  const rows = Array.from({ length: s.rows }, (_, i) => seedRow(s, i, random));
  const opened = openDatabase(runtimeForSeed, t.dataDir);
  try {
    const writes = prepareLogWrites(opened.client);
    opened.client.transaction(() => writeLogRows(writes, rows)).immediate();
  } finally {
    opened.client.close();
  }
}

const runtimeForSeed = await detectRuntime();
const iso = (t: number) => new Date(t).toISOString();

describe("read by the read worker", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ clock: new TestClock(NOW) });
    seed(t, shape(NOW - 80 * DAY, NOW, 5_000), 1);
  });
  afterAll(() => t.cleanup());

  test("usage, logs, audit and key pages answer what the serving thread's store answers", async () => {
    // Paced (src/admin/paced-reads.ts), over the worker's reads.
    expect(t.services.reads).toBeInstanceOf(PacedReads);
    const reads = (t.services.reads as PacedReads<typeof ADMIN_READS>).reads;
    expect(reads).toBeInstanceOf(ThreadedReads);
    const before = (reads as ThreadedReads<typeof ADMIN_READS>).workerReads;

    const from = NOW - 30 * DAY - 17 * 60_000;
    const usage = await t.call("GET", `/api/usage?group_by=model&from=${iso(from)}&to=${iso(NOW - 2 * DAY)}`);
    expect(usage.status).toBe(200);
    const inline = t.store.requestLog.usage("model", { from, to: NOW - 2 * DAY });
    expect(usage.json.data.map((r: { model: string | null; requests: number; input_tokens: number }) => [r.model, r.requests, r.input_tokens])).toEqual(
      inline.map((r) => [r.group, r.requests, r.inputTokens]),
    );
    expect(inline.reduce((n, r) => n + r.requests, 0)).toBeGreaterThan(1_000);

    const logs = await t.call("GET", "/api/logs?limit=20&proxy_key_id=kB&status=200");
    expect(logs.status).toBe(200);
    expect(logs.json.data.map((r: { id: number }) => r.id)).toEqual(
      t.store.requestLog.page({ proxyKeyId: "kB", status: 200, from: NOW - 90 * DAY }, { limit: 20 }).rows.map((r) => r.id),
    );
    expect(logs.json.next_cursor).toBe(String(logs.json.data[19].id));

    await t.call("POST", "/api/admin-tokens", { name: "one", scopes: ["read"] });
    const audit = await t.call("GET", "/api/audit?limit=5");
    expect(audit.json.data.map((r: { id: number }) => r.id)).toEqual(t.store.audit.page({ limit: 5 }).map((r) => r.id));

    const keys = await t.call("GET", "/api/proxy-keys?limit=5");
    expect(keys.status).toBe(200);
    expect(keys.json).toEqual({ data: [], next_cursor: null });

    expect((reads as ThreadedReads<typeof ADMIN_READS>).workerReads - before).toBe(4);
  });
});

test("a read worker that cannot open the database: logged once, every read answered on the serving thread", async () => {
  const dir = mkdtempSync(join(tmpdir(), "keyward-reads-"));
  const opened = openDatabase(runtimeForSeed, dir);
  const store = createSqliteStore(opened.db, () => opened.client.close());
  const errors: Array<{ msg: string; fields?: Record<string, unknown> }> = [];
  const logger: Logger = { debug() {}, info() {}, warn() {}, error: (msg, fields) => void errors.push({ msg, fields }) };
  // A directory is no database file.
  const reads = new ThreadedReads({
    handlers: ADMIN_READS,
    path: dir,
    store,
    logger,
    worker: () => new Worker(workerUrl("admin/read-worker"), { type: "module" }),
  });
  try {
    const writes = prepareLogWrites(opened.client);
    const random = prng(3);
    const s = shape(NOW - DAY, NOW, 50);
    opened.client
      .transaction(() =>
        writeLogRows(
          writes,
          Array.from({ length: 50 }, (_, i) => seedRow(s, i, random)),
        ),
      )
      .immediate();
    const [usage, page] = await Promise.all([reads.read("usage", "day", {}), reads.read("logs", {}, 100, undefined)]);
    const json = (body: Uint8Array) => JSON.parse(new TextDecoder().decode(body));
    expect(json(usage)).toEqual(json(ADMIN_READS.usage(store, "day", {})));
    expect(json(usage).data.length).toBeGreaterThan(0);
    expect(json(page).data.length).toBe(50);
    expect(json(await reads.read("audit", 1, undefined))).toEqual({ data: [], next_cursor: null });
    expect(errors.map((e) => e.msg)).toEqual(["Admin reads move to the server thread"]);
    expect(String(errors[0]?.fields?.reason)).toContain("read worker cannot open the database");
    expect(reads.workerReads).toBe(0);
  } finally {
    reads.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

describe("windows are bounded by the retention", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ clock: new TestClock(NOW), config: { logRetentionDays: 90 } });
    // Rows from 100 days ago to now; those older than 90 days are not pruned yet (the sweep is hourly).
    seed(t, shape(NOW - 100 * DAY, NOW, 3_000), 2);
  });
  afterAll(() => t.cleanup());

  test("a window wider than the retention is a 422 naming from", async () => {
    for (const path of [
      `/api/usage?group_by=day&from=${iso(NOW - 91 * DAY)}`,
      `/api/usage?group_by=model&from=${iso(NOW - 100 * DAY)}&to=${iso(NOW - 9 * DAY)}`,
      `/api/logs?from=${iso(NOW - 95 * DAY)}&to=${iso(NOW - 2 * DAY)}`,
    ]) {
      const res = await t.call("GET", path);
      expect({ path, status: res.status, code: res.json.error.code, field: res.json.error.field }).toEqual({
        path,
        status: 422,
        code: "validation_failed",
        field: "from",
      });
      expect(res.json.error.message).toContain("longer than 90 days");
    }
  });

  test("without from, the window starts the retention before to, on the hour, and the answer says so", async () => {
    const start = Math.ceil((NOW - 90 * DAY) / HOUR) * HOUR;
    const usage = await t.call("GET", "/api/usage?group_by=day");
    expect(usage.status).toBe(200);
    expect(usage.headers.get(WINDOW_FROM_HEADER)).toBe(iso(start));
    const requests = (rows: Array<{ requests: number }>) => rows.reduce((n, r) => n + r.requests, 0);
    expect(requests(usage.json.data)).toBe(requests(t.store.requestLog.usage("day", { from: start }).map((r) => ({ requests: r.requests }))));
    expect(requests(usage.json.data)).toBeLessThan(requests(t.store.requestLog.usage("day", {}).map((r) => ({ requests: r.requests }))));

    const to = NOW - 10 * DAY;
    const logs = await t.call("GET", `/api/logs?limit=200&to=${iso(to)}`);
    expect(logs.headers.get(WINDOW_FROM_HEADER)).toBe(iso(Math.ceil((to - 90 * DAY) / HOUR) * HOUR));
    const explicit = await t.call("GET", `/api/usage?group_by=day&from=${iso(NOW - 10 * DAY)}`);
    expect(explicit.status).toBe(200);
    expect(explicit.headers.get(WINDOW_FROM_HEADER)).toBeNull();
  });

  test("older than the retention, usage windows end on the hour (its rows are gone there)", async () => {
    const off = NOW - 95 * DAY - (NOW % HOUR) + 30 * 60_000;
    const refused = await t.call("GET", `/api/usage?group_by=model&from=${iso(off)}&to=${iso(NOW - 10 * DAY)}`);
    expect(refused.status).toBe(422);
    expect(refused.json.error.field).toBe("from");
    expect(refused.json.error.message).toContain("on the hour");
    const onTheHour = await t.call("GET", `/api/usage?group_by=model&from=${iso(off - 30 * 60_000)}&to=${iso(NOW - 10 * DAY)}`);
    expect(onTheHour.status).toBe(200);
    // Within the retention, any millisecond will do.
    expect((await t.call("GET", `/api/usage?group_by=model&from=${iso(NOW - 20 * DAY + 1234)}&to=${iso(NOW - 3 * DAY - 77)}`)).status).toBe(200);
  });
});

test("retention prunes rows, not usage: an old window still sums what the log no longer lists", async () => {
  const clock = new TestClock(NOW);
  const first = await createTestApp({ clock, config: { logRetentionDays: 30 } });
  await first.close();
  const s = shape(NOW - 40 * DAY - 5 * HOUR, NOW - 33 * DAY, 800);
  seed(first, s, 5);
  const window = { from: NOW - 41 * DAY - (NOW % HOUR), to: NOW - 32 * DAY - (NOW % HOUR) };
  const dir = first.dataDir;
  const reopened = openDatabase(runtimeForSeed, dir);
  const store = createSqliteStore(reopened.db, () => reopened.client.close());
  const expected = store.requestLog.usage("proxy_key", window);
  store.close();
  expect(expected.reduce((n, r) => n + r.requests, 0)).toBeGreaterThan(800);

  // Starting sweeps at once; the rows are past the 30 days.
  const t = await createTestApp({ clock, config: { logRetentionDays: 30 }, dataDir: dir, masterKey: first.masterKey, rootToken: first.rootToken });
  try {
    for (let i = 0; i < 500; i++) {
      if (t.store.requestLog.page({}, { limit: 1 }).rows.length === 0) break;
      await Bun.sleep(10);
    }
    expect(t.store.requestLog.page({}, { limit: 1 }).rows).toEqual([]);
    const usage = await t.call("GET", `/api/usage?group_by=proxy_key&from=${iso(window.from)}&to=${iso(window.to)}`);
    expect(usage.status).toBe(200);
    expect(usage.json.data.map((r: { proxy_key_id: string; requests: number; cost_usd: number }) => [r.proxy_key_id, r.requests])).toEqual(
      expected.map((r) => [r.group, r.requests]),
    );
    const logs = await t.call("GET", `/api/logs?from=${iso(window.from)}&to=${iso(window.to)}`);
    expect(logs.json).toEqual({ data: [], next_cursor: null });
  } finally {
    await t.cleanup();
  }
});
