/**
 * The request log written from its worker thread (as `keyward serve` runs
 * it), against real SQLite files: rows and spend land in one commit, a busy
 * database delays them without losing any, and a worker that cannot open the
 * database or dies hands everything it had not committed back to the server
 * thread.
 */
import { Database } from "bun:sqlite";
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../../src/db/open.ts";
import { createSqliteStore } from "../../src/db/sqlite-store.ts";
import type { SpendUpdate } from "../../src/db/store.ts";
import type { LoggedRequest } from "../../src/usage/error-codes.ts";
import { detectRuntime } from "../../src/runtime/index.ts";
import type { Logger } from "../../src/telemetry/logger.ts";
import { RequestLogWriter } from "../../src/usage/request-log.ts";
import { ThreadedRequestLog } from "../../src/usage/threaded-request-log.ts";

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 0, 15, 12);
const clock = { now: () => NOW };

interface Logged {
  level: string;
  msg: string;
  fields?: Record<string, unknown>;
}

function recordingLogger(): Logger & { lines: Logged[] } {
  const lines: Logged[] = [];
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) => void lines.push({ level, msg, fields });
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** The budget ledger's part, with one key's spend moving as the test says. */
function spendSource(id: string) {
  let current: SpendUpdate | undefined;
  let dirty = false;
  return {
    set(spendMicros: number) {
      current = { id, spendMicros, periodStartedAt: 0 };
      dirty = true;
    },
    drain: (): SpendUpdate[] => {
      const out = dirty && current ? [current] : [];
      dirty = false;
      return out;
    },
    requeue: () => {
      dirty = true;
    },
    dirtyAll: () => {
      dirty = current !== undefined;
    },
  };
}

