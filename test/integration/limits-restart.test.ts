/**
 * Spend survives a restart (else a restart would hand every key a fresh
 * budget): settled spend is written
 * with the request log, `close()` flushes what is queued, and a new process
 * on the same data dir and master key starts from the same spend, the same
 * period, the same log, and keeps enforcing the budget.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createTestApp, TestClock, type TestApp } from "../helpers/app.ts";
import { allLogs, chatJson, getKey, micros, onFile, warnings } from "../helpers/limits.ts";
import { startMockProvider, type MockProvider } from "../helpers/mock-provider.ts";

let mock: MockProvider;
const toClean: TestApp[] = [];

beforeAll(async () => {
  // 200 in, 100 out of gpt-4o-mini: 30 + 60 = 90 µ$ per request; each reserves ~219 µ$.
  mock = await startMockProvider({ usage: { input: 200, output: 100 } });
});
afterAll(async () => {
  for (const t of toClean) await t.cleanup();
  await mock.stop();
});

const body = (extra: Record<string, unknown> = {}) => chatJson("gpt-4o-mini", 1_000, { max_tokens: 100, ...extra });

const ceilingsOnFile = async (dataDir: string) =>
  new Map((await onFile(dataDir, "SELECT proxy_key_id, ceiling_micros FROM budget_ceilings")).map(([id, c]) => [String(id), Number(c)]));
const spendOnFile = async (dataDir: string, id: string) => Number((await onFile(dataDir, `SELECT spend_micros FROM proxy_keys WHERE id = '${id}'`))[0]?.[0]);

test("spend, period and log survive close() and reopening the data dir", async () => {
  const clock = new TestClock();
  // A flush interval far beyond the test: only close() can have written the spend.
  const config = { logFlushIntervalMs: 3_600_000 };
  const first = await createTestApp({ clock, config });
  const provider = await first.call("POST", "/api/provider-keys", { name: "p", provider: "openai", key: "sk-restart-test-0123456789", base_url: mock.baseUrl });
  expect(provider.status).toBe(201);
  // 500 µ$ fits four sequential requests (the fifth would need 360 + 219).
  const total = await first.call("POST", "/api/proxy-keys", { name: "total", provider_key_id: provider.json.id, budget_usd: 0.0005 });
  const daily = await first.call("POST", "/api/proxy-keys", {
    name: "daily",
    provider_key_id: provider.json.id,
    budget_usd: 1,
    budget_period: "daily",
  });

  expect((await first.call("POST", "/v1/chat/completions", body(), { token: total.json.key })).status).toBe(200);
  const streamed = await first.call("POST", "/v1/chat/completions", body({ stream: true }), { token: total.json.key });
  expect(streamed.status).toBe(200);
  expect(streamed.text).toContain("[DONE]");
  for (let i = 0; i < 3; i++) {
    expect((await first.call("POST", "/v1/chat/completions", body(), { token: daily.json.key })).status).toBe(200);
  }
  const before = { total: await getKey(first, total.json.id), daily: await getKey(first, daily.json.id) };
  expect(micros(before.total.spend_usd)).toBe(180);
  expect(micros(before.daily.spend_usd)).toBe(270);
  await first.close();

  const second = await createTestApp({ clock, config, dataDir: first.dataDir, masterKey: first.masterKey, rootToken: first.rootToken });
  toClean.push(second);
  const after = { total: await getKey(second, total.json.id), daily: await getKey(second, daily.json.id) };
  expect(after.total).toMatchObject({
    spend_usd: before.total.spend_usd,
    budget_remaining_usd: before.total.budget_remaining_usd,
    period_started_at: before.total.period_started_at,
    reserved_usd: 0,
  });
  expect(after.daily).toMatchObject({
    spend_usd: before.daily.spend_usd,
    period_started_at: "2026-01-15T00:00:00.000Z",
  });
  const logs = await allLogs(second);
  expect(logs.length).toBe(5);
  expect(logs.reduce((sum, l) => sum + micros(l.cost_usd), 0)).toBe(450);

  // The budget goes on from where it was: two more fit, the fifth does not.
  expect((await second.call("POST", "/v1/chat/completions", body(), { token: total.json.key })).status).toBe(200);
  expect((await second.call("POST", "/v1/chat/completions", body(), { token: total.json.key })).status).toBe(200);
  const refused = await second.call("POST", "/v1/chat/completions", body(), { token: total.json.key });
  expect(refused.status).toBe(429);
  expect(refused.json.error.code).toBe("insufficient_quota");
  expect(micros((await getKey(second, total.json.id)).spend_usd)).toBe(360);
});

test("a period that rolled over while the server was down starts from zero", async () => {
  const clock = new TestClock();
  const first = await createTestApp({ clock });
  const provider = await first.call("POST", "/api/provider-keys", { name: "p", provider: "openai", key: "sk-restart-test-0123456789", base_url: mock.baseUrl });
  const daily = await first.call("POST", "/api/proxy-keys", {
    name: "daily",
    provider_key_id: provider.json.id,
    budget_usd: 1,
    budget_period: "daily",
  });
  expect((await first.call("POST", "/v1/chat/completions", body(), { token: daily.json.key })).status).toBe(200);
  await first.close();

  clock.current = Date.UTC(2026, 0, 17, 9, 0, 0);
  const second = await createTestApp({ clock, dataDir: first.dataDir, masterKey: first.masterKey, rootToken: first.rootToken });
  expect(await getKey(second, daily.json.id)).toMatchObject({ spend_usd: 0, period_started_at: "2026-01-17T00:00:00.000Z" });
  expect((await second.call("POST", "/v1/chat/completions", body(), { token: daily.json.key })).status).toBe(200);
  await second.close();

  // The rollover itself was written too: a third start sees the new period and its spend.
  const third = await createTestApp({ clock, dataDir: first.dataDir, masterKey: first.masterKey, rootToken: first.rootToken });
  toClean.push(third);
  const key = await getKey(third, daily.json.id);
  expect(key.period_started_at).toBe("2026-01-17T00:00:00.000Z");
  expect(micros(key.spend_usd)).toBe(90);
});

test("a clean stop closes the budget ceilings: the restart's spend is the settled spend, nothing burnt", async () => {
  const clock = new TestClock();
  const config = { logFlushIntervalMs: 3_600_000 };
  const first = await createTestApp({ clock, config });
  const provider = await first.call("POST", "/api/provider-keys", { name: "p", provider: "openai", key: "sk-restart-test-0123456789", base_url: mock.baseUrl });
  const key = await first.call("POST", "/api/proxy-keys", { name: "k", provider_key_id: provider.json.id, budget_usd: 0.01 });
  for (let i = 0; i < 3; i++) expect((await first.call("POST", "/v1/chat/completions", body(), { token: key.json.key })).status).toBe(200);
  // The grant is on file before the spend it allows: a slice beyond the 270 µ$ spent.
  expect((await ceilingsOnFile(first.dataDir)).get(key.json.id)).toBeGreaterThan(270);
  await first.close();
  expect((await ceilingsOnFile(first.dataDir)).size).toBe(0);
  expect(await spendOnFile(first.dataDir, key.json.id)).toBe(270);

  const log = warnings();
  const second = await createTestApp({ clock, config, dataDir: first.dataDir, masterKey: first.masterKey, rootToken: first.rootToken, logger: log.logger });
  toClean.push(second);
  expect(micros((await getKey(second, key.json.id)).spend_usd)).toBe(270);
  expect(log.lines).toEqual([]);
});

test("after an unclean stop the restart takes the open ceiling as spent: never less than settled, never past the budget", async () => {
  const clock = new TestClock();
  // Spend never reaches the file on its own: only the ceiling stands between a crash and a reopened budget.
  const config = { logFlushIntervalMs: 3_600_000 };
  const first = await createTestApp({ clock, config });
  const provider = await first.call("POST", "/api/provider-keys", { name: "p", provider: "openai", key: "sk-restart-test-0123456789", base_url: mock.baseUrl });
  // 2,000 µ$: 90 µ$ per request, each reserving up to ~226 µ$.
  const key = await first.call("POST", "/api/proxy-keys", { name: "k", provider_key_id: provider.json.id, budget_usd: 0.002 });
  let settled = 0;
  for (let i = 0; i < 5; i++) {
    expect((await first.call("POST", "/v1/chat/completions", body(), { token: key.json.key })).status).toBe(200);
    settled += 90;
  }
  expect(await spendOnFile(first.dataDir, key.json.id)).toBe(0);
  const ceiling = (await ceilingsOnFile(first.dataDir)).get(key.json.id) ?? 0;
  expect(ceiling).toBeGreaterThanOrEqual(settled);

  // The crash: `first` is never closed, so neither its spend nor a closing of its ceilings is written.
  const log = warnings();
  const second = await createTestApp({ clock, config, dataDir: first.dataDir, masterKey: first.masterKey, rootToken: first.rootToken, logger: log.logger });
  try {
    expect(log.lines).toEqual([{ msg: "Took unclosed budget slices as spent after an unclean stop", keys: 1 }]);
    const spend = micros((await getKey(second, key.json.id)).spend_usd);
    expect(spend).toBe(ceiling);
    expect(spend).toBeGreaterThanOrEqual(settled);
    expect(spend).toBeLessThanOrEqual(2_000);
    expect((await ceilingsOnFile(first.dataDir)).has(key.json.id)).toBe(false);
    // Spending goes on from there, and what both processes let through stays within the budget.
    for (let i = 0; i < 100; i++) {
      const response = await second.call("POST", "/v1/chat/completions", body(), { token: key.json.key });
      if (response.status !== 200) {
        expect(response.status).toBe(429);
        break;
      }
      settled += 90;
    }
    expect(settled).toBeLessThanOrEqual(2_000);
    expect(micros((await getKey(second, key.json.id)).spend_usd)).toBeLessThanOrEqual(2_000);
  } finally {
    await second.cleanup();
    await first.close();
  }
});

test("an admin change of the budget replaces the ceiling: a crash then burns what the new terms cover, not an old slice", async () => {
  const clock = new TestClock();
  const config = { logFlushIntervalMs: 3_600_000 };
  const first = await createTestApp({ clock, config });
  const provider = await first.call("POST", "/api/provider-keys", { name: "p", provider: "openai", key: "sk-restart-test-0123456789", base_url: mock.baseUrl });
  const key = await first.call("POST", "/api/proxy-keys", { name: "k", provider_key_id: provider.json.id, budget_usd: 1 });
  for (let i = 0; i < 2; i++) expect((await first.call("POST", "/v1/chat/completions", body(), { token: key.json.key })).status).toBe(200);
  expect((await ceilingsOnFile(first.dataDir)).get(key.json.id)).toBeGreaterThan(10_000);

  // Lowered: the old grant (a slice of $1) would otherwise be burnt against a budget of $0.0005.
  expect((await first.call("PATCH", `/api/proxy-keys/${key.json.id}`, { budget_usd: 0.0005 })).status).toBe(200);
  expect((await ceilingsOnFile(first.dataDir)).get(key.json.id)).toBe(180);
  // Removed: nothing left to protect, nothing to burn.
  expect((await first.call("PATCH", `/api/proxy-keys/${key.json.id}`, { budget_usd: null })).status).toBe(200);
  expect((await ceilingsOnFile(first.dataDir)).has(key.json.id)).toBe(false);
  // Set again, on a daily period: the day starts at zero spend, and the next request grants a slice of the new budget.
  expect((await first.call("PATCH", `/api/proxy-keys/${key.json.id}`, { budget_usd: 0.0005, budget_period: "daily" })).status).toBe(200);
  expect((await ceilingsOnFile(first.dataDir)).has(key.json.id)).toBe(false);
  expect((await first.call("POST", "/v1/chat/completions", body(), { token: key.json.key })).status).toBe(200);
  const ceiling = (await ceilingsOnFile(first.dataDir)).get(key.json.id) ?? 0;
  expect(ceiling).toBeGreaterThanOrEqual(90);
  expect(ceiling).toBeLessThanOrEqual(500);

  // Crash and restart: today's spend is the new ceiling, within the new budget.
  const second = await createTestApp({ clock, config, dataDir: first.dataDir, masterKey: first.masterKey, rootToken: first.rootToken });
  try {
    expect(await getKey(second, key.json.id)).toMatchObject({ budget_period: "daily", period_started_at: "2026-01-15T00:00:00.000Z" });
    expect(micros((await getKey(second, key.json.id)).spend_usd)).toBe(ceiling);
  } finally {
    await second.cleanup();
    await first.close();
  }
});
