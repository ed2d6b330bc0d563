/**
 * GET /api/usage and GET /api/logs over a known set
 * of requests spread across two UTC days: every request is there exactly
 * once, grouped by proxy key, provider key, model and day, and the log's
 * filters and cursor pagination select exactly the matching rows.
 */
import { beforeAll, expect, test } from "bun:test";
import { allLogs, chatJson, micros, postV1, waitSettled, type LogEntry } from "../helpers/limits.ts";
import { MOCK_TEXT } from "../helpers/mock-provider.ts";
import { chatAnswerText, createKeyPair, useProxyHarness, type KeyPair } from "../helpers/proxy.ts";

// Every answer reports 100 in, 50 out: gpt-4o-mini 15 + 30 = 45 µ$, gpt-4o 250 + 500 = 750 µ$.
// Rows and folded refusals are written by the routes' flush only, never by the flush timer: where the timer fired
// during the setup on a slow machine, the refusal's folded entry was written before the requests that followed it.
const h = useProxyHarness({ mock: { usage: { input: 100, output: 50 } }, config: { logFlushIntervalMs: 600_000 } });
let k1: KeyPair;
let k2: KeyPair;
let k3: KeyPair;

const MINI = 45;
const FOUR_O = 750;

async function send(keys: KeyPair, model: string, expected = 200) {
  const response = await postV1(h.baseUrl, keys.proxyKey, "/chat/completions", chatJson(model, 500, { max_tokens: 100 }));
  const text = await response.text();
  if (response.status !== expected) throw new Error(`expected ${expected}, got ${response.status}: ${text}`);
  if (expected === 200) expect(chatAnswerText(text)).toBe(MOCK_TEXT);
}

beforeAll(async () => {
  k1 = await createKeyPair(h.t, { base_url: h.mock.baseUrl });
  // k2 shares k1's provider key; k3 has its own, and a model allow-list.
  const second = await h.t.call("POST", "/api/proxy-keys", { name: "k2", provider_key_id: k1.providerKeyId });
  k2 = { ...k1, proxyKey: second.json.key, proxyKeyId: second.json.id };
  k3 = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { allowed_models: ["gpt-4o-mini"] } });

  // Day 1: Thursday 2026-01-15, from 12:00 UTC.
  await send(k1, "gpt-4o-mini");
  await send(k1, "gpt-4o-mini");
  h.clock.advance(60_000);
  await send(k1, "gpt-4o");
  await send(k2, "gpt-4o-mini");
  await send(k3, "gpt-4o", 403);
  h.clock.advance(60_000);
  await send(k3, "gpt-4o-mini");
  // Day 2: past midnight UTC.
  h.clock.current = Date.UTC(2026, 0, 16, 0, 30);
  await send(k1, "gpt-4o");
  await send(k3, "gpt-4o-mini");
  await send(k3, "gpt-4o-mini");
  await waitSettled(h.t);
});

interface UsageRow {
  requests: number;
  input_tokens: number;
  output_tokens: number;
  cached_tokens: number;
  cost_usd: number;
  [group: string]: unknown;
}

async function usage(query: string): Promise<UsageRow[]> {
  const res = await h.t.call("GET", `/api/usage?${query}`);
  if (res.status !== 200) throw new Error(`usage ${query}: ${res.status} ${res.text}`);
  expect(res.json.next_cursor).toBeNull();
  return res.json.data as UsageRow[];
}

/** Rows as `[group, requests, input, output, cost µ$]`, for exact comparison. */
const compact = (rows: UsageRow[], field: string) => rows.map((r) => [r[field], r.requests, r.input_tokens, r.output_tokens, micros(r.cost_usd)]);

