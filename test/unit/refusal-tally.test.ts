/**
 * TalliedRequestLog against a recording sink and a hand-moved clock: refusals
 * fold into one row per proxy key, error code and minute with their count;
 * the timer's pass writes only minutes that have ended; flush and stop write
 * everything first; the number of waiting groups is bounded.
 */
import { afterEach, expect, test } from "bun:test";
import type { LoggedRequest } from "../../src/usage/error-codes.ts";
import { MAX_PENDING_GROUPS, MINUTE_MS, TalliedRequestLog } from "../../src/usage/refusal-tally.ts";
import type { RequestLogSink } from "../../src/usage/request-log.ts";

const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);

/** A sink that keeps what it is handed and says what was asked of it. */
function recordingSink() {
  const rows: LoggedRequest[] = [];
  const calls: string[] = [];
  const sink: RequestLogSink & { rows: LoggedRequest[]; calls: string[] } = {
    rows,
    calls,
    append: (row) => void rows.push(row),
    get depth() {
      return rows.length;
    },
    start: () => void calls.push("start"),
    flush: () => {
      calls.push(`flush with ${rows.length}`);
      return Promise.resolve();
    },
    stop: () => {
      calls.push(`stop with ${rows.length}`);
      return Promise.resolve();
    },
  };
  return sink;
}

const refusal = (i: number, at: number, extra: Partial<LoggedRequest> = {}): LoggedRequest => ({
  at,
  requestId: `req-${i}`,
  proxyKeyId: "pk1",
  providerKeyId: "pv1",
  provider: "openai",
  model: "gpt-4o-mini",
  method: "POST",
  path: "/chat/completions",
  status: 429,
  latencyMs: 1,
  errorCode: "rate_limit_exceeded",
  ...extra,
});

const logs: TalliedRequestLog[] = [];
afterEach(async () => {
  for (const log of logs.splice(0)) await log.stop();
});

function tally(options: { now?: () => number; maxGroups?: number } = {}) {
  const sink = recordingSink();
  const log = new TalliedRequestLog(sink, { now: options.now ?? (() => T0) }, { flushIntervalMs: 60_000, maxGroups: options.maxGroups });
  logs.push(log);
  return { sink, log };
}

test("500 refusals in one minute become one row with count 500, at the minute's start, with the first request's fields", async () => {
  const { sink, log } = tally();
  for (let i = 0; i < 500; i++) log.appendRefusal(refusal(i, T0 + 1_000 + i * 10, { model: i === 0 ? "gpt-4o-mini" : "gpt-4o" }));
  expect(sink.rows).toEqual([]);
  expect(log.depth).toBe(1); // pending groups count

  await log.flush();
  expect(sink.rows).toEqual([{ ...refusal(0, T0), count: 500 }]);
  expect(sink.calls).toEqual(["flush with 1"]); // rows reach the sink before it flushes
  expect(log.depth).toBe(1); // now in the sink
});

test("refusals across a minute boundary are two rows; keys and codes are separate groups", async () => {
  const { sink, log } = tally();
  log.appendRefusal(refusal(1, T0 + 59_999));
  log.appendRefusal(refusal(2, T0 + 60_000));
  log.appendRefusal(refusal(3, T0 + 60_001));
  log.appendRefusal(refusal(4, T0 + 60_002, { proxyKeyId: "pk2" }));
  log.appendRefusal(refusal(5, T0 + 60_003, { errorCode: "insufficient_quota", status: 403 }));
  await log.flush();
  expect(sink.rows.map((r) => [r.requestId, r.at, r.proxyKeyId, r.errorCode, r.count])).toEqual([
    ["req-1", T0, "pk1", "rate_limit_exceeded", 1],
    ["req-2", T0 + MINUTE_MS, "pk1", "rate_limit_exceeded", 2],
    ["req-4", T0 + MINUTE_MS, "pk2", "rate_limit_exceeded", 1],
    ["req-5", T0 + MINUTE_MS, "pk1", "insufficient_quota", 1],
  ]);
});

