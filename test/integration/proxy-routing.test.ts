/**
 * Forwarding with the official SDKs: every client talks to keyward exactly as
 * it would to the provider; the mock (the "provider") sees the real provider
 * key in the header its API expects and never the proxy key; the client never
 * sees the provider key.
 */
import Anthropic from "@anthropic-ai/sdk";
import OpenAI, { AzureOpenAI } from "openai";
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { createKeyPair, expectProxyKeyNeverUpstream, recordingFetch, useProxyHarness, type KeyPair } from "../helpers/proxy.ts";

const TEXT = "Hello from the mock provider!";

const h = useProxyHarness();
let recorder: ReturnType<typeof recordingFetch>;
/** The key pair the current test uses, checked after each test. */
let current: KeyPair | undefined;

beforeEach(() => {
  recorder = recordingFetch();
  current = undefined;
});

afterEach(async () => {
  if (!current) return;
  // The provider never saw the proxy key, in any header, the body, the path or the query.
  expectProxyKeyNeverUpstream(h.mock, current.proxyKey);
  // The client never saw the provider key, in any response header or body.
  const seen = await Promise.all(recorder.seen);
  expect(seen.length).toBeGreaterThan(0);
  for (const text of seen) expect(text).not.toContain(current.providerSecret);
});

function openaiClient(keys: KeyPair, extra: ConstructorParameters<typeof OpenAI>[0] = {}): OpenAI {
  return new OpenAI({ apiKey: keys.proxyKey, baseURL: h.baseUrl, maxRetries: 0, fetch: recorder.fetch, ...extra });
}

async function openaiKeys(provider = "openai"): Promise<KeyPair> {
  current = await createKeyPair(h.t, { provider, base_url: h.mock.baseUrl });
  return current;
}

/** The one upstream request of a test, with the provider key as Bearer and nothing else carrying a credential. */
function expectBearerUpstream(keys: KeyPair, path: string) {
  expect(h.mock.requests).toHaveLength(1);
  const rec = h.mock.requests[0];
  expect(rec?.path).toBe(path);
  expect(rec?.headers.authorization).toBe(`Bearer ${keys.providerSecret}`);
  expect(rec?.headers["x-api-key"]).toBeUndefined();
  expect(rec?.headers["api-key"]).toBeUndefined();
  return rec;
}

describe("OpenAI SDK → provider openai", () => {
  test("chat completion", async () => {
    const keys = await openaiKeys();
    const completion = await openaiClient(keys).chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "hi" }],
    });
    expect(completion.choices[0]?.message.content).toBe(TEXT);
    expect(completion.usage?.total_tokens).toBe(18);
    const rec = expectBearerUpstream(keys, "/v1/chat/completions");
    expect(rec?.method).toBe("POST");
    expect(rec?.json?.model).toBe("gpt-4o-mini");
  });

  test("streamed chat completion", async () => {
    const keys = await openaiKeys();
    const stream = await openaiClient(keys).chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "hi" }],
      stream: true,
    });
    let text = "";
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta.content ?? "";
    }
    expect(text).toBe(TEXT);
    // role chunk + 5 deltas + finish chunk; an injected usage chunk must not reach a client that did not ask for it.
    expect(chunks).toBe(7);
    const rec = expectBearerUpstream(keys, "/v1/chat/completions");
    expect(rec?.streamed).toBe(true);
    expect(rec?.completedAt).toBeDefined();
  });

  test("Responses API, plain", async () => {
    const keys = await openaiKeys();
    const response = await openaiClient(keys).responses.create({ model: "gpt-4o-mini", input: "hi" });
    expect(response.output_text).toBe(TEXT);
    expect(response.usage?.total_tokens).toBe(18);
    expectBearerUpstream(keys, "/v1/responses");
  });

  test("Responses API, streamed", async () => {
    const keys = await openaiKeys();
    const stream = await openaiClient(keys).responses.create({ model: "gpt-4o-mini", input: "hi", stream: true });
    let text = "";
    const types: string[] = [];
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === "response.output_text.delta") text += event.delta;
    }
    expect(text).toBe(TEXT);
    expect(types[0]).toBe("response.created");
    expect(types.at(-1)).toBe("response.completed");
    expectBearerUpstream(keys, "/v1/responses");
  });

  test("embeddings", async () => {
    const keys = await openaiKeys();
    const result = await openaiClient(keys).embeddings.create({
      model: "text-embedding-3-small",
      input: ["a", "b"],
      encoding_format: "float",
      dimensions: 4,
    });
    expect(result.data).toHaveLength(2);
    expect(result.data[0]?.embedding).toHaveLength(4);
    expectBearerUpstream(keys, "/v1/embeddings");
  });

  test("models list (GET)", async () => {
    const keys = await openaiKeys();
    h.mock.set({ models: ["m-1", "m-2"] });
    const ids: string[] = [];
    for await (const model of openaiClient(keys).models.list()) ids.push(model.id);
    expect(ids).toEqual(["m-1", "m-2"]);
    const rec = expectBearerUpstream(keys, "/v1/models");
    expect(rec?.method).toBe("GET");
    expect(rec?.body).toBe("");
  });

  test("the query string is kept", async () => {
    const keys = await openaiKeys();
    await openaiClient(keys, { defaultQuery: { foo: "bar", "api-version": "2025-01-01" } }).models.list();
    expect(h.mock.requests[0]?.query).toEqual({ foo: "bar", "api-version": "2025-01-01" });
  });
});