test("group_by=proxy_key: requests, tokens and cost per key (refusals count as requests)", async () => {
  const rows = await usage("group_by=proxy_key");
  for (const row of rows) {
    expect(Object.keys(row).sort()).toEqual([
      "cached_tokens",
      "cost_usd",
      "errors",
      "input_tokens",
      "output_tokens",
      "overrun_usd",
      "proxy_key_id",
      "requests",
    ]);
  }
  const expected = [
    [k1.proxyKeyId, 4, 400, 200, 2 * MINI + 2 * FOUR_O],
    [k2.proxyKeyId, 1, 100, 50, MINI],
    [k3.proxyKeyId, 4, 300, 150, 3 * MINI],
  ];
  const byId = (a: unknown[], b: unknown[]) => String(a[0]).localeCompare(String(b[0]));
  expect(compact(rows, "proxy_key_id").sort(byId)).toEqual(expected.sort(byId));
});

test("group_by=provider_key", async () => {
  const rows = await usage("group_by=provider_key");
  const expected = [
    [k1.providerKeyId, 5, 500, 250, 3 * MINI + 2 * FOUR_O],
    [k3.providerKeyId, 4, 300, 150, 3 * MINI],
  ];
  const byId = (a: unknown[], b: unknown[]) => String(a[0]).localeCompare(String(b[0]));
  expect(compact(rows, "provider_key_id").sort(byId)).toEqual(expected.sort(byId));
});

test("group_by=model", async () => {
  const rows = await usage("group_by=model");
  expect(compact(rows, "model")).toEqual([
    ["gpt-4o", 3, 200, 100, 2 * FOUR_O],
    ["gpt-4o-mini", 6, 600, 300, 6 * MINI],
  ]);
});

test("group_by=day: UTC days, and from (inclusive) / to (exclusive) select by time", async () => {
  expect(compact(await usage("group_by=day"), "day")).toEqual([
    ["2026-01-15", 6, 500, 250, 4 * MINI + FOUR_O],
    ["2026-01-16", 3, 300, 150, 2 * MINI + FOUR_O],
  ]);
  expect(compact(await usage("group_by=day&from=2026-01-16T00:00:00Z"), "day")).toEqual([["2026-01-16", 3, 300, 150, 2 * MINI + FOUR_O]]);
  expect(compact(await usage("group_by=day&to=2026-01-16T00:00:00Z"), "day")).toEqual([["2026-01-15", 6, 500, 250, 4 * MINI + FOUR_O]]);
  // The second minute of day 1 only: k1's gpt-4o, k2, and k3's refusal.
  const minute = await usage("group_by=model&from=2026-01-15T12:01:00Z&to=2026-01-15T12:02:00Z");
  expect(compact(minute, "model")).toEqual([
    ["gpt-4o", 2, 100, 50, FOUR_O],
    ["gpt-4o-mini", 1, 100, 50, MINI],
  ]);
  expect(await usage("group_by=day&from=2027-01-01T00:00:00Z")).toEqual([]);
});

test("usage totals agree across groupings and with the log", async () => {
  const logs = await allLogs(h.t);
  expect(logs.length).toBe(9);
  const logCost = logs.reduce((sum, l) => sum + micros(l.cost_usd), 0);
  for (const group of ["proxy_key", "provider_key", "model", "day"]) {
    const rows = await usage(`group_by=${group}`);
    expect(rows.reduce((sum, r) => sum + r.requests, 0)).toBe(9);
    expect(rows.reduce((sum, r) => sum + micros(r.cost_usd), 0)).toBe(logCost);
  }
});

test("bad usage queries are 422", async () => {
  expect((await h.t.call("GET", "/api/usage")).status).toBe(422);
  expect((await h.t.call("GET", "/api/usage?group_by=week")).status).toBe(422);
  expect((await h.t.call("GET", "/api/usage?group_by=day&from=yesterday")).status).toBe(422);
});