test("the timer's pass writes only minutes that have ended; later refusals of a written minute start a new row", () => {
  let now = T0 + 30_000;
  const { sink, log } = tally({ now: () => now });
  log.appendRefusal(refusal(1, T0 + 10_000));
  log.appendRefusal(refusal(2, T0 + 20_000));
  log.emitEnded(now);
  expect(sink.rows).toEqual([]);

  now = T0 + MINUTE_MS + 5_000;
  log.appendRefusal(refusal(3, now));
  log.emitEnded(now - 5_001); // the minute ends at T0 + 60 000 exactly, not before
  expect(sink.rows).toEqual([]);
  log.emitEnded(T0 + MINUTE_MS);
  expect(sink.rows.map((r) => [r.requestId, r.count])).toEqual([["req-1", 2]]);
  expect(log.depth).toBe(2); // one row in the sink, the second minute still pending

  // A refusal stamped in the first minute but appended late makes a row of its own.
  log.appendRefusal(refusal(4, T0 + 59_000));
  log.emitEnded(now);
  expect(sink.rows.map((r) => [r.requestId, r.at, r.count])).toEqual([
    ["req-1", T0, 2],
    ["req-4", T0, 1],
  ]);
});

test("the timer runs on the given interval from start()", async () => {
  const sink = recordingSink();
  const log = new TalliedRequestLog(sink, { now: () => T0 + 2 * MINUTE_MS }, { flushIntervalMs: 5 });
  logs.push(log);
  log.start();
  expect(sink.calls).toEqual(["start"]);
  log.appendRefusal(refusal(1, T0));
  const until = performance.now() + 5_000;
  while (sink.rows.length === 0 && performance.now() < until) await Bun.sleep(5);
  expect(sink.rows.map((r) => r.count)).toEqual([1]);
});

test("plain rows pass straight through, count untouched", () => {
  const { sink, log } = tally();
  const row = { ...refusal(1, T0 + 123), status: 200, errorCode: null };
  log.append(row);
  expect(sink.rows).toEqual([row]);
});

test("stop writes every pending group before stopping the sink", async () => {
  const { sink, log } = tally();
  for (let i = 0; i < 3; i++) log.appendRefusal(refusal(i, T0 + i));
  await log.stop();
  expect(sink.rows.map((r) => r.count)).toEqual([3]);
  expect(sink.calls).toEqual(["stop with 1"]);
});

test("beyond the bound the oldest group is written early with its count so far; counts stay exact", async () => {
  expect(MAX_PENDING_GROUPS).toBe(10_000);
  const { sink, log } = tally({ maxGroups: 3 });
  for (const key of ["a", "a", "b", "c"]) log.appendRefusal(refusal(0, T0, { proxyKeyId: key }));
  expect(sink.rows).toEqual([]);
  log.appendRefusal(refusal(0, T0, { proxyKeyId: "d" })); // a fourth group: "a", the oldest, goes now
  expect(sink.rows.map((r) => [r.proxyKeyId, r.count])).toEqual([["a", 2]]);
  expect(log.depth).toBe(4); // 1 in the sink, 3 pending
  log.appendRefusal(refusal(0, T0, { proxyKeyId: "a" })); // "a" again: a new group, "b" goes
  await log.flush();
  const total = new Map<string, number>();
  for (const r of sink.rows) total.set(r.proxyKeyId ?? "", (total.get(r.proxyKeyId ?? "") ?? 0) + (r.count ?? 0));
  expect(Object.fromEntries(total)).toEqual({ a: 3, b: 1, c: 1, d: 1 });
});

test("a flood across 50,000 keys never holds more than the bound", () => {
  const { sink, log } = tally();
  for (let i = 0; i < 50_000; i++) log.appendRefusal(refusal(i, T0, { proxyKeyId: `k${i}` }));
  expect(log.depth - sink.rows.length).toBe(MAX_PENDING_GROUPS);
  expect(sink.rows.length).toBe(40_000);
});
