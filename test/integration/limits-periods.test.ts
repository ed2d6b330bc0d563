/**
 * Budget periods over the admin API and the proxy:
 * daily, weekly and monthly spend resets at UTC boundaries (weeks start
 * Monday), `period_started_at` moves with it, and insufficient_quota's
 * Retry-After points at the reset, or is absent when no reset can help.
 */
import { beforeEach, expect, test } from "bun:test";
import { chatJson, getKey, micros, postV1, waitSettled } from "../helpers/limits.ts";
import { createKeyPair, expectProxyError, useProxyHarness, type KeyPair } from "../helpers/proxy.ts";

// A ~1060-byte body with max_tokens 100 reserves 159 + 60 = 219 µ$ of gpt-4o-mini;
// the mock then reports a realistic 200 in, 100 out: 30 + 60 = 90 µ$.
const USAGE = { input: 200, output: 100 };
const COST = 90;
const BUDGET_USD = 0.00025; // room for one request in flight, not two
const THURSDAY_NOON = Date.UTC(2026, 0, 15, 12, 0, 0);

const h = useProxyHarness({ mock: { usage: USAGE } });
beforeEach(() => {
  h.clock.current = THURSDAY_NOON;
});

async function send(keys: KeyPair) {
  const response = await postV1(h.baseUrl, keys.proxyKey, "/chat/completions", chatJson("gpt-4o-mini", 1_000, { max_tokens: 100 }));
  const result = { status: response.status, headers: response.headers, text: await response.text() };
  await waitSettled(h.t);
  return result;
}

const budgeted = (period: string, budget = BUDGET_USD) =>
  createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { budget_usd: budget, budget_period: period } });

/** One request spends; the next is refused with the given Retry-After (seconds, or null for none). */
async function spendThenRefuse(keys: KeyPair, retryAfter: string | null) {
  expect((await send(keys)).status).toBe(200);
  const refused = await send(keys);
  expectProxyError(refused, 429, "insufficient_quota");
  expect(refused.headers.get("retry-after")).toBe(retryAfter);
}

test("daily: spend resets at midnight UTC; Retry-After points at it", async () => {
  const keys = await budgeted("daily");
  let key = await getKey(h.t, keys.proxyKeyId);
  expect(key).toMatchObject({ budget_period: "daily", period_started_at: "2026-01-15T00:00:00.000Z", spend_usd: 0 });

  await spendThenRefuse(keys, String(12 * 3600));
  key = await getKey(h.t, keys.proxyKeyId);
  expect(micros(key.spend_usd)).toBe(COST);
  expect(micros(key.budget_remaining_usd ?? -1)).toBe(250 - COST);

  h.clock.current = Date.UTC(2026, 0, 15, 23, 59, 59, 500);
  const late = await send(keys);
  expectProxyError(late, 429, "insufficient_quota");
  expect(late.headers.get("retry-after")).toBe("1");
  expect((await getKey(h.t, keys.proxyKeyId)).period_started_at).toBe("2026-01-15T00:00:00.000Z");

  h.clock.current = Date.UTC(2026, 0, 16, 0, 0, 0);
  key = await getKey(h.t, keys.proxyKeyId);
  expect(key).toMatchObject({ spend_usd: 0, reserved_usd: 0, budget_remaining_usd: BUDGET_USD, period_started_at: "2026-01-16T00:00:00.000Z" });
  await spendThenRefuse(keys, String(24 * 3600));
  expect(micros((await getKey(h.t, keys.proxyKeyId)).spend_usd)).toBe(COST);
});

