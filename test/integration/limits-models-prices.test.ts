/**
 * allowed_models and pricing: a model outside the allow-list is 403 naming
 * it; a budgeted key refuses a model without a price until an admin sets
 * one (a budget cannot hold spend it cannot price); overrides replace built-in prices and
 * DELETE brings the built-in back; dated names are priced by their base
 * through the date suffix only, never by a shared prefix.
 */
import { expect, test } from "bun:test";
import { allLogs, chatJson, getKey, micros, postV1, waitSettled } from "../helpers/limits.ts";
import { createKeyPair, expectProxyError, useProxyHarness, type KeyPair } from "../helpers/proxy.ts";

// Realistic usage for a 2000-character prompt with max_tokens 500.
const USAGE = { input: 1_000, output: 400, cached: 0 };

const h = useProxyHarness({ mock: { usage: USAGE } });

async function send(keys: KeyPair, model: string) {
  const response = await postV1(h.baseUrl, keys.proxyKey, "/chat/completions", chatJson(model, 2_000, { max_tokens: 500 }));
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/** Cost of the latest answered request (folded refusal rows are written later than the requests around them). */
async function lastCost(keys: KeyPair): Promise<number> {
  await waitSettled(h.t);
  const latest = (await allLogs(h.t, `proxy_key_id=${keys.proxyKeyId}`)).find((l) => l.status === 200);
  if (!latest) throw new Error("no log entry");
  return micros(latest.cost_usd);
}

test("allowed_models: another model is 403 model_not_allowed naming it, and never forwarded", async () => {
  const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { allowed_models: ["gpt-4o-mini", "gpt-4o"] } });
  expect((await send(keys, "gpt-4o-mini")).status).toBe(200);
  expect((await send(keys, "gpt-4o")).status).toBe(200);
  const refused = await send(keys, "gpt-4.1");
  const body = expectProxyError(refused, 403, "model_not_allowed");
  expect(body.error.message).toContain("gpt-4.1");
  // Exact names: a dated variant of an allowed model is another model.
  expectProxyError(await send(keys, "gpt-4o-2024-08-06"), 403, "model_not_allowed");
  expect(h.mock.requests.map((r) => r.json?.model)).toEqual(["gpt-4o-mini", "gpt-4o"]);
  const [latest] = await allLogs(h.t, `proxy_key_id=${keys.proxyKeyId}`);
  // Both refusals in one row, folded by key, code and minute; it names the first refused model.
  expect(latest).toMatchObject({ status: 403, error_code: "model_not_allowed", model: "gpt-4.1", count: 2 });
});

test("allowed_models: an empty list allows nothing; PATCH null lifts the restriction", async () => {
  const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { allowed_models: [] } });
  expectProxyError(await send(keys, "gpt-4o-mini"), 403, "model_not_allowed");
  const patched = await h.t.call("PATCH", `/api/proxy-keys/${keys.proxyKeyId}`, { allowed_models: null });
  expect(patched.json.allowed_models).toBeNull();
  expect((await send(keys, "gpt-4o-mini")).status).toBe(200);
});

test("a budgeted key refuses a model without a price; PUT /api/prices fixes it, DELETE undoes it", async () => {
  const budgeted = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { budget_usd: 5 } });
  const free = await createKeyPair(h.t, { base_url: h.mock.baseUrl });

  const refused = await send(budgeted, "acme-large");
  expect(expectProxyError(refused, 403, "model_price_unknown").error.message).toContain("acme-large");
  expect(h.mock.requests.length).toBe(0);
  // A key without a budget is not refused (and its request costs nothing known).
  expect((await send(free, "acme-large")).status).toBe(200);
  expect(await lastCost(free)).toBe(0);

  const put = await h.t.call("PUT", "/api/prices/acme-large", {
    input_per_million_usd: 4,
    output_per_million_usd: 20,
    cached_input_per_million_usd: 1,
  });
  expect(put.status).toBe(200);
  expect(put.json).toEqual({
    model: "acme-large",
    input_per_million_usd: 4,
    cached_input_per_million_usd: 1,
    output_per_million_usd: 20,
    source: "override",
  });
  expect((await send(budgeted, "acme-large")).status).toBe(200);
  // 1000 × 4 + 400 × 20 = 12000 µ$.
  expect(await lastCost(budgeted)).toBe(12_000);
  expect(micros((await getKey(h.t, budgeted.proxyKeyId)).spend_usd)).toBe(12_000);

  const del = await h.t.call("DELETE", "/api/prices/acme-large");
  expect(del.status).toBe(200);
  expect(del.json).toEqual({ deleted: true, model: "acme-large" });
  expectProxyError(await send(budgeted, "acme-large"), 403, "model_price_unknown");
  expect((await h.t.call("DELETE", "/api/prices/acme-large")).status).toBe(404);
});

