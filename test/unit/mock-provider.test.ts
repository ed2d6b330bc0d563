/**
 * Proves the mock provider speaks the real wire formats, as far as the
 * official SDKs can tell, so keyward tests built on it mean something.
 */
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { parseBody, startMockProvider, type MockProvider } from "../helpers/mock-provider.ts";

let mock: MockProvider;
let openai: OpenAI;
let anthropic: Anthropic;

beforeAll(async () => {
  mock = await startMockProvider();
  // No retries: an error test must see exactly one request.
  openai = new OpenAI({ apiKey: "sk-test-openai", baseURL: mock.baseUrl, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: "sk-ant-test", baseURL: mock.url, maxRetries: 0 });
});
afterAll(() => mock.stop());
beforeEach(() => mock.reset());

const TEXT = "Hello from the mock provider!";

/** Reads an SSE body to the end and returns its `data:` payloads. */
async function sseData(response: Response): Promise<string[]> {
  const text = await response.text();
  return text
    .split("\n\n")
    .filter((block) => block.includes("data: "))
    .map((block) => block.slice(block.indexOf("data: ") + 6));
}

describe("OpenAI chat completions", () => {
  test("plain JSON with usage", async () => {
    mock.set({ usage: { input: 20, output: 9, cached: 4 } });
    const completion = await openai.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "hi" }],
    });
    expect(completion.choices[0]?.message.content).toBe(TEXT);
    expect(completion.model).toBe("gpt-4o-mini");
    expect(completion.usage).toMatchObject({
      prompt_tokens: 20,
      completion_tokens: 9,
      total_tokens: 29,
      prompt_tokens_details: { cached_tokens: 4 },
    });
    const recorded = mock.requests[0];
    expect(recorded?.method).toBe("POST");
    expect(recorded?.path).toBe("/v1/chat/completions");
    expect(recorded?.headers.authorization).toBe("Bearer sk-test-openai");
    expect(recorded?.json?.model).toBe("gpt-4o-mini");
    expect(recorded?.streamed).toBe(false);
  });

  test("stream without include_usage has no usage field", async () => {
    const stream = await openai.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "hi" }],
      stream: true,
    });
    let text = "";
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      expect("usage" in chunk).toBe(false);
      text += chunk.choices[0]?.delta.content ?? "";
    }
    expect(text).toBe(TEXT);
    expect(chunks).toBe(5 + 2); // role chunk + 5 deltas + finish chunk
    expect(mock.requests[0]?.chunksWritten).toHaveLength(5 + 3); // + [DONE]
    expect(mock.requests[0]?.completedAt).toBeDefined();
    await Bun.sleep(20);
    expect(mock.cancellations).toEqual([]); // reading to [DONE] is not a disconnect
  });

  test("stream with include_usage: usage null on every chunk, then a choices-less usage chunk", async () => {
    mock.next({ chunks: 3, usage: { input: 5, output: 6 } });
    const stream = await openai.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "hi" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const last = chunks.at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage).toMatchObject({ prompt_tokens: 5, completion_tokens: 6, total_tokens: 11 });
    for (const chunk of chunks.slice(0, -1)) expect(chunk.usage).toBeNull();
    expect(chunks).toHaveLength(1 + 3 + 1 + 1);
  });

  test("ChatCompletionStream helper assembles the final completion", async () => {
    const final = await openai.chat.completions
      .stream({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], stream_options: { include_usage: true } })
      .finalChatCompletion();
    expect(final.choices[0]?.message.content).toBe(TEXT);
    expect(final.usage?.total_tokens).toBe(18);
  });
});

