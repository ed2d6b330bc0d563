/**
 * rpm, tpm and max_concurrency, on the injected clock: the
 * request over the limit is 429 rate_limit_exceeded with an exact
 * Retry-After, OpenAI-style x-keyward-ratelimit-* headers come with every response
 * of a limited key, and the limit lifts when the window has moved on.
 */
import { expect, test } from "bun:test";
import { chatJson, postV1, waitFor, waitSettled } from "../helpers/limits.ts";
import { createKeyPair, expectProxyError, useProxyHarness } from "../helpers/proxy.ts";

const h = useProxyHarness();

const SECOND = 1000;

async function send(proxyKey: string, body: Record<string, unknown> = chatJson("gpt-4o-mini", 20)) {
  const response = await postV1(h.baseUrl, proxyKey, "/chat/completions", body);
  return { status: response.status, headers: response.headers, text: await response.text() };
}

const rate = (headers: Headers) => ({
  limit: headers.get("x-keyward-ratelimit-limit-requests"),
  remaining: headers.get("x-keyward-ratelimit-remaining-requests"),
  reset: headers.get("x-keyward-ratelimit-reset-requests"),
});

test("rpm: the (rpm+1)th request in a sliding minute is refused with an exact Retry-After", async () => {
  const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { rpm: 3 } });
  const start = h.clock.now(); // 12:00:00.000

  const first = await send(keys.proxyKey);
  expect(first.status).toBe(200);
  // Counted on admission: this response already includes itself.
  expect(rate(first.headers)).toEqual({ limit: "3", remaining: "2", reset: "60s" });
  h.clock.advance(20 * SECOND);
  const second = await send(keys.proxyKey);
  expect(rate(second.headers)).toEqual({ limit: "3", remaining: "1", reset: "60s" });
  h.clock.advance(20 * SECOND);
  const third = await send(keys.proxyKey);
  expect(rate(third.headers)).toEqual({ limit: "3", remaining: "0", reset: "60s" });
  expect(h.mock.requests.length).toBe(3);

  h.clock.advance(5 * SECOND); // t = 45 s
  const refused = await send(keys.proxyKey);
  expectProxyError(refused, 429, "rate_limit_exceeded");
  // The request of t = 0 leaves the window at t = 60.
  expect(refused.headers.get("retry-after")).toBe("15");
  expect(rate(refused.headers)).toEqual({ limit: "3", remaining: "0", reset: "55s" });
  expect(h.mock.requests.length).toBe(3); // never forwarded

  h.clock.advance(14 * SECOND); // t = 59 s: one second short
  const stillRefused = await send(keys.proxyKey);
  expectProxyError(stillRefused, 429, "rate_limit_exceeded");
  expect(stillRefused.headers.get("retry-after")).toBe("1");

  h.clock.advance(1 * SECOND); // t = 60 s
  expect(h.clock.now() - start).toBe(60 * SECOND);
  const passes = await send(keys.proxyKey);
  expect(passes.status).toBe(200);
  expect(rate(passes.headers).remaining).toBe("0");
  // Next slot: the request of t = 20 leaves at t = 80.
  const next = await send(keys.proxyKey);
  expectProxyError(next, 429, "rate_limit_exceeded");
  expect(next.headers.get("retry-after")).toBe("20");
});

test("rpm: refused requests do not use up the window", async () => {
  const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { rpm: 1 } });
  expect((await send(keys.proxyKey)).status).toBe(200);
  for (let i = 0; i < 3; i++) {
    h.clock.advance(10 * SECOND);
    expect((await send(keys.proxyKey)).status).toBe(429);
  }
  h.clock.advance(30 * SECOND); // 60 s after the only admitted request
  expect((await send(keys.proxyKey)).status).toBe(200);
});

test("tpm: a minute's tokens (input + output) used up → 429 until they leave the window", async () => {
  h.mock.set({ usage: { input: 700, output: 600 } });
  const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { tpm: 2_000 } });
  // Its bound: about 280 bytes of prompt + 600 output tokens, held against the minute while it runs.
  const body = chatJson("gpt-4o-mini", 200, { max_tokens: 600 });

  const first = await send(keys.proxyKey, body);
  expect(first.status).toBe(200);
  expect(first.headers.get("x-keyward-ratelimit-limit-tokens")).toBe("2000");
  const remaining = Number(first.headers.get("x-keyward-ratelimit-remaining-tokens"));
  expect(remaining).toBeGreaterThan(2_000 - 1_000); // the bound is held while the request runs…
  expect(remaining).toBeLessThan(2_000 - 600);
  expect(first.headers.get("x-keyward-ratelimit-limit-requests")).toBeNull(); // no rpm on this key
  await waitSettled(h.t);

  // …and replaced by the 1,300 tokens it used: 1,300 + another bound no longer fit in 2,000.
  h.clock.advance(10 * SECOND);
  const refused = await send(keys.proxyKey, body);
  expectProxyError(refused, 429, "rate_limit_exceeded");
  expect(refused.headers.get("retry-after")).toBe("50");
  expect(refused.headers.get("x-should-retry")).toBeNull(); // worth retrying: the SDK waits it out
  expect(refused.headers.get("x-keyward-ratelimit-remaining-tokens")).toBe("700");
  expect(refused.headers.get("x-keyward-ratelimit-reset-tokens")).toBe("50s");
  expect(h.mock.requests.length).toBe(1);

  h.clock.advance(50 * SECOND);
  const passes = await send(keys.proxyKey, body);
  expect(passes.status).toBe(200);
});