test("GET /api/logs: one entry per request with what happened, newest first", async () => {
  const logs = await allLogs(h.t);
  expect(logs.length).toBe(9);
  const ids = logs.map((l) => l.id);
  expect([...ids].sort((a, b) => b - a)).toEqual(ids);
  const oldest = logs.at(-1) as LogEntry;
  expect(oldest).toMatchObject({
    at: "2026-01-15T12:00:00.000Z",
    proxy_key_id: k1.proxyKeyId,
    provider_key_id: k1.providerKeyId,
    provider: "openai",
    model: "gpt-4o-mini",
    path: "/chat/completions",
    status: 200,
    streamed: false,
    input_tokens: 100,
    output_tokens: 50,
    cached_tokens: 0,
    error_code: null,
  });
  expect(micros(oldest.cost_usd)).toBe(MINI);
  const refusal = logs.find((l) => l.status === 403);
  expect(refusal).toMatchObject({ proxy_key_id: k3.proxyKeyId, model: "gpt-4o", error_code: "model_not_allowed", cost_usd: 0, count: 1 });
  // Entries come in the order written: a refusal's folded entry is written once its minute is tallied (here at
  // the route's flush), after the answered requests that followed it.
  expect(logs[0]).toMatchObject({ at: "2026-01-15T12:01:00.000Z", status: 403 });
  expect(logs.find((l) => l.status === 200)?.at).toBe("2026-01-16T00:30:00.000Z");
});

test("GET /api/logs filters: proxy key, provider key, model, status, time, and combinations", async () => {
  const count = async (query: string) => (await allLogs(h.t, query)).length;
  expect(await count(`proxy_key_id=${k1.proxyKeyId}`)).toBe(4);
  expect(await count(`proxy_key_id=${k2.proxyKeyId}`)).toBe(1);
  expect(await count(`provider_key_id=${k1.providerKeyId}`)).toBe(5);
  expect(await count(`provider_key_id=${k3.providerKeyId}`)).toBe(4);
  expect(await count("model=gpt-4o")).toBe(3);
  expect(await count("model=gpt-4o-mini")).toBe(6);
  expect(await count("status=403")).toBe(1);
  expect(await count("status=200")).toBe(8);
  expect(await count("status=500")).toBe(0);
  expect(await count("from=2026-01-16T00:00:00Z")).toBe(3);
  expect(await count("to=2026-01-16T00:00:00Z")).toBe(6);
  expect(await count(`proxy_key_id=${k3.proxyKeyId}&model=gpt-4o-mini&from=2026-01-16T00:00:00Z`)).toBe(2);
  expect(await count("proxy_key_id=nope")).toBe(0);
  for (const entry of await allLogs(h.t, `model=gpt-4o&status=200`)) {
    expect(entry.model).toBe("gpt-4o");
    expect(entry.status).toBe(200);
  }
});

test("GET /api/logs cursor pagination: pages of 2 cover every row once, in order", async () => {
  const everything = (await allLogs(h.t)).map((l) => l.id);
  const paged: number[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const suffix: string = cursor === null ? "" : `&cursor=${cursor}`;
    const res = await h.t.call("GET", `/api/logs?limit=2${suffix}`);
    expect(res.status).toBe(200);
    expect(res.json.data.length).toBeLessThanOrEqual(2);
    paged.push(...(res.json.data as LogEntry[]).map((l) => l.id));
    cursor = res.json.next_cursor;
    pages++;
  } while (cursor !== null && pages < 20);
  expect(pages).toBe(5);
  expect(paged).toEqual(everything);
  // Filters and cursors combine.
  const first = await h.t.call("GET", `/api/logs?limit=1&proxy_key_id=${k3.proxyKeyId}`);
  const second = await h.t.call("GET", `/api/logs?limit=3&proxy_key_id=${k3.proxyKeyId}&cursor=${first.json.next_cursor}`);
  expect(second.json.data.length).toBe(3);
  expect(second.json.next_cursor).toBeNull();
  expect((await h.t.call("GET", "/api/logs?cursor=abc")).status).toBe(422);
  expect((await h.t.call("GET", "/api/logs?limit=0")).status).toBe(422);
  expect((await h.t.call("GET", "/api/logs?limit=201")).status).toBe(422);
});