test("overriding a built-in price changes what requests cost; DELETE restores the built-in price", async () => {
  const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { budget_usd: 5 } });
  // Built-in gpt-4o: 1000 × 2.5 + 400 × 10 = 6500 µ$.
  expect((await send(keys, "gpt-4o")).status).toBe(200);
  expect(await lastCost(keys)).toBe(6_500);

  const put = await h.t.call("PUT", "/api/prices/gpt-4o", { input_per_million_usd: 1, output_per_million_usd: 2 });
  expect(put.json).toMatchObject({
    model: "gpt-4o",
    input_per_million_usd: 1,
    output_per_million_usd: 2,
    cached_input_per_million_usd: null,
    source: "override",
  });
  expect((await send(keys, "gpt-4o")).status).toBe(200);
  expect(await lastCost(keys)).toBe(1_000 + 800);
  // The dated snapshot follows the override of its base entry.
  expect((await send(keys, "gpt-4o-2024-08-06")).status).toBe(200);
  expect(await lastCost(keys)).toBe(1_800);

  const listed = await h.t.call("GET", "/api/prices");
  expect(listed.json.data.find((p: { model: string }) => p.model === "gpt-4o")).toMatchObject({ source: "override", input_per_million_usd: 1 });

  expect((await h.t.call("DELETE", "/api/prices/gpt-4o")).status).toBe(200);
  expect((await send(keys, "gpt-4o")).status).toBe(200);
  expect(await lastCost(keys)).toBe(6_500);
  const restored = await h.t.call("GET", "/api/prices");
  expect(restored.json.data.find((p: { model: string }) => p.model === "gpt-4o")).toEqual({
    model: "gpt-4o",
    input_per_million_usd: 2.5,
    cached_input_per_million_usd: 1.25,
    output_per_million_usd: 10,
    source: "builtin",
    tiers: { priority: { input_per_million_usd: 4.25, cached_input_per_million_usd: 2.125, output_per_million_usd: 17 } },
  });
});

test("dated model names are priced as their base entry (gpt-4o-2024-08-06 as gpt-4o)", async () => {
  const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { budget_usd: 5 } });
  expect((await send(keys, "gpt-4o-2024-08-06")).status).toBe(200);
  expect(await lastCost(keys)).toBe(6_500);
  expect((await send(keys, "gpt-4o-mini-2024-07-18")).status).toBe(200);
  // gpt-4o-mini, not gpt-4o: 1000 × 0.15 + 400 × 0.6 = 390 µ$.
  expect(await lastCost(keys)).toBe(390);
  // An unknown base stays unknown, dated or not.
  expectProxyError(await send(keys, "acme-small-2024-08-06"), 403, "model_price_unknown");
  // The first gpt-4o snapshot has its own, higher price: 1000 × 5 + 400 × 15.
  expect((await send(keys, "gpt-4o-2024-05-13")).status).toBe(200);
  expect(await lastCost(keys)).toBe(11_000);
  // claude-sonnet-4-5-20250929 is claude-sonnet-4-5 through its date: 1000 × 3 + 400 × 15.
  expect((await send(keys, "claude-sonnet-4-5-20250929")).status).toBe(200);
  expect(await lastCost(keys)).toBe(9_000);
});