test("tpm counts streamed usage too", async () => {
  h.mock.set({ usage: { input: 300, output: 800 } });
  const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { tpm: 2_000 } });
  const body = chatJson("gpt-4o-mini", 200, { max_tokens: 800, stream: true });
  const streamed = await send(keys.proxyKey, body);
  expect(streamed.status).toBe(200);
  await waitSettled(h.t);
  const refused = await send(keys.proxyKey, body);
  expectProxyError(refused, 429, "rate_limit_exceeded");
  expect(refused.headers.get("retry-after")).toBe("60");
});

test("tpm: a request whose bound alone exceeds the limit is refused for good, not retried", async () => {
  const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { tpm: 1_000 } });
  const refused = await send(keys.proxyKey, chatJson("gpt-4o-mini", 20, { max_tokens: 5_000 }));
  const body = expectProxyError(refused, 429, "rate_limit_exceeded");
  expect(body.error.message).toContain("1000 per minute");
  expect(refused.headers.get("retry-after")).toBeNull();
  expect(refused.headers.get("x-should-retry")).toBe("false");
  expect(h.mock.requests.length).toBe(0);
});

test("x-keyward-ratelimit-* come with every response of a limited key, errors included", async () => {
  const keys = await createKeyPair(h.t, {
    base_url: h.mock.baseUrl,
    proxy: { rpm: 100, tpm: 100_000, allowed_models: ["gpt-4o-mini"], budget_usd: 0.000001 },
  });
  const check = (res: { headers: Headers }) => {
    expect(res.headers.get("x-keyward-ratelimit-limit-requests")).toBe("100");
    expect(res.headers.get("x-keyward-ratelimit-remaining-requests")).not.toBeNull();
    expect(res.headers.get("x-keyward-ratelimit-limit-tokens")).toBe("100000");
    expect(res.headers.get("x-keyward-ratelimit-remaining-tokens")).not.toBeNull();
  };
  const models = await fetch(`${h.baseUrl}/models`, { headers: { authorization: `Bearer ${keys.proxyKey}` } });
  expect(models.status).toBe(200);
  check(models);
  // Refused by keyward: wrong model, over budget.
  const wrongModel = await send(keys.proxyKey, chatJson("gpt-4o", 20));
  expectProxyError(wrongModel, 403, "model_not_allowed");
  check(wrongModel);
  const overBudget = await send(keys.proxyKey, chatJson("gpt-4o-mini", 20));
  expectProxyError(overBudget, 429, "insufficient_quota");
  check(overBudget);
  // An upstream error passes through, with the key's headers.
  const unbudgeted = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { rpm: 100, tpm: 100_000 } });
  h.mock.next({ error: { status: 500 } });
  const upstreamError = await send(unbudgeted.proxyKey);
  expect(upstreamError.status).toBe(500);
  check(upstreamError);
});

test("max_concurrency: a third stream while two are open is refused; a slot frees when one ends", async () => {
  const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { max_concurrency: 2 } });
  const streamBody = chatJson("gpt-4o-mini", 20, { stream: true });
  // Two slow streams: the provider sends a first event, then nothing until the client leaves.
  const slow = { quiet: { afterEvents: 1, ms: 600_000 } };
  h.mock.next(slow);
  h.mock.next(slow);
  const a = new AbortController();
  const b = new AbortController();
  const first = await postV1(h.baseUrl, keys.proxyKey, "/chat/completions", streamBody, { signal: a.signal });
  const second = await postV1(h.baseUrl, keys.proxyKey, "/chat/completions", streamBody, { signal: b.signal });
  expect([first.status, second.status]).toEqual([200, 200]);

  const third = await send(keys.proxyKey, streamBody);
  expectProxyError(third, 429, "rate_limit_exceeded");
  expect(third.headers.get("retry-after")).toBe("1");
  expect(JSON.parse(third.text).error.message).toContain("2 at a time");
  expect(h.mock.requests.length).toBe(2);

  a.abort();
  await first.body?.cancel().catch(() => {});
  await waitFor("one slot to free", () => h.t.services.gate.inFlightCount() === 1);
  const fourth = await send(keys.proxyKey, streamBody);
  expect(fourth.status).toBe(200);
  expect(fourth.text).toContain("data: [DONE]");
  // Still one open: a second extra stream right now is fine, a third is not.
  h.mock.next(slow);
  const c = new AbortController();
  const fifth = await postV1(h.baseUrl, keys.proxyKey, "/chat/completions", streamBody, { signal: c.signal });
  expect(fifth.status).toBe(200);
  expectProxyError(await send(keys.proxyKey), 429, "rate_limit_exceeded");

  b.abort();
  c.abort();
  await second.body?.cancel().catch(() => {});
  await fifth.body?.cancel().catch(() => {});
  await waitSettled(h.t);
  expect((await send(keys.proxyKey)).status).toBe(200);
});
