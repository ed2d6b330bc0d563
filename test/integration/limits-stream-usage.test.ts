/**
 * Usage from streams: a stream costs what the same answer costs as JSON (so
 * streaming is no way around a budget); keyward's own `stream_options.include_usage` stays
 * invisible to a client that did not ask for it; a provider key can switch
 * the injection off; Responses API and Anthropic streams are metered too.
 */
import { beforeAll, expect, test } from "bun:test";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { allLogs, byteLength, chatJson, micros, postV1, waitSettled, type LogEntry } from "../helpers/limits.ts";
import { MOCK_TEXT } from "../helpers/mock-provider.ts";
import { chatAnswerText, createKeyPair, sseData, useProxyHarness, type KeyPair } from "../helpers/proxy.ts";

const h = useProxyHarness();
let openai: KeyPair;
let noInject: KeyPair;

beforeAll(async () => {
  openai = await createKeyPair(h.t, { base_url: h.mock.baseUrl });
  noInject = await createKeyPair(h.t, { base_url: h.mock.baseUrl, inject_stream_usage: false });
});

/** The log entries of one key, oldest first, once every request has settled. */
async function logsOf(keys: KeyPair): Promise<LogEntry[]> {
  await waitSettled(h.t);
  return (await allLogs(h.t, `proxy_key_id=${keys.proxyKeyId}`)).reverse();
}

async function lastLog(keys: KeyPair): Promise<LogEntry> {
  const entry = (await logsOf(keys)).at(-1);
  if (!entry) throw new Error("no log entry");
  return entry;
}

/** Ids and timestamps differ between two answers of the mock; everything else must not. */
const normalise = (text: string) => text.replace(/chatcmpl-mock\d+/g, "chatcmpl-X").replace(/"created":\d+/g, '"created":0');

// gpt-4o: $2.50 in, $1.25 cached, $10 out. 800 × 2.5 + 400 × 1.25 + 300 × 10 = 5500 µ$.
const CHAT_USAGE = { input: 1_200, cached: 400, output: 300 };
const CHAT_COST = 5_500;

test("a streamed answer costs exactly what the same answer costs as JSON", async () => {
  h.mock.set({ usage: CHAT_USAGE });
  const body = chatJson("gpt-4o", 2_000, { max_tokens: 500 });
  const plain = await postV1(h.baseUrl, openai.proxyKey, "/chat/completions", body);
  expect(plain.status).toBe(200);
  expect(chatAnswerText(await plain.text())).toBe(MOCK_TEXT);
  const streamed = await postV1(h.baseUrl, openai.proxyKey, "/chat/completions", { ...body, stream: true });
  expect(streamed.status).toBe(200);
  expect(chatAnswerText(await streamed.text())).toBe(MOCK_TEXT);

  const [a, b] = await logsOf(openai);
  expect(a?.streamed).toBe(false);
  expect(b?.streamed).toBe(true);
  for (const entry of [a, b]) {
    expect(entry?.status).toBe(200);
    expect(entry?.input_tokens).toBe(CHAT_USAGE.input);
    expect(entry?.cached_tokens).toBe(CHAT_USAGE.cached);
    expect(entry?.output_tokens).toBe(CHAT_USAGE.output);
    expect(micros(entry?.cost_usd ?? -1)).toBe(CHAT_COST);
  }
});

test("a client that did not ask for usage sees the stream it would have seen without keyward", async () => {
  const body = chatJson("gpt-4o-mini", 50, { stream: true });
  const injected = await (await postV1(h.baseUrl, openai.proxyKey, "/chat/completions", body)).text();
  // keyward asked the provider for usage…
  expect(h.mock.requests[0]?.json?.stream_options).toEqual({ include_usage: true });
  // …and charged it…
  const entry = await lastLog(openai);
  expect(entry.input_tokens).toBe(11);
  expect(entry.output_tokens).toBe(7);
  // …but the client sees no usage chunk and no `usage` key anywhere.
  expect(injected).not.toContain('"usage"');
  const chunks = sseData(injected);
  expect(chunks.at(-1)).toBe("[DONE]");
  for (const data of chunks.slice(0, -1)) {
    const chunk = JSON.parse(data) as { choices: unknown[] };
    expect("usage" in chunk).toBe(false);
    expect(chunk.choices.length).toBe(1);
  }
  // Byte for byte what the provider sends when nobody asks for usage.
  const untouched = await (await postV1(h.baseUrl, noInject.proxyKey, "/chat/completions", body)).text();
  expect(h.mock.requests[1]?.json?.stream_options).toBeUndefined();
  expect(normalise(injected)).toBe(normalise(untouched));
});

test("the OpenAI SDK without include_usage gets no usage in any chunk", async () => {
  const client = new OpenAI({ apiKey: openai.proxyKey, baseURL: h.baseUrl, maxRetries: 0 });
  const stream = await client.chat.completions.create({
    model: "gpt-4o-mini",
    messages: [{ role: "user", content: "hi" }],
    stream: true,
  });
  let text = "";
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    expect("usage" in chunk).toBe(false);
    expect(chunk.choices.length).toBe(1);
    text += chunk.choices[0]?.delta?.content ?? "";
  }
  expect(chunks).toBe(1 + 5 + 1); // role, five deltas, finish
  expect(text).toBe("Hello from the mock provider!");
  expect((await lastLog(openai)).output_tokens).toBe(7);
});

