/**
 * Proves the mock provider's Gemini routes speak Google's wire format, as far
 * as the official `@google/genai` SDK can tell (pointed at the mock directly,
 * no keyward), under both API versions it serves.
 */
import { ApiError, FinishReason, GoogleGenAI } from "@google/genai";
import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { MOCK_TEXT, startMockProvider, type MockProvider } from "../helpers/mock-provider.ts";

let mock: MockProvider;
/** The SDK's default API version (`v1` in 3.6.1). */
let genai: GoogleGenAI;
let beta: GoogleGenAI;

beforeAll(async () => {
  mock = await startMockProvider();
  genai = new GoogleGenAI({ apiKey: "goog-test", httpOptions: { baseUrl: mock.url } });
  beta = new GoogleGenAI({ apiKey: "goog-test", httpOptions: { baseUrl: mock.url, apiVersion: "v1beta" } });
});
afterAll(() => mock.stop());
beforeEach(() => mock.reset());

const contents = "Say hi";

describe("generateContent", () => {
  test("JSON with usageMetadata; the request is recorded with the model from the path", async () => {
    mock.set({ usage: { input: 20, output: 9 } });
    const response = await genai.models.generateContent({ model: "gemini-2.5-flash", contents });
    expect(response.text).toBe(MOCK_TEXT);
    expect(response.candidates?.[0]?.finishReason).toBe(FinishReason.STOP);
    expect(response.usageMetadata).toMatchObject({ promptTokenCount: 20, candidatesTokenCount: 9, totalTokenCount: 29 });
    expect(response.usageMetadata?.cachedContentTokenCount).toBeUndefined();
    expect(response.usageMetadata?.thoughtsTokenCount).toBeUndefined();
    const rec = mock.requests[0];
    expect(rec?.path).toBe("/v1/models/gemini-2.5-flash:generateContent");
    expect(rec?.route).toBe("POST /{version}/models/{model}:generateContent");
    expect(rec?.model).toBe("gemini-2.5-flash");
    expect(rec?.headers["x-goog-api-key"]).toBe("goog-test");
    expect(rec?.json?.contents).toEqual([{ role: "user", parts: [{ text: contents }] }]);
    expect(mock.billed()).toMatchObject([{ path: rec?.path, model: "gemini-2.5-flash", input: 20, output: 9, choices: 1, usageSent: true }]);
  });

  test("under /v1beta too; cached and thinking tokens appear when > 0, and thoughts are billed as output", async () => {
    mock.next({ usage: { input: 30, output: 10, cached: 12, reasoning: 5 } });
    const response = await beta.models.generateContent({ model: "gemini-2.5-pro", contents, config: { maxOutputTokens: 100 } });
    expect(response.usageMetadata).toMatchObject({
      promptTokenCount: 30,
      candidatesTokenCount: 10,
      cachedContentTokenCount: 12,
      thoughtsTokenCount: 5,
      totalTokenCount: 45,
    });
    expect(mock.requests[0]?.path).toBe("/v1beta/models/gemini-2.5-pro:generateContent");
    expect(mock.requests[0]?.json?.generationConfig).toEqual({ maxOutputTokens: 100 });
    expect(mock.billed()[0]).toMatchObject({ input: 30, cached: 12, output: 15 });
  });

  test("streamGenerateContent: SSE chunks with cumulative usage, the full count on the last one", async () => {
    mock.next({ chunks: 4, usage: { input: 8, output: 40 } });
    const stream = await genai.models.generateContentStream({ model: "gemini-2.5-flash", contents });
    let text = "";
    const counts: (number | undefined)[] = [];
    for await (const chunk of stream) {
      text += chunk.text ?? "";
      counts.push(chunk.usageMetadata?.candidatesTokenCount);
      expect(chunk.usageMetadata?.promptTokenCount).toBe(8);
    }
    expect(text).toBe(MOCK_TEXT);
    expect(counts).toEqual([10, 20, 30, 40]);
    const rec = mock.requests[0];
    expect(rec?.path).toBe("/v1/models/gemini-2.5-flash:streamGenerateContent");
    expect(rec?.query).toEqual({ alt: "sse" });
    expect(rec?.streamed).toBe(true);
    expect(mock.billed()).toMatchObject([{ output: 40, cut: false, usageSent: true }]);
  });

  test("on the wire: data-only events ended by CRLF CRLF, no terminator; without alt=sse one JSON array", async () => {
    const url = `${mock.url}/v1beta/models/gemini-2.5-flash:streamGenerateContent`;
    const init = { method: "POST", headers: { "x-goog-api-key": "k" }, body: JSON.stringify({ contents: [{ parts: [{ text: "hi" }] }] }) };
    const sse = await (await fetch(`${url}?alt=sse`, init)).text();
    const events = sse.split("\r\n\r\n");
    expect(events.at(-1)).toBe("");
    expect(events.slice(0, -1).every((e) => e.startsWith("data: {"))).toBe(true);
    expect(events).toHaveLength(5 + 1);
    const array = (await (await fetch(url, init)).json()) as { usageMetadata: { candidatesTokenCount: number } }[];
    expect(array).toHaveLength(5);
    expect(array.at(-1)?.usageMetadata.candidatesTokenCount).toBe(7);
  });

  test("dropUsage cuts before the last chunk; omitUsage leaves usageMetadata out", async () => {
    mock.next({ dropUsage: true, chunks: 3 });
    const chunks = [];
    for await (const chunk of await genai.models.generateContentStream({ model: "gemini-2.5-flash", contents })) chunks.push(chunk);
    expect(chunks).toHaveLength(2);
    mock.next({ omitUsage: true });
    const response = await genai.models.generateContent({ model: "gemini-2.5-flash", contents });
    expect(response.usageMetadata).toBeUndefined();
    expect(mock.billed().map((b) => [b.cut, b.usageSent])).toEqual([
      [true, false],
      [false, false],
    ]);
  });

  test("permissive: output = min(maxOutputTokens, natural) × candidateCount, recorded by billed()", async () => {
    mock.set({ permissive: true, naturalOutputTokens: 30 });
    const response = await genai.models.generateContent({ model: "gemini-2.5-flash", contents, config: { maxOutputTokens: 40, candidateCount: 2 } });
    expect(response.candidates?.map((c) => c.index)).toEqual([0, 1]);
    expect(response.usageMetadata?.candidatesTokenCount).toBe(60);
    expect(mock.requests[0]?.reading).toMatchObject({ model: "gemini-2.5-flash", caps: { maxOutputTokens: 40 }, cap: 40, n: 2, stream: false });
    expect(mock.billed()[0]).toMatchObject({ model: "gemini-2.5-flash", output: 60, choices: 2 });
    const uncapped = await genai.models.generateContent({ model: "gemini-2.5-flash", contents });
    expect(uncapped.usageMetadata?.candidatesTokenCount).toBe(100_000);
    const body = mock.requests[1]?.body ?? "";
    expect(uncapped.usageMetadata?.promptTokenCount).toBe(Math.ceil(new TextEncoder().encode(body).byteLength / 4));
  });

  test("error mode answers Google's error shape; the SDK raises ApiError with the status", async () => {
    mock.next({ error: { status: 429 } });
    const error = await genai.models.generateContent({ model: "gemini-2.5-flash", contents }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(429);
    expect(JSON.parse((error as ApiError).message)).toEqual({ error: { code: 429, message: "Mock upstream error 429", status: "RESOURCE_EXHAUSTED" } });
    const missing = await fetch(`${mock.url}/v1beta/models/gemini-2.5-flash:generateContent`, { method: "POST", body: "{}" });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: { status: string } }).error.status).toBe("INVALID_ARGUMENT");
  });
});