test("weekly: spend resets on Monday 00:00 UTC, not before", async () => {
  const keys = await budgeted("weekly");
  expect((await getKey(h.t, keys.proxyKeyId)).period_started_at).toBe("2026-01-12T00:00:00.000Z");
  await spendThenRefuse(keys, String(3.5 * 24 * 3600)); // Thursday noon → Monday

  h.clock.current = Date.UTC(2026, 0, 18, 23, 59, 59, 999); // Sunday night
  expectProxyError(await send(keys), 429, "insufficient_quota");
  expect(micros((await getKey(h.t, keys.proxyKeyId)).spend_usd)).toBe(COST);

  h.clock.advance(1); // Monday 2026-01-19
  const key = await getKey(h.t, keys.proxyKeyId);
  expect(key).toMatchObject({ spend_usd: 0, period_started_at: "2026-01-19T00:00:00.000Z" });
  await spendThenRefuse(keys, String(7 * 24 * 3600));
});

test("monthly: spend resets on the 1st at 00:00 UTC", async () => {
  const keys = await budgeted("monthly");
  expect((await getKey(h.t, keys.proxyKeyId)).period_started_at).toBe("2026-01-01T00:00:00.000Z");
  await spendThenRefuse(keys, String(16.5 * 24 * 3600)); // Jan 15 noon → Feb 1

  h.clock.current = Date.UTC(2026, 0, 31, 23, 59, 59);
  expectProxyError(await send(keys), 429, "insufficient_quota");

  h.clock.current = Date.UTC(2026, 1, 1, 0, 0, 0);
  expect(await getKey(h.t, keys.proxyKeyId)).toMatchObject({ spend_usd: 0, period_started_at: "2026-02-01T00:00:00.000Z" });
  await spendThenRefuse(keys, String(28 * 24 * 3600)); // February 2026 has 28 days
});

test("total: never resets and insufficient_quota has no Retry-After", async () => {
  const keys = await budgeted("total");
  const created = await getKey(h.t, keys.proxyKeyId);
  expect(created.budget_period).toBe("total");
  await spendThenRefuse(keys, null);
  h.clock.current = Date.UTC(2027, 0, 1);
  expect(micros((await getKey(h.t, keys.proxyKeyId)).spend_usd)).toBe(COST);
  expectProxyError(await send(keys), 429, "insufficient_quota");
  // The period of a total budget is the key's whole life.
  expect((await getKey(h.t, keys.proxyKeyId)).period_started_at).toBe(created.period_started_at);
});

test("budget_period defaults to total", async () => {
  const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { budget_usd: BUDGET_USD } });
  expect((await getKey(h.t, keys.proxyKeyId)).budget_period).toBe("total");
  await spendThenRefuse(keys, null);
});

test("no Retry-After when even a fresh period could not fit the request", async () => {
  const keys = await budgeted("daily", 0.0001); // 100 µ$ < the 219 µ$ this request may cost
  const refused = await send(keys);
  expectProxyError(refused, 429, "insufficient_quota");
  expect(refused.headers.get("retry-after")).toBeNull();
  expect(h.mock.requests.length).toBe(0);
});

test("PATCH budget_period switches periods; a rename keeps the period", async () => {
  const keys = await budgeted("total");
  expect((await send(keys)).status).toBe(200);
  const daily = await h.t.call("PATCH", `/api/proxy-keys/${keys.proxyKeyId}`, { budget_period: "daily" });
  expect(daily.status).toBe(200);
  expect(daily.json).toMatchObject({ budget_period: "daily", period_started_at: "2026-01-15T00:00:00.000Z" });
  const renamed = await h.t.call("PATCH", `/api/proxy-keys/${keys.proxyKeyId}`, { name: "renamed" });
  expect(renamed.json).toMatchObject({ name: "renamed", budget_period: "daily" });

  h.clock.current = Date.UTC(2026, 0, 16, 6, 0, 0);
  expect(await getKey(h.t, keys.proxyKeyId)).toMatchObject({ spend_usd: 0, period_started_at: "2026-01-16T00:00:00.000Z" });
  expect((await send(keys)).status).toBe(200);
  const refused = await send(keys);
  expectProxyError(refused, 429, "insufficient_quota");
  expect(refused.headers.get("retry-after")).toBe(String(18 * 3600));
});
