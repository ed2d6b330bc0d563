/**
 * Limit fields on proxy keys: set at creation,
 * changed and removed by PATCH, shown in get and list with the money view
 * (spend, reserved, remaining, period start); invalid values are 422.
 */
import { expect, test } from "bun:test";
import { createProviderKey, createProxyKey, expectError, useApp } from "../helpers/admin-fixtures.ts";

const app = useApp();

const LIMITS = {
  allowed_models: ["gpt-4o-mini", "gpt-4o"],
  rpm: 60,
  tpm: 100_000,
  max_concurrency: 4,
  budget_usd: 12.5,
  budget_period: "weekly",
};

test("limits given at creation are shown by create, get and list", async () => {
  const provider = await createProviderKey(app());
  const created = await app().call("POST", "/api/proxy-keys", { name: "limited", provider_key_id: provider.id, ...LIMITS });
  expect(created.status).toBe(201);
  const expected = {
    ...LIMITS,
    spend_usd: 0,
    reserved_usd: 0,
    budget_remaining_usd: 12.5,
    period_started_at: "2026-01-12T00:00:00.000Z", // Monday of the TestClock's week
  };
  expect(created.json).toMatchObject(expected);
  expect((await app().call("GET", `/api/proxy-keys/${created.json.id}`)).json).toMatchObject(expected);
  const listed = await app().call("GET", "/api/proxy-keys");
  expect(listed.json.data.find((k: { id: string }) => k.id === created.json.id)).toMatchObject(expected);
});

test("a key without limits shows nulls, a total period and no remaining budget", async () => {
  const provider = await createProviderKey(app());
  const key = await createProxyKey(app(), provider.id);
  const got = await app().call("GET", `/api/proxy-keys/${key.id}`);
  expect(got.json).toMatchObject({
    allowed_models: null,
    rpm: null,
    tpm: null,
    max_concurrency: null,
    budget_usd: null,
    budget_period: "total",
    spend_usd: 0,
    reserved_usd: 0,
    budget_remaining_usd: null,
    period_started_at: got.json.created_at,
  });
});

test("PATCH sets, changes and (with null) removes each limit; absent fields stay", async () => {
  const provider = await createProviderKey(app());
  const key = await createProxyKey(app(), provider.id);
  const set = await app().call("PATCH", `/api/proxy-keys/${key.id}`, LIMITS);
  expect(set.status).toBe(200);
  expect(set.json).toMatchObject(LIMITS);

  const changed = await app().call("PATCH", `/api/proxy-keys/${key.id}`, { rpm: 10, budget_usd: 3 });
  expect(changed.json).toMatchObject({ ...LIMITS, rpm: 10, budget_usd: 3, budget_remaining_usd: 3 });

  const removed = await app().call("PATCH", `/api/proxy-keys/${key.id}`, {
    allowed_models: null,
    rpm: null,
    tpm: null,
    max_concurrency: null,
    budget_usd: null,
  });
  expect(removed.json).toMatchObject({
    allowed_models: null,
    rpm: null,
    tpm: null,
    max_concurrency: null,
    budget_usd: null,
    budget_remaining_usd: null,
    budget_period: "weekly",
  });
  expect((await app().call("GET", `/api/proxy-keys/${key.id}`)).json).toMatchObject({ rpm: null, budget_period: "weekly" });
});

test("invalid limits are 422 naming the field", async () => {
  const provider = await createProviderKey(app());
  const bad: Array<[Record<string, unknown>, string]> = [
    [{ rpm: 0 }, "rpm"],
    [{ tpm: -5 }, "tpm"],
    [{ max_concurrency: 1.5 }, "max_concurrency"],
    [{ budget_usd: -1 }, "budget_usd"],
    [{ budget_usd: 1_000_001 }, "budget_usd"],
    [{ budget_period: "hourly" }, "budget_period"],
    [{ allowed_models: "gpt-4o" }, "allowed_models"],
    [{ allowed_models: [""] }, "allowed_models"],
  ];
  for (const [fields, field] of bad) {
    const res = await app().call("POST", "/api/proxy-keys", { name: "bad", provider_key_id: provider.id, ...fields });
    if (res.status !== 422) throw new Error(`${JSON.stringify(fields)}: expected 422, got ${res.status}: ${res.text}`);
    expect(res.json.error.code).toBe("validation_failed");
    expect(String(res.json.error.field)).toStartWith(field);
  }
  const key = await createProxyKey(app(), provider.id);
  expectError(await app().call("PATCH", `/api/proxy-keys/${key.id}`, { rpm: 0 }), 422, "validation_failed", "rpm");
  expectError(await app().call("PATCH", `/api/proxy-keys/${key.id}`, { budget_period: null }), 422, "validation_failed", "budget_period");
});

test("budget money is exact: micro-dollar budgets round-trip", async () => {
  const provider = await createProviderKey(app());
  const created = await app().call("POST", "/api/proxy-keys", { name: "tiny", provider_key_id: provider.id, budget_usd: 0.000123 });
  expect(created.json.budget_usd).toBe(0.000123);
  expect(created.json.budget_remaining_usd).toBe(0.000123);
  const sum = await app().call("PATCH", `/api/proxy-keys/${created.json.id}`, { budget_usd: 0.1 + 0.2 });
  expect(sum.json.budget_usd).toBe(0.3);
});