describe("OpenAI-style providers", () => {
  for (const provider of ["gemini", "openai-compatible"]) {
    test(`${provider}: Bearer provider key upstream`, async () => {
      const keys = await openaiKeys(provider);
      const completion = await openaiClient(keys).chat.completions.create({
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: "hi" }],
      });
      expect(completion.choices[0]?.message.content).toBe(TEXT);
      expectBearerUpstream(keys, "/v1/chat/completions");
    });
  }

  test("azure-openai: api-key header upstream, api-version query kept, no Authorization; a dated api-version goes to the dated API", async () => {
    // Azure's base URL is its v1 API (`…/openai/v1`); the dated API lives beside it (`…/openai/…?api-version=2025-01-01`).
    current = await createKeyPair(h.t, { provider: "azure-openai", base_url: `${h.mock.url}/openai/v1` });
    const keys = current;
    // AzureOpenAI sends the key as `api-key`; Responses is not a deployment-scoped path.
    const azure = new AzureOpenAI({
      apiKey: keys.proxyKey,
      baseURL: h.baseUrl,
      apiVersion: "2025-01-01",
      maxRetries: 0,
      fetch: recorder.fetch,
    });
    const response = await azure.responses.create({ model: "gpt-4o-mini", input: "hi" });
    expect(response.output_text).toBe(TEXT);
    // A plain OpenAI client (Bearer) against the same Azure key, chat path, explicit api-version.
    const completion = await openaiClient(keys, { defaultQuery: { "api-version": "2025-01-01" } }).chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "hi" }],
    });
    expect(completion.choices[0]?.message.content).toBe(TEXT);
    // Without a dated api-version (`preview` included), the v1 API.
    await openaiClient(keys, { defaultQuery: { "api-version": "preview" } }).chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "hi" }],
    });

    expect(h.mock.requests.map((r) => r.path)).toEqual(["/openai/responses", "/openai/chat/completions", "/openai/v1/chat/completions"]);
    expect(h.mock.requests.map((r) => r.query["api-version"])).toEqual(["2025-01-01", "2025-01-01", "preview"]);
    for (const rec of h.mock.requests) {
      expect(rec.headers["api-key"]).toBe(keys.providerSecret);
      expect(rec.headers.authorization).toBeUndefined();
      expect(rec.headers["x-api-key"]).toBeUndefined();
    }
  });
});

describe("Anthropic SDK → provider anthropic (base_url <mock>/v1)", () => {
  async function anthropicClient(): Promise<{ client: Anthropic; keys: KeyPair }> {
    const keys = await createKeyPair(h.t, { provider: "anthropic", base_url: h.mock.baseUrl });
    current = keys;
    const client = new Anthropic({
      apiKey: keys.proxyKey,
      baseURL: h.url,
      maxRetries: 0,
      fetch: recorder.fetch,
      defaultHeaders: { "anthropic-beta": "prompt-caching-2024-07-31" },
    });
    return { client, keys };
  }

  function expectAnthropicUpstream(keys: KeyPair) {
    expect(h.mock.requests).toHaveLength(1);
    const rec = h.mock.requests[0];
    expect(rec?.path).toBe("/v1/messages");
    expect(rec?.headers["x-api-key"]).toBe(keys.providerSecret);
    expect(rec?.headers.authorization).toBeUndefined();
    expect(rec?.headers["api-key"]).toBeUndefined();
    return rec;
  }

  test("message", async () => {
    const { client, keys } = await anthropicClient();
    const withResponse = await client.messages
      .create({ model: "claude-sonnet-4-6", max_tokens: 100, messages: [{ role: "user", content: "hi" }] })
      .withResponse();
    expect(withResponse.data.content[0]).toMatchObject({ type: "text", text: TEXT });
    const rec = expectAnthropicUpstream(keys);
    // The provider's response headers (request-id) reach the client.
    expect(withResponse.response.headers.get("request-id")).toMatch(/^req_mock/);
    // The client's own version and beta headers reach the provider unchanged.
    expect(rec?.headers["anthropic-version"]).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(rec?.headers["anthropic-beta"]).toBe("prompt-caching-2024-07-31");
  });

  test("a custom anthropic-version is passed on as sent", async () => {
    const { client, keys } = await anthropicClient();
    const message = await client.messages.create(
      { model: "claude-sonnet-4-6", max_tokens: 10, messages: [{ role: "user", content: "hi" }] },
      { headers: { "anthropic-version": "2023-06-01" } },
    );
    expect(message.content[0]).toMatchObject({ type: "text", text: TEXT });
    expect(expectAnthropicUpstream(keys)?.headers["anthropic-version"]).toBe("2023-06-01");
  });

  test("streamed message", async () => {
    const { client, keys } = await anthropicClient();
    const final = await client.messages.stream({ model: "claude-sonnet-4-6", max_tokens: 100, messages: [{ role: "user", content: "hi" }] }).finalMessage();
    expect(final.content[0]).toMatchObject({ type: "text", text: TEXT });
    expect(final.usage.output_tokens).toBe(7);
    const rec = expectAnthropicUpstream(keys);
    expect(rec?.streamed).toBe(true);
    expect(rec?.headers["anthropic-version"]).toBeDefined();
  });
});
