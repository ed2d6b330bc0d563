/**
 * A client that walks away: the provider bills what it generated, and the
 * usage event never comes. A budgeted key is charged its reservation (its
 * worst case, so never less than the provider billed); a key without a budget
 * is charged an estimate of what was produced (input from the prompt bytes,
 * output one token per content event). Either way it is logged as 499 and
 * nothing stays held.
 */
import { expect, test } from "bun:test";
import { allLogs, byteLength, chatJson, getKey, micros, postV1, waitFor, waitSettled, type LogEntry } from "../helpers/limits.ts";
import { createKeyPair, useProxyHarness } from "../helpers/proxy.ts";

const h = useProxyHarness();

async function logOf(proxyKeyId: string): Promise<LogEntry> {
  let entry: LogEntry | undefined;
  await waitFor("the aborted request to be logged", async () => {
    [entry] = await allLogs(h.t, `proxy_key_id=${proxyKeyId}`);
    return entry !== undefined;
  });
  if (!entry) throw new Error("unreachable");
  return entry;
}

/** Opens a long chat stream (three events, then silence until the client leaves) and reads its three events. */
async function abortedStream(proxyKey: string): Promise<{ abort: () => void }> {
  h.mock.next({ chunks: 50, quiet: { afterEvents: 3, ms: 600_000 } });
  const controller = new AbortController();
  const body = chatJson("gpt-4o", 2_000, { stream: true, max_tokens: 1_000 });
  const response = await postV1(h.baseUrl, proxyKey, "/chat/completions", body, { signal: controller.signal });
  expect(response.status).toBe(200);
  const reader = response.body?.getReader();
  if (!reader) throw new Error("no body");
  let seen = "";
  const decoder = new TextDecoder();
  while ((seen.match(/\n\n/g) ?? []).length < 3) {
    const { done, value } = await reader.read();
    if (done) throw new Error("stream ended early");
    seen += decoder.decode(value, { stream: true });
  }
  return { abort: () => controller.abort() };
}

test("aborted chat stream on a budgeted key: charged its reservation, logged 499, nothing left held", async () => {
  const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { budget_usd: 1 } });
  const stream = await abortedStream(keys.proxyKey);
  // While the stream runs, its worst case is held against the budget.
  const during = await getKey(h.t, keys.proxyKeyId);
  expect(during.reserved_usd).toBeGreaterThan(0);
  expect(during.spend_usd).toBe(0);

  stream.abort();
  await h.mock.waitForCancellation(5_000);
  const entry = await logOf(keys.proxyKeyId);
  await waitSettled(h.t);

  expect(entry).toMatchObject({ status: 499, streamed: true, model: "gpt-4o", error_code: "client_closed" });
  // The provider's count never came: the reservation is the only cost keyward knows to be enough.
  expect(entry.cost_usd).toBe(during.reserved_usd);
  const after = await getKey(h.t, keys.proxyKeyId);
  expect(after.reserved_usd).toBe(0);
  expect(after.spend_usd).toBe(during.reserved_usd);
  expect(micros(after.budget_remaining_usd ?? -1)).toBe(1_000_000 - micros(during.reserved_usd));
});

test("aborted chat stream on a key without a budget: charged an estimate of what was produced", async () => {
  const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl });
  const stream = await abortedStream(keys.proxyKey);
  stream.abort();
  await h.mock.waitForCancellation(5_000);
  const entry = await logOf(keys.proxyKeyId);
  await waitSettled(h.t);
  expect(entry).toMatchObject({ status: 499, streamed: true, model: "gpt-4o", error_code: "client_closed" });
  // Input: the forwarded prompt's bytes / 4 (no usage event arrived).
  const forwarded = h.mock.requests[0]?.body ?? "";
  expect(entry.input_tokens).toBe(Math.ceil(byteLength(forwarded) / 4));
  // Output: one token per content event seen: the role event and two text deltas.
  expect(entry.output_tokens).toBe(3);
  // gpt-4o: input × 2.5 + output × 10, rounded up per part.
  expect(micros(entry.cost_usd)).toBe(Math.ceil(entry.input_tokens * 2.5) + 3 * 10);
});