describe("OpenAI Responses API", () => {
  test("plain JSON with usage", async () => {
    mock.set({ usage: { input: 30, output: 10, cached: 8 } });
    const response = await openai.responses.create({ model: "gpt-4o-mini", input: "hi" });
    expect(response.output_text).toBe(TEXT);
    expect(response.usage).toMatchObject({
      input_tokens: 30,
      output_tokens: 10,
      total_tokens: 40,
      input_tokens_details: { cached_tokens: 8 },
    });
    expect(mock.requests[0]?.path).toBe("/v1/responses");
  });

  test("create({stream: true}) yields the event sequence with usage on response.completed", async () => {
    const stream = await openai.responses.create({ model: "gpt-4o-mini", input: "hi", stream: true });
    const types: string[] = [];
    let text = "";
    let usage: OpenAI.Responses.ResponseUsage | null | undefined;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === "response.output_text.delta") text += event.delta;
      if (event.type === "response.completed") usage = event.response.usage;
    }
    expect(text).toBe(TEXT);
    expect(types[0]).toBe("response.created");
    expect(types.filter((t) => t === "response.output_text.delta")).toHaveLength(5);
    expect(types.at(-1)).toBe("response.completed");
    expect(usage?.total_tokens).toBe(18);
  });

  test("responses.stream() helper returns the final response", async () => {
    const final = await openai.responses.stream({ model: "gpt-4o-mini", input: "hi" }).finalResponse();
    expect(final.output_text).toBe(TEXT);
    expect(final.usage?.input_tokens).toBe(11);
    expect(mock.requests[0]?.json?.stream).toBe(true);
  });
});

describe("OpenAI embeddings and models", () => {
  test("embeddings, default (base64) and float encodings", async () => {
    const decoded = await openai.embeddings.create({ model: "text-embedding-3-small", input: ["a", "b"] });
    expect(mock.requests[0]?.json?.encoding_format).toBe("base64");
    expect(decoded.data).toHaveLength(2);
    expect(decoded.data[1]?.index).toBe(1);
    expect(decoded.usage).toEqual({ prompt_tokens: 11, total_tokens: 11 });

    const floats = await openai.embeddings.create({
      model: "text-embedding-3-small",
      input: "a",
      encoding_format: "float",
      dimensions: 3,
    });
    expect(floats.data[0]?.embedding).toHaveLength(3);
    expect(Array.from(decoded.data[0]?.embedding ?? []).slice(0, 3)).toEqual(floats.data[0]?.embedding ?? []);
  });

  test("models.list", async () => {
    mock.set({ models: ["m-1", "m-2"] });
    const ids: string[] = [];
    for await (const model of openai.models.list()) ids.push(model.id);
    expect(ids).toEqual(["m-1", "m-2"]);
    expect(mock.requests[0]?.method).toBe("GET");
  });
});