test("a client that asked for usage gets it (the usage chunk and usage: null), untouched", async () => {
  h.mock.set({ usage: CHAT_USAGE });
  const client = new OpenAI({ apiKey: openai.proxyKey, baseURL: h.baseUrl, maxRetries: 0 });
  const stream = await client.chat.completions.create({
    model: "gpt-4o",
    messages: [{ role: "user", content: "y".repeat(2_000) }],
    stream: true,
    stream_options: { include_usage: true },
  });
  const seen: Array<{ choices: number; usage: unknown }> = [];
  for await (const chunk of stream) seen.push({ choices: chunk.choices.length, usage: chunk.usage });
  expect(seen.slice(0, -1).every((c) => c.choices === 1 && c.usage === null)).toBe(true);
  expect(seen.at(-1)).toEqual({
    choices: 0,
    usage: expect.objectContaining({ prompt_tokens: CHAT_USAGE.input, completion_tokens: CHAT_USAGE.output }),
  });
  expect(h.mock.requests[0]?.json?.stream_options).toEqual({ include_usage: true });
  const entry = await lastLog(openai);
  expect(entry.input_tokens).toBe(CHAT_USAGE.input);
  expect(micros(entry.cost_usd)).toBe(CHAT_COST);
});

test("include_usage: false from the client is overridden upstream, other stream_options kept, usage hidden", async () => {
  const body = chatJson("gpt-4o-mini", 50, { stream: true, stream_options: { include_usage: false, include_obfuscation: false } });
  const text = await (await postV1(h.baseUrl, openai.proxyKey, "/chat/completions", body)).text();
  expect(h.mock.requests[0]?.json?.stream_options).toEqual({ include_usage: true, include_obfuscation: false });
  expect(text).not.toContain('"usage"');
  expect((await lastLog(openai)).input_tokens).toBe(11);
});

test("inject_stream_usage: false: the provider gets the body unchanged and the client the stream unchanged", async () => {
  const body = chatJson("gpt-4o-mini", 400, { stream: true });
  const response = await postV1(h.baseUrl, noInject.proxyKey, "/chat/completions", body);
  expect(response.status).toBe(200);
  const text = await response.text();
  const rec = h.mock.requests[0];
  expect(rec?.json?.stream_options).toBeUndefined();
  expect(rec?.body).toBe(JSON.stringify(body));
  expect(text).not.toContain('"usage"');
  // No usage reported: charged by estimate (prompt bytes / 4), not for free.
  const entry = await lastLog(noInject);
  expect(entry.status).toBe(200);
  expect(entry.input_tokens).toBe(Math.ceil(byteLength(JSON.stringify(body)) / 4));
  expect(entry.output_tokens).toBeGreaterThan(0);
  expect(entry.cost_usd).toBeGreaterThan(0);
});

test("Responses API stream: usage read from response.completed; nothing injected", async () => {
  // 800 × 2.5 + 100 × 1.25 + 250 × 10 = 4625 µ$.
  h.mock.set({ usage: { input: 900, cached: 100, output: 250 } });
  const client = new OpenAI({ apiKey: openai.proxyKey, baseURL: h.baseUrl, maxRetries: 0 });
  const stream = await client.responses.create({ model: "gpt-4o", input: "z".repeat(1_500), stream: true });
  let completed = false;
  for await (const event of stream) if (event.type === "response.completed") completed = true;
  expect(completed).toBe(true);
  expect(h.mock.requests[0]?.json?.stream_options).toBeUndefined();
  const entry = await lastLog(openai);
  expect(entry).toMatchObject({ path: "/responses", model: "gpt-4o", streamed: true, status: 200 });
  expect(entry.input_tokens).toBe(900);
  expect(entry.cached_tokens).toBe(100);
  expect(entry.output_tokens).toBe(250);
  expect(micros(entry.cost_usd)).toBe(4_625);

  const plain = await client.responses.create({ model: "gpt-4o", input: "z".repeat(1_500) });
  expect(plain.usage?.input_tokens).toBe(900);
  expect(micros((await lastLog(openai)).cost_usd)).toBe(4_625);
});

test("Anthropic stream: input from message_start (cache reads and writes included), output from message_delta", async () => {
  const keys = await createKeyPair(h.t, { provider: "anthropic", base_url: h.mock.baseUrl });
  h.mock.set({ usage: { input: 100, cached: 300, cacheCreation: 50, output: 40 } });
  const client = new Anthropic({ apiKey: keys.proxyKey, baseURL: h.url, maxRetries: 0 });
  const stream = await client.messages.create({
    model: "claude-sonnet-4-5",
    max_tokens: 100,
    messages: [{ role: "user", content: "w".repeat(1_000) }],
    stream: true,
  });
  let text = "";
  for await (const event of stream) {
    if (event.type === "content_block_delta" && event.delta.type === "text_delta") text += event.delta.text;
  }
  expect(text).toBe("Hello from the mock provider!");
  expect(h.mock.requests[0]?.json?.stream_options).toBeUndefined();
  // claude-sonnet-4-5: $3 in, $0.30 cache read, $15 out; writes 1.25 × in:
  // 100 × 3 + 300 × 0.3 + 50 × 3.75 (187.5, rounded up) + 40 × 15 = 300 + 90 + 188 + 600.
  const expected = 1_178;
  const entry = await lastLog(keys);
  expect(entry).toMatchObject({ path: "/messages", provider: "anthropic", streamed: true, status: 200 });
  expect(entry.input_tokens).toBe(100 + 300 + 50);
  expect(entry.cached_tokens).toBe(300);
  expect(entry.output_tokens).toBe(40); // message_delta replaces message_start's 1
  expect(micros(entry.cost_usd)).toBe(expected);

  const plain = await client.messages.create({
    model: "claude-sonnet-4-5",
    max_tokens: 100,
    messages: [{ role: "user", content: "w".repeat(1_000) }],
  });
  expect(plain.usage.output_tokens).toBe(40);
  const again = await lastLog(keys);
  expect(again.streamed).toBe(false);
  expect(micros(again.cost_usd)).toBe(expected);
});
