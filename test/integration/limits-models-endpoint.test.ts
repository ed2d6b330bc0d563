/**
 * Requests that name no model and produce no usage (GET /v1/models) are
 * neither charged nor refused by a budget, even when the
 * budget is gone, while priced requests on the same key are refused.
 */
import { expect, test } from "bun:test";
import OpenAI from "openai";
import { allLogs, chatJson, getKey, micros, postV1, waitSettled } from "../helpers/limits.ts";
import { MOCK_TEXT } from "../helpers/mock-provider.ts";
import { chatAnswerText, createKeyPair, expectProxyError, readText, useProxyHarness } from "../helpers/proxy.ts";

const h = useProxyHarness({ mock: { usage: { input: 200, output: 100 } } });

test("GET /v1/models works with an exhausted budget and costs nothing", async () => {
  const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { budget_usd: 0.001, budget_period: "daily" } });
  const spent = await postV1(h.baseUrl, keys.proxyKey, "/chat/completions", chatJson("gpt-4o-mini", 1_000, { max_tokens: 100 }));
  expect(spent.status).toBe(200);
  expect(chatAnswerText(await spent.text())).toBe(MOCK_TEXT);
  await waitSettled(h.t);
  // Cut the budget below what was spent: nothing is left.
  const patched = await h.t.call("PATCH", `/api/proxy-keys/${keys.proxyKeyId}`, { budget_usd: 0.00005 });
  expect(patched.status).toBe(200);
  expect(patched.json.budget_remaining_usd).toBeLessThan(0);
  const spendBefore = micros(patched.json.spend_usd);
  expect(spendBefore).toBe(90);

  const chat = await postV1(h.baseUrl, keys.proxyKey, "/chat/completions", chatJson("gpt-4o-mini", 10, { max_tokens: 1 }));
  expectProxyError({ status: chat.status, headers: chat.headers, text: await chat.text() }, 429, "insufficient_quota");

  const client = new OpenAI({ apiKey: keys.proxyKey, baseURL: h.baseUrl, maxRetries: 0 });
  const ids: string[] = [];
  for await (const model of client.models.list()) ids.push(model.id);
  expect(ids).toContain("gpt-4o-mini");
  const raw = await fetch(`${h.baseUrl}/models`, { headers: { authorization: `Bearer ${keys.proxyKey}` } });
  expect(raw.status).toBe(200);
  expect(((await raw.json()) as { data: Array<{ id: string }> }).data.map((m) => m.id)).toEqual(ids);
  await waitSettled(h.t);

  const key = await getKey(h.t, keys.proxyKeyId);
  expect(micros(key.spend_usd)).toBe(spendBefore);
  expect(key.reserved_usd).toBe(0);
  const listed = (await allLogs(h.t, `proxy_key_id=${keys.proxyKeyId}`)).filter((l) => l.path === "/models");
  expect(listed.length).toBe(2);
  for (const entry of listed) {
    expect(entry).toMatchObject({ status: 200, model: null, cost_usd: 0, input_tokens: 0, output_tokens: 0, error_code: null });
  }
});

test("a key with a zero budget can still list models", async () => {
  const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { budget_usd: 0 } });
  const raw = await fetch(`${h.baseUrl}/models`, { headers: { authorization: `Bearer ${keys.proxyKey}` } });
  expect(raw.status).toBe(200);
  expect(((await raw.json()) as { data: unknown[] }).data.length).toBeGreaterThan(0);
  const chat = await postV1(h.baseUrl, keys.proxyKey, "/chat/completions", chatJson("gpt-4o-mini", 10, { max_tokens: 1 }));
  expectProxyError(await readText(chat), 429, "insufficient_quota");
  expect((await getKey(h.t, keys.proxyKeyId)).spend_usd).toBe(0);
});