describe("tokens, embeddings, models", () => {
  test("countTokens answers totalTokens and is not billed", async () => {
    mock.set({ usage: { input: 42, cached: 2 } });
    const counted = await genai.models.countTokens({ model: "gemini-2.5-flash", contents });
    expect(counted.totalTokens).toBe(42);
    expect(counted.cachedContentTokenCount).toBe(2);
    expect(mock.requests[0]?.path).toBe("/v1/models/gemini-2.5-flash:countTokens");
    expect(mock.billed()).toEqual([]);
  });

  test("embedContent (the SDK calls batchEmbedContents) and the single :embedContent", async () => {
    const embedded = await beta.models.embedContent({ model: "gemini-embedding-001", contents: ["a", "b"], config: { outputDimensionality: 4 } });
    expect(embedded.embeddings?.map((e) => e.values?.length)).toEqual([4, 4]);
    expect(embedded.embeddings?.[1]?.values?.[0]).toBe(Math.fround(0.02));
    expect(mock.requests[0]?.path).toBe("/v1beta/models/gemini-embedding-001:batchEmbedContents");
    const single = await fetch(`${mock.url}/v1beta/models/gemini-embedding-001:embedContent`, {
      method: "POST",
      headers: { "x-goog-api-key": "k" },
      body: JSON.stringify({ content: { parts: [{ text: "a" }] } }),
    });
    expect(((await single.json()) as { embedding: { values: number[] } }).embedding.values).toHaveLength(8);
    expect(mock.billed().map((b) => [b.model, b.output])).toEqual([
      ["gemini-embedding-001", 0],
      ["gemini-embedding-001", 0],
    ]);
  });

  test("models.list pages through the configured models; models.get one of them, 404 for others", async () => {
    mock.set({ models: ["gemini-2.5-flash", "gemini-2.5-pro", "gemini-embedding-001"] });
    const names: (string | undefined)[] = [];
    for await (const model of await genai.models.list({ config: { pageSize: 2 } })) names.push(model.name);
    expect(names).toEqual(["models/gemini-2.5-flash", "models/gemini-2.5-pro", "models/gemini-embedding-001"]);
    expect(mock.requests.map((r) => r.query.pageToken)).toEqual([undefined, "2"]);
    expect(mock.requests[0]?.route).toBe("GET /{version}/models");
    const one = await beta.models.get({ model: "gemini-2.5-pro" });
    expect(one).toMatchObject({ name: "models/gemini-2.5-pro", displayName: "gemini-2.5-pro" });
    expect(mock.requests.at(-1)?.path).toBe("/v1beta/models/gemini-2.5-pro");
    const missing = await beta.models.get({ model: "gemini-0" }).catch((e: unknown) => e);
    expect((missing as ApiError).status).toBe(404);
  });

  test("under /v1 the OpenAI routes stay OpenAI's: models without a Google key, chat completions", async () => {
    mock.set({ models: ["gpt-4o-mini"] });
    const openai = new OpenAI({ apiKey: "sk-test", baseURL: mock.baseUrl, maxRetries: 0 });
    const ids: string[] = [];
    for await (const model of openai.models.list()) ids.push(model.id);
    expect(ids).toEqual(["gpt-4o-mini"]);
    expect((await openai.models.retrieve("gpt-4o-mini")).object).toBe("model");
    const completion = await openai.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] });
    expect(completion.choices[0]?.message.content).toBe(MOCK_TEXT);
    const gemini = (await (await fetch(`${mock.baseUrl}/models?key=k`)).json()) as { models: { name: string }[] };
    expect(gemini.models.map((m) => m.name)).toEqual(["models/gpt-4o-mini"]);
    expect(mock.requests.map((r) => r.route)).toEqual(["GET /v1/models", "GET /v1/models/{model}", "POST /v1/chat/completions", "GET /{version}/models"]);
  });
});
