/**
 * Folded refusals through the whole app: the request log the app builds
 * tallies refusals (inline and worker-thread writers alike), GET /api/logs
 * shows one entry per key, code and minute with its count, and GET
 * /api/usage counts requests (and errors) by those counts, with overrun.
 */
import { expect, test } from "bun:test";
import { micros } from "../helpers/limits.ts";
import { createProviderKey, createProxyKey, useApp } from "../helpers/admin-fixtures.ts";
import { createTestApp, type TestApp } from "../helpers/app.ts";
import type { LoggedRequest } from "../../src/usage/error-codes.ts";

const app = useApp();
const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);

async function keys(t: TestApp) {
  const provider = await createProviderKey(t);
  const proxy = await createProxyKey(t, provider.id);
  return { providerKeyId: provider.id, proxyKeyId: proxy.id };
}

function row(ids: { providerKeyId: string; proxyKeyId: string }, i: number, at: number, extra: Partial<LoggedRequest> = {}): LoggedRequest {
  return {
    at,
    requestId: `req-${i}`,
    proxyKeyId: ids.proxyKeyId,
    providerKeyId: ids.providerKeyId,
    provider: "openai",
    model: "gpt-4o-mini",
    method: "POST",
    path: "/chat/completions",
    status: 429,
    latencyMs: 2,
    errorCode: "rate_limit_exceeded",
    ...extra,
  };
}

async function logs(t: TestApp) {
  const res = await t.call("GET", "/api/logs?limit=200");
  expect(res.status).toBe(200);
  return res.json.data as Array<Record<string, unknown>>;
}

async function usage(t: TestApp, group: string) {
  const res = await t.call("GET", `/api/usage?group_by=${group}`);
  expect(res.status).toBe(200);
  return res.json.data as Array<Record<string, unknown>>;
}

test("500 refusals in one minute are one log entry with count 500 once flushed", async () => {
  const ids = await keys(app());
  const log = app().services.requestLog;
  for (let i = 0; i < 500; i++) log.appendRefusal(row(ids, i, T0 + 5_000 + i));
  expect(log.depth).toBe(1);
  const entries = await logs(app()); // the route flushes first
  expect(entries).toHaveLength(1);
  expect(entries[0]).toMatchObject({
    at: "2026-01-15T12:00:00.000Z",
    request_id: "req-0",
    proxy_key_id: ids.proxyKeyId,
    status: 429,
    error_code: "rate_limit_exceeded",
    count: 500,
    overrun_usd: 0,
    cost_usd: 0,
  });
});

test("refusals across a minute boundary are two entries", async () => {
  const ids = await keys(app());
  const log = app().services.requestLog;
  for (let i = 0; i < 3; i++) log.appendRefusal(row(ids, i, T0 + 59_000 + i));
  for (let i = 3; i < 10; i++) log.appendRefusal(row(ids, i, T0 + 60_000 + i));
  await app().flushLog();
  const entries = await logs(app());
  const byAt = (a: unknown[], b: unknown[]) => String(a[0]).localeCompare(String(b[0]));
  expect(entries.map((e) => [e.at, e.count]).sort(byAt)).toEqual([
    ["2026-01-15T12:00:00.000Z", 3],
    ["2026-01-15T12:01:00.000Z", 7],
  ]);
});

test("usage counts requests and errors by count, and sums overrun", async () => {
  const ids = await keys(app());
  const log = app().services.requestLog;
  for (let i = 0; i < 40; i++) log.appendRefusal(row(ids, i, T0 + i));
  log.appendRefusal(row(ids, 40, T0 + 1, { errorCode: "insufficient_quota", status: 403 }));
  // Two answered requests, one billed beyond its reservation.
  log.append(row(ids, 41, T0 + 2, { status: 200, errorCode: null, costMicros: 900, overrunMicros: 150, inputTokens: 10, outputTokens: 5 }));
  log.append(row(ids, 42, T0 + 3, { status: 200, errorCode: null, costMicros: 100 }));

  const groupField = { proxy_key: "proxy_key_id", provider_key: "provider_key_id", model: "model", day: "day" };
  for (const [group, field] of Object.entries(groupField)) {
    const rows = await usage(app(), group);
    expect(rows).toHaveLength(1);
    expect(Object.keys(rows[0] ?? {}).sort()).toEqual(
      ["cached_tokens", "cost_usd", "errors", "input_tokens", "output_tokens", "overrun_usd", "requests", field].sort(),
    );
    expect(rows[0]).toMatchObject({ requests: 43, errors: 41, input_tokens: 10, output_tokens: 5 });
    expect(micros(rows[0]?.cost_usd as number)).toBe(1_000);
    expect(micros(rows[0]?.overrun_usd as number)).toBe(150);
  }
  const entries = await logs(app());
  expect(entries).toHaveLength(4);
  expect(entries.reduce((n, e) => n + (e.count as number), 0)).toBe(43);
  expect(entries.find((e) => e.request_id === "req-41")).toMatchObject({ count: 1, overrun_usd: 0.00015 });
});

test("the worker thread writes count and overrun too", async () => {
  const t = await createTestApp({ logWorker: true });
  try {
    const ids = await keys(t);
    for (let i = 0; i < 25; i++) t.services.requestLog.appendRefusal(row(ids, i, T0 + i));
    t.services.requestLog.append(row(ids, 25, T0, { status: 200, errorCode: null, costMicros: 700, overrunMicros: 300 }));
    const entries = await logs(t);
    const byId = (a: unknown[], b: unknown[]) => String(a[0]).localeCompare(String(b[0]));
    expect(entries.map((e) => [e.request_id, e.count, micros(e.overrun_usd as number)]).sort(byId)).toEqual([
      ["req-0", 25, 0],
      ["req-25", 1, 300],
    ]);
    const rows = await usage(t, "proxy_key");
    expect(rows[0]).toMatchObject({ requests: 26, errors: 25 });
  } finally {
    await t.cleanup();
  }
});