describe("Anthropic messages", () => {
  test("plain JSON with usage", async () => {
    mock.set({ usage: { input: 40, output: 12, cached: 3, cacheCreation: 2 } });
    const message = await anthropic.messages.create({
      model: "claude-sonnet-4-6",
      max_tokens: 100,
      messages: [{ role: "user", content: "hi" }],
    });
    expect(message.content[0]).toMatchObject({ type: "text", text: TEXT });
    expect(message.usage).toMatchObject({
      input_tokens: 40,
      output_tokens: 12,
      cache_read_input_tokens: 3,
      cache_creation_input_tokens: 2,
    });
    const recorded = mock.requests[0];
    expect(recorded?.path).toBe("/v1/messages");
    expect(recorded?.headers.authorization).toBe("Bearer sk-ant-test");
    expect(recorded?.headers["anthropic-version"]).toBeDefined();
  });

  test("raw stream events in Anthropic's order, with a ping", async () => {
    const stream = await anthropic.messages.create({
      model: "claude-sonnet-4-6",
      max_tokens: 100,
      messages: [{ role: "user", content: "hi" }],
      stream: true,
    });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    expect(types).toEqual([
      "message_start",
      "content_block_start",
      ...Array<string>(5).fill("content_block_delta"),
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    // The SDK drops pings; they are on the wire all the same.
    expect(mock.requests[0]?.chunksWritten).toHaveLength(types.length + 1);
  });

  test("messages.stream().finalMessage() takes output_tokens from message_delta", async () => {
    mock.next({ chunks: 2, usage: { input: 7, output: 33 } });
    const final = await anthropic.messages.stream({ model: "claude-sonnet-4-6", max_tokens: 100, messages: [{ role: "user", content: "hi" }] }).finalMessage();
    expect(final.content[0]).toMatchObject({ type: "text", text: TEXT });
    expect(final.usage.input_tokens).toBe(7);
    expect(final.usage.output_tokens).toBe(33);
    expect(final.stop_reason).toBe("end_turn");
  });

  test("models.list gets Anthropic's list shape when anthropic-version is sent", async () => {
    mock.set({ models: ["claude-sonnet-4-6"] });
    const page = await anthropic.models.list();
    expect(page.data.map((m) => m.id)).toEqual(["claude-sonnet-4-6"]);
    expect(page.data[0]?.type).toBe("model");
  });
});

describe("behaviours", () => {
  test("an aborted stream is recorded as a cancellation", async () => {
    mock.next({ chunks: 50, chunkDelayMs: 20 });
    const controller = new AbortController();
    const response = await fetch(`${mock.baseUrl}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o-mini", messages: [], stream: true }),
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    const reader = response.body?.getReader();
    const first = await reader?.read();
    expect(new TextDecoder().decode(first?.value)).toStartWith("data: ");
    controller.abort();
    const cancellation = await mock.waitForCancellation(2000);
    expect(cancellation.path).toBe("/v1/chat/completions");
    expect(cancellation.requestIndex).toBe(0);
    expect(mock.requests[0]?.cancelledAt).toBe(cancellation.at);
    expect(mock.requests[0]?.completedAt).toBeUndefined();
  });

  test("an abort while waiting for headers is recorded too", async () => {
    mock.next({ headersDelayMs: 5_000 });
    const controller = new AbortController();
    const pending = fetch(`${mock.baseUrl}/models`, { signal: controller.signal }).catch((e: unknown) => e);
    while (mock.requests.length === 0) await Bun.sleep(5);
    controller.abort();
    expect(await pending).toBeInstanceOf(Error);
    expect((await mock.waitForCancellation()).path).toBe("/v1/models");
  });

  test("a completed stream is not a cancellation", async () => {
    const response = await fetch(`${mock.baseUrl}/chat/completions`, {
      method: "POST",
      body: JSON.stringify({ stream: true }),
    });
    expect((await sseData(response)).at(-1)).toBe("[DONE]");
    await expect(mock.waitForCancellation(200)).rejects.toThrow("no cancellation");
  });

  test("gzip mode sends a compressed body fetch decodes", async () => {
    mock.next({ gzip: true });
    const response = await fetch(`${mock.baseUrl}/models`);
    expect(response.headers.get("content-encoding")).toBe("gzip");
    const body = (await response.json()) as { data: { id: string }[] };
    expect(body.data[0]?.id).toBe("gpt-4o-mini");
  });

  test("error mode passes status, body and headers; the SDK surfaces them", async () => {
    mock.next({
      error: { status: 429, body: { error: { message: "slow down", type: "rate_limit_error", code: "rate_limit_exceeded" } }, headers: { "retry-after": "7" } },
    });
    const raw = await fetch(`${mock.baseUrl}/chat/completions`, { method: "POST", body: "{}" });
    expect(raw.status).toBe(429);
    expect(raw.headers.get("retry-after")).toBe("7");
    expect(await raw.json()).toEqual({ error: { message: "slow down", type: "rate_limit_error", code: "rate_limit_exceeded" } });

    mock.next({ error: { status: 529 } });
    const error = await anthropic.messages
      .create({ model: "claude-sonnet-4-6", max_tokens: 1, messages: [{ role: "user", content: "hi" }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect((error as InstanceType<typeof Anthropic.APIError>).status).toBe(529);
    expect(mock.requests).toHaveLength(2);
  });

  test("redirect mode answers 302 with a location", async () => {
    mock.next({ redirect: { location: "http://127.0.0.1:1/elsewhere" } });
    const response = await fetch(`${mock.baseUrl}/models`, { redirect: "manual" });
    expect(response.status).toBe(302);
    expect(response.headers.get("location")).toBe("http://127.0.0.1:1/elsewhere");
  });

  test("extra headers, including repeated set-cookie and hop-by-hop ones", async () => {
    mock.next({ headers: { "set-cookie": ["a=1", "b=2"], connection: "x-foo", "x-foo": "bar" } });
    const response = await fetch(`${mock.baseUrl}/models`);
    expect(response.headers.getSetCookie()).toEqual(["a=1", "b=2"]);
    expect(response.headers.get("x-foo")).toBe("bar");
    expect(mock.requests[0]?.status).toBe(200);
  });

  test("hang mode sends headers, then nothing until the client leaves", async () => {
    mock.next({ hang: true });
    const controller = new AbortController();
    const response = await fetch(`${mock.baseUrl}/chat/completions`, {
      method: "POST",
      body: JSON.stringify({ stream: true }),
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const reader = response.body?.getReader();
    const flushed = await reader?.read();
    expect(new TextDecoder().decode(flushed?.value)).toBe("\n"); // the single "\n" that flushed the headers
    const more = await Promise.race([reader?.read(), Bun.sleep(150).then(() => "silent")]);
    expect(more).toBe("silent");
    controller.abort();
    await mock.waitForCancellation();
  });

  test("with a chunk delay every event reaches the client on its own", async () => {
    mock.next({ chunks: 3, chunkDelayMs: 30 });
    const response = await fetch(`${mock.baseUrl}/chat/completions`, {
      method: "POST",
      body: JSON.stringify({ stream: true }),
    });
    const reader = response.body?.getReader();
    const reads: string[] = [];
    for (let r = await reader?.read(); r && !r.done; r = await reader?.read()) reads.push(new TextDecoder().decode(r.value));
    expect(reads).toHaveLength(3 + 3);
    expect(reads.every((read) => read.startsWith("data: ") && read.endsWith("\n\n"))).toBe(true);
    expect(mock.requests[0]?.chunksWritten).toHaveLength(reads.length);
  });

  test("quiet mode pauses between two events; chunksWritten shows it", async () => {
    mock.next({ chunks: 2, quiet: { afterEvents: 2, ms: 150 } });
    const response = await fetch(`${mock.baseUrl}/chat/completions`, {
      method: "POST",
      body: JSON.stringify({ stream: true }),
    });
    expect((await sseData(response)).at(-1)).toBe("[DONE]");
    const times = mock.requests[0]?.chunksWritten ?? [];
    const gaps = times.slice(1).map((t, i) => t - (times[i] ?? t));
    expect(gaps[1]).toBeGreaterThanOrEqual(140);
    expect(Math.max(gaps[0] ?? 0, ...gaps.slice(2))).toBeLessThan(100);
  });

  test("next() is one-shot and queues; set() persists; unknown paths get an OpenAI 404", async () => {
    mock.set({ text: "persisted" });
    mock.next({ text: "first" });
    mock.next({ text: "second" });
    const texts: (string | null | undefined)[] = [];
    for (let i = 0; i < 3; i++) {
      const c = await openai.chat.completions.create({ model: "m", messages: [] });
      texts.push(c.choices[0]?.message.content);
    }
    expect(texts).toEqual(["first", "second", "persisted"]);

    const missing = await fetch(`${mock.baseUrl}/nope?x=1`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({
      error: { message: "Invalid URL (GET /v1/nope)", type: "invalid_request_error", param: null, code: null },
    });
    expect(mock.requests.at(-1)?.query).toEqual({ x: "1" });
  });
});

describe("the mock's own body parser", () => {
  test("reads what JSON.parse reads, a repeated key's last value winning, and names every repeat", () => {
    const bodies = [
      '{"a":1,"b":[true,false,null,-1.5e3,"x\\ny"],"c":{"d":{}}}',
      ' \n{ "model" : "gpt-4o-mini" , "model":"gpt-5-pro" }\t',
      '{"model":"gpt-4o-mini","mod\\u0065l":"o1","messages":[{"role":"user","role":"system"}]}',
      '{"__proto__":{"polluted":1},"k":"\\ud83d\\ude00"}',
      "[1,2,3]",
      '"just a string"',
    ];
    for (const body of bodies) expect(parseBody(body)?.value).toEqual(JSON.parse(body));
    expect(parseBody(bodies[0] as string)?.duplicateKeys).toEqual([]);
    expect(parseBody(bodies[1] as string)?.duplicateKeys).toEqual(["model"]);
    expect(parseBody(bodies[2] as string)?.duplicateKeys).toEqual(["model", "messages[0].role"]);
    expect(Object.getPrototypeOf(parseBody(bodies[3] as string)?.value)).toBe(Object.prototype);
    for (const bad of ["", "{", '{"a":1,}', "{'a':1}", '{"a":01}', "[1] x", "NaN", '{"a":"\\x"}']) expect(parseBody(bad)).toBeUndefined();
  });
});

describe("permissive mode", () => {
  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${mock.baseUrl}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });

  test("a repeated key: the last one wins, and the mock records what it read", async () => {
    mock.set({ permissive: true });
    const body = '{"model":"gpt-4o-mini","max_tokens":10,"messages":[],"mod\\u0065l":"gpt-5-pro","max_tok\\u0065ns":"300"}';
    const answer = (await (await post("/chat/completions", body)).json()) as { model: string; usage: { completion_tokens: number } };
    expect(answer.model).toBe("gpt-5-pro");
    expect(answer.usage.completion_tokens).toBe(300);
    const rec = mock.requests[0];
    expect(rec?.body).toBe(body);
    expect(rec?.duplicateKeys).toEqual(["model", "max_tokens"]);
    expect(rec?.reading).toEqual({ model: "gpt-5-pro", stream: false, includeUsage: false, caps: { max_tokens: 300 }, cap: 300, n: 1, images: 0 });
    expect(mock.billed()).toEqual([
      {
        requestIndex: 0,
        path: "/v1/chat/completions",
        model: "gpt-5-pro",
        input: Math.ceil(body.length / 4),
        output: 300,
        cached: 0,
        cacheCreation: 0,
        choices: 1,
        cut: false,
        usageSent: true,
      },
    ]);
  });

  test("numeric strings are coerced: max_tokens and n; output = cap × n", async () => {
    mock.set({ permissive: true });
    const completion = await openai.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "hi" }],
      // The SDK sends what it is given: a lenient server coerces both.
      max_tokens: "100000" as unknown as number,
      n: "3" as unknown as number,
    });
    expect(completion.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    expect(completion.usage?.completion_tokens).toBe(300_000);
    expect(mock.requests[0]?.reading).toMatchObject({ caps: { max_tokens: 100_000 }, cap: 100_000, n: 3 });
    expect(mock.billed()[0]).toMatchObject({ output: 300_000, choices: 3 });
  });

  test("output follows the request: uncapped, natural length, and which chat cap wins", async () => {
    mock.set({ permissive: true, uncappedOutputTokens: 50_000 });
    const chat = (extra: Record<string, unknown>) => JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], ...extra });
    const outputOf = async (body: string) =>
      ((await (await post("/chat/completions", body)).json()) as { usage: { completion_tokens: number } }).usage.completion_tokens;
    expect(await outputOf(chat({}))).toBe(50_000);
    expect(await outputOf(chat({ max_tokens: 40 }))).toBe(40);
    expect(await outputOf(chat({ max_tokens: 40, max_completion_tokens: 900 }))).toBe(900);
    expect(await outputOf(chat({ max_tokens: null, max_completion_tokens: "x" }))).toBe(50_000); // nothing usable: no cap
    mock.set({ chatCapOrder: ["max_tokens", "max_completion_tokens"] });
    expect(await outputOf(chat({ max_tokens: 40, max_completion_tokens: 900 }))).toBe(40);
    mock.set({ naturalOutputTokens: 25 });
    expect(await outputOf(chat({ max_tokens: 40 }))).toBe(25);
    expect(await outputOf(chat({ max_tokens: 10 }))).toBe(10);
    expect(await outputOf(chat({}))).toBe(50_000); // without a cap: uncappedOutputTokens
  });

  test("input is the body's UTF-8 bytes / 4, rounded up, plus imageTokens per image part", async () => {
    mock.set({ permissive: true, imageTokens: 700 });
    const body = JSON.stringify({
      model: "gpt-4o-mini",
      max_tokens: 5,
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "héllo ✓" },
            { type: "image_url", image_url: { url: "https://example.com/a.png" } },
            { type: "image_url", image_url: { url: "https://example.com/b.png" } },
          ],
        },
      ],
    });
    const answer = (await (await post("/chat/completions", body)).json()) as { usage: { prompt_tokens: number } };
    expect(answer.usage.prompt_tokens).toBe(Math.ceil(new TextEncoder().encode(body).byteLength / 4) + 2 * 700);
    expect(mock.requests[0]?.reading?.images).toBe(2);
  });

  test('"stream":"true" and include_usage "true" are coerced: an SSE answer with its usage chunk', async () => {
    mock.set({ permissive: true });
    const body = '{"model":"gpt-4o-mini","messages":[],"max_tokens":"12","stream":"true","stream_options":{"include_usage":"true"}}';
    const response = await post("/chat/completions", body);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const events = await sseData(response);
    expect(events.at(-1)).toBe("[DONE]");
    expect(JSON.parse(events.at(-2) as string)).toMatchObject({ choices: [], usage: { completion_tokens: 12 } });
    expect(mock.billed()[0]).toMatchObject({ output: 12, cut: false, usageSent: true });
  });

  test("Responses caps with max_output_tokens, Anthropic with max_tokens", async () => {
    mock.set({ permissive: true });
    const response = await openai.responses.create({ model: "gpt-4o-mini", input: "hi", max_output_tokens: 77 });
    expect(response.usage?.output_tokens).toBe(77);
    const message = await anthropic.messages.create({ model: "claude-sonnet-4-6", max_tokens: 55, messages: [{ role: "user", content: "hi" }] });
    expect(message.usage.output_tokens).toBe(55);
    const streamed = await anthropic.messages
      .stream({ model: "claude-sonnet-4-6", max_tokens: 66, messages: [{ role: "user", content: "hi" }] })
      .finalMessage();
    expect(streamed.usage.output_tokens).toBe(66);
    expect(mock.billed().map((b) => [b.path, b.model, b.output])).toEqual([
      ["/v1/responses", "gpt-4o-mini", 77],
      ["/v1/messages", "claude-sonnet-4-6", 55],
      ["/v1/messages", "claude-sonnet-4-6", 66],
    ]);
  });

  test("overrunFactor: an upstream that ignores the cap reports cap × factor", async () => {
    mock.set({ permissive: true, overrunFactor: 10 });
    const completion = await openai.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 30, n: 2 });
    expect(completion.usage?.completion_tokens).toBe(600);
    expect(mock.billed()[0]).toMatchObject({ output: 600, choices: 2 });
  });
});

describe("usage that never arrives, and what the mock billed", () => {
  const streamBody = JSON.stringify({ model: "gpt-4o-mini", messages: [], stream: true, stream_options: { include_usage: true } });

  test("dropUsage ends a stream right before its usage chunk; billed in full as cut", async () => {
    mock.next({ dropUsage: true, chunks: 2, usage: { input: 9, output: 99 } });
    const response = await fetch(`${mock.baseUrl}/chat/completions`, { method: "POST", body: streamBody });
    const events = await sseData(response);
    expect(events).toHaveLength(1 + 2 + 1); // role, two deltas, finish: no usage chunk, no [DONE]
    expect(events.some((e) => e.includes('"usage":{'))).toBe(false);
    expect(mock.billed()).toMatchObject([{ input: 9, output: 99, cut: true, usageSent: false }]);
  });

  test('dropUsage "error" breaks the connection there instead', async () => {
    mock.next({ dropUsage: "error", chunks: 2 });
    const response = await fetch(`${mock.baseUrl}/chat/completions`, { method: "POST", body: streamBody });
    expect(await response.text().catch((e: unknown) => e)).toBeInstanceOf(Error);
    expect(mock.billed()).toMatchObject([{ cut: true, usageSent: false }]);
  });

  test("dropUsage cuts Responses before response.completed and Anthropic before message_delta", async () => {
    mock.set({ dropUsage: true });
    const responses = await fetch(`${mock.baseUrl}/responses`, { method: "POST", body: JSON.stringify({ model: "gpt-4o-mini", input: "hi", stream: true }) });
    const text = await responses.text();
    expect(text).toContain("response.output_item.done");
    expect(text).not.toContain("response.completed");
    const messages = await fetch(`${mock.baseUrl}/messages`, {
      method: "POST",
      body: JSON.stringify({ model: "claude-sonnet-4-6", max_tokens: 5, messages: [], stream: true }),
    });
    const events = await messages.text();
    expect(events).toContain("content_block_stop");
    expect(events).not.toContain("message_delta");
    expect(mock.billed().map((b) => b.cut)).toEqual([true, true]);
  });

  test("omitUsage: a 2xx JSON answer without usage", async () => {
    mock.next({ omitUsage: true });
    const response = await fetch(`${mock.baseUrl}/chat/completions`, { method: "POST", body: JSON.stringify({ model: "gpt-4o-mini", messages: [] }) });
    const json = (await response.json()) as Record<string, unknown>;
    expect(response.status).toBe(200);
    expect("usage" in json).toBe(false);
    expect(mock.billed()).toMatchObject([{ input: 11, output: 7, cut: false, usageSent: false }]);
  });

  test("billed(): a client that leaves is billed in full, errors and reads are not; reset clears it", async () => {
    mock.next({ chunks: 50, chunkDelayMs: 20, usage: { input: 5, output: 500 } });
    const controller = new AbortController();
    const response = await fetch(`${mock.baseUrl}/chat/completions`, { method: "POST", body: streamBody, signal: controller.signal });
    await response.body?.getReader().read();
    controller.abort();
    await mock.waitForCancellation();

    mock.next({ headersDelayMs: 5_000, usage: { input: 6, output: 600 } });
    const early = new AbortController();
    const pending = fetch(`${mock.baseUrl}/chat/completions`, { method: "POST", body: "{}", signal: early.signal }).catch((e: unknown) => e);
    while (mock.requests.length < 2) await Bun.sleep(5);
    early.abort();
    await pending;
    await mock.waitForCancellation();

    mock.next({ error: { status: 500 } });
    await (await fetch(`${mock.baseUrl}/chat/completions`, { method: "POST", body: "{}" })).text();
    await (await fetch(`${mock.baseUrl}/models`)).text();
    const stored = await fetch(`${mock.baseUrl}/responses/resp_123`);
    expect(stored.status).toBe(200);
    expect(await stored.json()).toMatchObject({ id: "resp_123", object: "response", status: "completed", usage: { input_tokens: 11, output_tokens: 7 } });

    expect(mock.billed()).toMatchObject([
      { requestIndex: 0, input: 5, output: 500, cut: true, usageSent: false },
      { requestIndex: 1, input: 6, output: 600, cut: true, usageSent: false },
    ]);
    expect(mock.requests[1]?.billed).toBe(mock.billed()[1]);
    mock.reset();
    expect(mock.billed()).toEqual([]);
  });
});