const row = (i: number, at = NOW): LoggedRequest => ({
  at,
  requestId: `req-${i}`,
  proxyKeyId: "pk",
  method: "POST",
  path: "/chat/completions",
  status: 200,
  costMicros: i,
  latencyMs: 1,
});

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(options: { path?: string; worker?: () => Worker; busyTimeoutMs?: number; stopTimeoutMs?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "keyward-logworker-"));
  const opened = openDatabase(await detectRuntime(), dir);
  const store = createSqliteStore(opened.db, () => opened.client.close());
  // A proxy key row for spend to land on (foreign keys are on for the server's connection).
  opened.client.exec(
    "INSERT INTO provider_keys (id, name, provider, base_url, key_version, nonce, ciphertext, key_hint, created_at, updated_at) VALUES ('pv', 'p', 'openai', 'http://x', 1, x'00', x'00', 'h', 0, 0)",
  );
  opened.client.exec(
    "INSERT INTO proxy_keys (id, name, provider_key_id, secret_hash, key_hint, created_at, updated_at) VALUES ('pk', 'k', 'pv', 'phc', 'h', 0, 0)",
  );
  const logger = recordingLogger();
  const spend = spendSource("pk");
  const options_ = { flushIntervalMs: 60_000, retentionDays: 30 };
  let fallbacks = 0;
  const log = new ThreadedRequestLog(spend, clock, logger, {
    ...options_,
    path: options.path ?? opened.path,
    busyTimeoutMs: options.busyTimeoutMs ?? 5_000,
    worker: options.worker,
    stopTimeoutMs: options.stopTimeoutMs,
    fallback: (): RequestLogWriter => {
      fallbacks++;
      return new RequestLogWriter(store, spend, clock, logger, options_);
    },
  });
  const reader = new Database(opened.path, { readonly: true });
  cleanups.push(async () => {
    await log.stop();
    reader.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const count = () => (reader.query("SELECT count(*) AS n FROM request_log").get() as { n: number }).n;
  const storedSpend = () => (reader.query("SELECT spend_micros AS s FROM proxy_keys WHERE id = 'pk'").get() as { s: number }).s;
  return { log, logger, spend, opened, count, storedSpend, fallbacks: () => fallbacks };
}

test("rows and spend are committed together by the worker, on flush and at stop", async () => {
  const s = await setup();
  s.log.start();
  for (let i = 0; i < 100; i++) s.log.append(row(i));
  s.spend.set(4_950);
  expect(s.log.depth).toBe(100);
  expect(s.count()).toBe(0); // nothing is written on the appending thread

  await s.log.flush();
  expect(s.count()).toBe(100);
  expect(s.storedSpend()).toBe(4_950);
  expect(s.log.depth).toBe(0);

  for (let i = 100; i < 105; i++) s.log.append(row(i));
  await s.log.stop();
  expect(s.count()).toBe(105);
  expect(s.fallbacks()).toBe(0);
});

test("reads' flushes share commits, and each still sees every row appended before it", async () => {
  let commits = 0;
  const s = await setup({
    worker: () => {
      const worker = new Worker(new URL("../../src/usage/log-worker.ts", import.meta.url), { type: "module" });
      const post = worker.postMessage.bind(worker);
      worker.postMessage = (message: { type: string }) => {
        if (message.type === "commit") commits++;
        post(message);
      };
      return worker;
    },
  });
  s.log.start();
  // Fifty reads at once, a row answered before each: the first commits at once, the other 49 share one commit.
  const seen = await Promise.all(
    Array.from({ length: 50 }, (_, i) => {
      s.log.append(row(i));
      return s.log.flush().then(() => s.count() >= i + 1);
    }),
  );
  expect(seen.every(Boolean)).toBe(true);
  expect(s.count()).toBe(50);
  expect(commits).toBe(2);
  // Back to back, one after another: each read still sees the row before it.
  for (let i = 50; i < 60; i++) {
    s.log.append(row(i));
    await s.log.flush();
    expect(s.count()).toBe(i + 1);
  }
  expect(commits).toBe(12);
  // Nothing appended since: a read does not wait for a commit, and none is made.
  await s.log.flush();
  expect(commits).toBe(12);
});

test("a locked database delays the rows: the failure is logged, the next flush writes every one", async () => {
  const s = await setup({ busyTimeoutMs: 50 });
  s.log.start();
  // Another writer holds the database (a backup, an admin transaction that hangs).
  const holder = new Database(s.opened.path);
  holder.exec("BEGIN IMMEDIATE");
  for (let i = 0; i < 40; i++) s.log.append(row(i));
  s.spend.set(780);
  await s.log.flush();
  holder.exec("COMMIT");
  holder.close();
  expect(s.count()).toBe(0);
  const warning = s.logger.lines.find((l) => l.msg === "Request log flush failed; will retry");
  expect(warning?.fields?.rows).toBe(40);
  expect(String(warning?.fields?.error)).toMatch(/locked|busy/i);
  expect(s.log.depth).toBe(40); // still held here as well, in case the worker dies

  s.log.append(row(40));
  await s.log.flush();
  expect(s.count()).toBe(41);
  expect(s.storedSpend()).toBe(780);
  expect(s.log.depth).toBe(0);
});

test("a worker that cannot open the database hands its rows to the server thread", async () => {
  const s = await setup({ path: tmpdir() }); // a directory: SQLite cannot open it
  s.log.start();
  for (let i = 0; i < 10; i++) s.log.append(row(i));
  s.spend.set(45);
  // The refusal arrives asynchronously; rows appended meanwhile must not be lost either.
  for (let i = 0; i < 100 && s.fallbacks() === 0; i++) await Bun.sleep(10);
  expect(s.fallbacks()).toBe(1);
  s.log.append(row(10));
  await s.log.flush();
  expect(s.count()).toBe(11);
  expect(s.storedSpend()).toBe(45);
  const error = s.logger.lines.find((l) => l.level === "error");
  expect(error?.msg).toBe("Request log moves to the server thread");
  expect(String(error?.fields?.reason)).toContain("cannot open the database");
});

test("a worker that dies loses nothing: what it had not committed is written on the server thread", async () => {
  // A worker that takes the rows and then fails, as a crash in the worker would.
  const crashing = join(import.meta.dir, "../helpers/crashing-log-worker.ts");
  const s = await setup({ worker: () => new Worker(crashing, { type: "module" }) });
  s.log.start();
  for (let i = 0; i < 70; i++) s.log.append(row(i));
  s.spend.set(2_415);
  await s.log.flush();
  expect(s.fallbacks()).toBe(1);
  expect(s.count()).toBe(70);
  expect(s.storedSpend()).toBe(2_415);
  expect(s.log.depth).toBe(0);
});

test("a worker that stops answering cannot hang shutdown: its rows are written on the server thread", async () => {
  const silent = join(import.meta.dir, "../helpers/silent-log-worker.ts");
  const s = await setup({ worker: () => new Worker(silent, { type: "module" }), stopTimeoutMs: 200 });
  s.log.start();
  for (let i = 0; i < 12; i++) s.log.append(row(i));
  s.spend.set(66);
  await s.log.stop();
  expect(s.fallbacks()).toBe(1);
  expect(s.count()).toBe(12);
  expect(s.storedSpend()).toBe(66);
  expect(s.logger.lines.find((l) => l.level === "error")?.fields?.reason).toBe("the log worker did not answer at shutdown");
});

test("retention runs in the worker: rows older than the retention period are deleted", async () => {
  const s = await setup();
  const writer = new Database(s.opened.path);
  const insert = writer.prepare("INSERT INTO request_log (at, request_id, method, path, status, latency_ms) VALUES (?, ?, 'POST', '/x', 200, 1)");
  insert.run(NOW - 31 * DAY, "old-1");
  insert.run(NOW - 31 * DAY, "old-2");
  insert.run(NOW - 29 * DAY, "recent");
  writer.close();
  s.log.start(); // sweeps once at start, then hourly
  const applied = () => s.logger.lines.find((l) => l.msg === "Request log retention applied");
  for (let i = 0; i < 300 && !applied(); i++) await Bun.sleep(10);
  expect(s.count()).toBe(1);
  expect(applied()?.fields?.removed).toBe(2);
});

test("count and overrun reach the table through the worker, and through the hand-back when it dies", async () => {
  const sums = (s: Awaited<ReturnType<typeof setup>>) => {
    const reader = new Database(s.opened.path, { readonly: true });
    try {
      return reader.query("SELECT sum(count) AS n, sum(overrun_micros) AS o FROM request_log").get() as { n: number; o: number };
    } finally {
      reader.close();
    }
  };
  const folded = (i: number): LoggedRequest => ({ ...row(i), status: 429, errorCode: "rate_limit_exceeded", count: 500, overrunMicros: 0 });
  const overrun = (i: number): LoggedRequest => ({ ...row(i), overrunMicros: 1_234 });

  const worker = await setup();
  worker.log.start();
  worker.log.append(folded(0));
  worker.log.append(overrun(1));
  await worker.log.flush();
  expect(worker.fallbacks()).toBe(0);
  expect(sums(worker)).toEqual({ n: 501, o: 1_234 });

  const crashing = join(import.meta.dir, "../helpers/crashing-log-worker.ts");
  const handedBack = await setup({ worker: () => new Worker(crashing, { type: "module" }) });
  handedBack.log.start();
  handedBack.log.append(folded(0));
  handedBack.log.append(overrun(1));
  await handedBack.log.flush();
  expect(handedBack.fallbacks()).toBe(1);
  expect(sums(handedBack)).toEqual({ n: 501, o: 1_234 });
});