test("aborted stream after the provider reported its input: still charged the reservation", async () => {
  // Anthropic reports input in message_start with a provisional output of 1; the stream then stalls before message_delta.
  const anthropic = await createKeyPair(h.t, { provider: "anthropic", base_url: h.mock.baseUrl, proxy: { budget_usd: 1 } });
  h.mock.next({ usage: { input: 300, cached: 0, cacheCreation: 0, output: 50 }, chunks: 10, quiet: { afterEvents: 4, ms: 600_000 } });
  const controller = new AbortController();
  const response = await fetch(`${h.url}/v1/messages`, {
    method: "POST",
    signal: controller.signal,
    headers: { "x-api-key": anthropic.proxyKey, "anthropic-version": "2023-06-01", "content-type": "application/json" },
    body: JSON.stringify({ model: "claude-sonnet-4-5", max_tokens: 200, stream: true, messages: [{ role: "user", content: "q".repeat(1_500) }] }),
  });
  expect(response.status).toBe(200);
  const reader = response.body?.getReader();
  let seen = "";
  while (!seen.includes("content_block_delta")) {
    const chunk = await reader?.read();
    if (!chunk || chunk.done) throw new Error("stream ended early");
    seen += new TextDecoder().decode(chunk.value);
  }
  const during = await getKey(h.t, anthropic.proxyKeyId);
  controller.abort();
  const entry = await logOf(anthropic.proxyKeyId);
  await waitSettled(h.t);
  expect(entry.status).toBe(499);
  // The counts so far are provisional; the provider bills what it generated until it noticed.
  expect(entry.cost_usd).toBe(during.reserved_usd);
  expect(micros(entry.cost_usd)).toBeGreaterThan(300 * 3 + 200 * 15);
  expect(await getKey(h.t, anthropic.proxyKeyId)).toMatchObject({ reserved_usd: 0, spend_usd: during.reserved_usd });
});

test("a client gone before the provider answered: charged the reservation (the provider may be generating), logged 499", async () => {
  const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { budget_usd: 1 } });
  h.mock.next({ headersDelayMs: 60_000 });
  const controller = new AbortController();
  const pending = postV1(h.baseUrl, keys.proxyKey, "/chat/completions", chatJson("gpt-4o", 100), { signal: controller.signal }).catch((e: unknown) => e);
  await waitFor("the request to reach the provider", () => h.mock.requests.length === 1);
  const during = await getKey(h.t, keys.proxyKeyId);
  expect(during.reserved_usd).toBeGreaterThan(0);
  controller.abort();
  expect(await pending).toBeInstanceOf(Error);
  const entry = await logOf(keys.proxyKeyId);
  await waitSettled(h.t);
  expect(entry).toMatchObject({ status: 499, cost_usd: during.reserved_usd, error_code: "client_closed" });
  expect(await getKey(h.t, keys.proxyKeyId)).toMatchObject({ reserved_usd: 0, spend_usd: during.reserved_usd });
});

test("a provider that refuses the connection: nothing was billed, nothing is charged", async () => {
  const closed = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("") });
  const deadUrl = `http://127.0.0.1:${closed.port}/v1`;
  await closed.stop(true);
  const keys = await createKeyPair(h.t, { base_url: deadUrl, proxy: { budget_usd: 1 } });
  const response = await postV1(h.baseUrl, keys.proxyKey, "/chat/completions", chatJson("gpt-4o", 100));
  expect(response.status).toBe(502);
  await waitSettled(h.t);
  expect(await getKey(h.t, keys.proxyKeyId)).toMatchObject({ reserved_usd: 0, spend_usd: 0 });
});

test("an upstream error releases the reservation and charges nothing", async () => {
  const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { budget_usd: 1 } });
  h.mock.next({ error: { status: 500 } });
  const response = await postV1(h.baseUrl, keys.proxyKey, "/chat/completions", chatJson("gpt-4o", 100, { stream: true }));
  expect(response.status).toBe(500);
  // The provider's own error, passed through.
  expect(await response.json()).toEqual({ error: { message: "Mock upstream error 500", type: "server_error", param: null, code: null } });
  await waitSettled(h.t);
  expect(await getKey(h.t, keys.proxyKeyId)).toMatchObject({ reserved_usd: 0, spend_usd: 0 });
  expect(await logOf(keys.proxyKeyId)).toMatchObject({ status: 500, cost_usd: 0 });
});