test("a shared prefix prices nothing: gpt-5-pro has its own price, claude-sonnet-4-6 none", async () => {
  const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { budget_usd: 5 } });
  // gpt-5-pro, not gpt-5 ($1.25 / $10): 1000 × 15 + 400 × 120.
  expect((await send(keys, "gpt-5-pro")).status).toBe(200);
  expect(await lastCost(keys)).toBe(63_000);
  const refused = expectProxyError(await send(keys, "claude-sonnet-4-6"), 403, "model_price_unknown");
  expect(refused.error.message).toContain("PUT /api/prices/claude-sonnet-4-6");
  expectProxyError(await send(keys, "gpt-5-search-api"), 403, "model_price_unknown");
  expect(h.mock.requests.map((r) => r.json?.model)).toEqual(["gpt-5-pro"]);
});

test("GET /api/prices states the built-in table's date and sources and lists the snapshots it prices apart", async () => {
  const listed = await h.t.call("GET", "/api/prices");
  expect(listed.status).toBe(200);
  expect(listed.json.next_cursor).toBeNull();
  expect(listed.json.builtin_as_of).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  expect(listed.json.builtin_sources).toEqual(expect.arrayContaining(["https://platform.openai.com/docs/pricing"]));
  for (const url of listed.json.builtin_sources as string[]) expect(url).toStartWith("https://");
  const byModel = new Map((listed.json.data as Array<{ model: string }>).map((p) => [p.model, p]));
  expect(byModel.get("gpt-4o-2024-05-13")).toMatchObject({ input_per_million_usd: 5, cached_input_per_million_usd: null, output_per_million_usd: 15 });
  expect(byModel.get("gpt-5-pro")).toMatchObject({ input_per_million_usd: 15, output_per_million_usd: 120, source: "builtin" });
  expect(byModel.get("claude-sonnet-4-5")).toMatchObject({
    input_per_million_usd: 3,
    output_per_million_usd: 15,
    long_context: { above_input_tokens: 200_000, input_per_million_usd: 6, cached_input_per_million_usd: 0.6, output_per_million_usd: 22.5 },
  });
  expect(byModel.has("claude-sonnet-4-6")).toBe(false);
  // claude-haiku-4 was a prefix for newer Haiku models, not a model; claude-haiku-4-5 is listed by name.
  expect(byModel.has("claude-haiku-4")).toBe(false);
  expect(byModel.get("claude-haiku-4-5")).toMatchObject({ input_per_million_usd: 1, output_per_million_usd: 5 });
  // An override is a single standard rate: it carries no tiers or long-context rates.
  const put = await h.t.call("PUT", "/api/prices/gemini-2.5-pro", { input_per_million_usd: 1.25, output_per_million_usd: 10 });
  expect(put.json).not.toHaveProperty("long_context");
  expect((await h.t.call("DELETE", "/api/prices/gemini-2.5-pro")).status).toBe(200);
});

test("GET /api/prices lists built-ins with USD per million; bad PUT bodies are 422", async () => {
  const listed = await h.t.call("GET", "/api/prices");
  expect(listed.status).toBe(200);
  const models = (listed.json.data as Array<{ model: string }>).map((p) => p.model);
  expect(models).toContain("gpt-4o-mini");
  expect(models).toContain("claude-sonnet-4");
  expect(listed.json.data.find((p: { model: string }) => p.model === "gpt-4o-mini")).toEqual({
    model: "gpt-4o-mini",
    input_per_million_usd: 0.15,
    cached_input_per_million_usd: 0.075,
    output_per_million_usd: 0.6,
    source: "builtin",
  });
  expect((await h.t.call("PUT", "/api/prices/x", { input_per_million_usd: -1, output_per_million_usd: 1 })).status).toBe(422);
  expect((await h.t.call("PUT", "/api/prices/x", { input_per_million_usd: 1 })).status).toBe(422);
  expect((await h.t.call("PUT", "/api/prices/x", { input_per_million_usd: 1, output_per_million_usd: 1, extra: 1 })).status).toBe(422);
});
