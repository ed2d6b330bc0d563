/**
 * Checks and bounds over a parsed body (src/limits/request-shape.ts): limit
 * fields must have one reading; the prompt bound counts media on the parsed
 * structure, never in text; what keyward cannot bound is named by path.
 */
import { ANTHROPIC_ENDPOINTS } from "../../src/providers/anthropic-endpoints.ts";
import type { Endpoint } from "../../src/providers/endpoints.ts";
import { openaiStyleEndpoints } from "../../src/providers/openai-endpoints.ts";
import { describe, expect, test } from "bun:test";
import {
  checkLimitFields,
  DEFAULT_MEDIA_BOUNDS,
  FILE_PAGE_TEXT_TOKENS,
  FILE_PAGE_TOKENS,
  IMAGE_TOKENS,
  type LimitFields,
  MAX_DOCUMENT_PAGES,
  MAX_FIELD_INTEGER,
  MIN_PDF_PAGE_BYTES,
  bindOutput,
  promptTokensBound,
  scanParts,
  unboundedReferences,
} from "../../src/limits/request-shape.ts";

/** The registry's own records, so the checks run on the fields the proxy really uses. */
function fieldsOf(endpoints: readonly Endpoint[], name: string): LimitFields {
  const body = endpoints.find((e) => e.name === name)?.body;
  if (!body) throw new Error(`no body fields for ${name}`);
  return body;
}
const OPENAI = openaiStyleEndpoints({ chatCap: "max_completion_tokens" });
const chat = fieldsOf(OPENAI, "chat.completions");
const completions = fieldsOf(OPENAI, "completions");
const responses = fieldsOf(OPENAI, "responses");
const anthropicMessages = fieldsOf(ANTHROPIC_ENDPOINTS, "messages");
const gemini: LimitFields = { outputCaps: [], outputMultipliers: [] };

const bytes = (json: unknown) => Buffer.byteLength(JSON.stringify(json));
const bound = (json: Record<string, unknown>) => promptTokensBound(json, bytes(json));
const user = (content: unknown) => ({ model: "gpt-4o", messages: [{ role: "user", content }] });

describe("checkLimitFields", () => {
  test("a plain request passes, with or without the optional fields", () => {
    expect(checkLimitFields({ model: "gpt-4o", messages: [] }, chat)).toBeUndefined();
    expect(checkLimitFields({ messages: [] }, chat)).toBeUndefined();
    expect(
      checkLimitFields({ model: "gpt-4o", max_tokens: 100, max_completion_tokens: 1, n: 3, stream: true, stream_options: { include_usage: true } }, chat),
    ).toBeUndefined();
    expect(checkLimitFields({ model: "gpt-3.5-turbo-instruct", prompt: "x", max_tokens: 5, n: 2, best_of: 4, stream: false }, completions)).toBeUndefined();
    expect(checkLimitFields({ contents: [], generationConfig: { maxOutputTokens: 5 } }, gemini)).toBeUndefined();
  });

  test("null counts as absent for caps, multipliers and stream_options", () => {
    expect(checkLimitFields({ model: "m", max_tokens: null, max_completion_tokens: null, n: null }, chat)).toBeUndefined();
    expect(checkLimitFields({ model: "m", stream: true, stream_options: null }, chat)).toBeUndefined();
    expect(checkLimitFields({ model: "m", stream: true, stream_options: { include_usage: null } }, chat)).toBeUndefined();
  });

  const wrong: [string, Record<string, unknown>, LimitFields, string, string][] = [
    ['"n":"2"', { n: "2" }, chat, "n", 'Cannot read request: "n" must be a positive integer'],
    ['"max_tokens":"100"', { max_tokens: "100" }, chat, "max_tokens", 'Cannot read request: "max_tokens" must be a positive integer'],
    ['"max_tokens":1.5', { max_tokens: 1.5 }, chat, "max_tokens", 'Cannot read request: "max_tokens" must be a positive integer'],
    ['"max_tokens":0', { max_tokens: 0 }, chat, "max_tokens", 'Cannot read request: "max_tokens" must be a positive integer'],
    ['"max_tokens":-1', { max_tokens: -1 }, chat, "max_tokens", 'Cannot read request: "max_tokens" must be a positive integer'],
    ['"max_tokens":true', { max_tokens: true }, chat, "max_tokens", 'Cannot read request: "max_tokens" must be a positive integer'],
    [
      '"max_tokens":1e400 (Infinity)',
      { max_tokens: Number.POSITIVE_INFINITY },
      chat,
      "max_tokens",
      'Cannot read request: "max_tokens" must be a positive integer',
    ],
    ['"max_tokens":[100]', { max_tokens: [100] }, chat, "max_tokens", 'Cannot read request: "max_tokens" must be a positive integer'],
    [
      '"max_completion_tokens":{}',
      { max_completion_tokens: {} },
      chat,
      "max_completion_tokens",
      'Cannot read request: "max_completion_tokens" must be a positive integer',
    ],
    [
      "max_tokens above 2^31 - 1",
      { max_tokens: MAX_FIELD_INTEGER + 1 },
      chat,
      "max_tokens",
      `Cannot read request: "max_tokens" must be at most ${MAX_FIELD_INTEGER}`,
    ],
    ['"best_of":"5"', { best_of: "5" }, completions, "best_of", 'Cannot read request: "best_of" must be a positive integer'],
    [
      '"max_output_tokens":"9"',
      { max_output_tokens: "9" },
      responses,
      "max_output_tokens",
      'Cannot read request: "max_output_tokens" must be a positive integer',
    ],
    ['"model":""', { model: "" }, chat, "model", 'Cannot read request: "model" must be a non-empty string'],
    ['"model":5', { model: 5 }, chat, "model", 'Cannot read request: "model" must be a non-empty string'],
    ['"model":null', { model: null }, chat, "model", 'Cannot read request: "model" must be a non-empty string'],
    ['"model":["a"]', { model: ["a"] }, anthropicMessages, "model", 'Cannot read request: "model" must be a non-empty string'],
    ['"stream":"true"', { stream: "true" }, chat, "stream", 'Cannot read request: "stream" must be true or false'],
    ['"stream":1', { stream: 1 }, chat, "stream", 'Cannot read request: "stream" must be true or false'],
    ['"stream":null', { stream: null }, chat, "stream", 'Cannot read request: "stream" must be true or false'],
    ['"stream_options":[]', { stream_options: [] }, chat, "stream_options", 'Cannot read request: "stream_options" must be an object'],
    ['"stream_options":"x"', { stream_options: "x" }, chat, "stream_options", 'Cannot read request: "stream_options" must be an object'],
    [
      '"include_usage":"true"',
      { stream_options: { include_usage: "true" } },
      chat,
      "stream_options.include_usage",
      'Cannot read request: "stream_options.include_usage" must be true or false',
    ],
    ['"stream":"true" on Gemini too', { stream: "true" }, gemini, "stream", 'Cannot read request: "stream" must be true or false'],
  ];
  for (const [name, json, fields, field, message] of wrong) {
    test(`refuses ${name}`, () => {
      expect(checkLimitFields(json, fields)).toEqual({ field, message });
    });
  }

  test("an endpoint without a model field leaves model alone", () => {
    expect(checkLimitFields({ model: 5 }, gemini)).toBeUndefined();
  });

  test("the largest accepted integer is 2^31 - 1", () => {
    expect(checkLimitFields({ max_tokens: MAX_FIELD_INTEGER, n: MAX_FIELD_INTEGER }, chat)).toBeUndefined();
  });

  const lookalikes: [string, LimitFields, string][] = [
    ["MAX_TOKENS", chat, "max_tokens"],
    ["maxTokens", chat, "max_tokens"],
    ["max-tokens", chat, "max_tokens"],
    ["MaxCompletionTokens", chat, "max_completion_tokens"],
    ["N", chat, "n"],
    ["Model", chat, "model"],
    ["Stream", chat, "stream"],
    ["streamOptions", gemini, "stream_options"],
    ["bestOf", completions, "best_of"],
    ["maxOutputTokens", responses, "max_output_tokens"],
  ];
  for (const [key, fields, real] of lookalikes) {
    test(`refuses ${key}, which a case-insensitive server could read as ${real}`, () => {
      expect(checkLimitFields({ model: "m", [key]: 100 }, fields)).toEqual({
        field: key,
        message: `Cannot read request: key ${JSON.stringify(key)} differs from ${JSON.stringify(real)} only in case or separators`,
      });
    });
  }

  test("ordinary fields that fold to nothing governed pass", () => {
    expect(checkLimitFields({ model: "m", messages: [], temperature: 1, top_p: 1, tools: [], user: "u", metadata: { MAX_TOKENS: 1 } }, chat)).toBeUndefined();
  });
});

describe("bindOutput", () => {
  const read = { defaultCap: 4096, write: false };
  const write = { defaultCap: 4096, defaultField: "max_completion_tokens", write: true };

  test("the client's cap, else the default, times n", () => {
    expect(bindOutput({ max_tokens: 100 }, chat, read)).toBe(100);
    expect(bindOutput({}, chat, read)).toBe(4096);
    expect(bindOutput({ max_tokens: null }, chat, read)).toBe(4096);
    expect(bindOutput({ max_completion_tokens: 50, n: 3 }, chat, read)).toBe(150);
  });

  test("with two caps the smaller one counts and is written into both, so neither can widen the output", () => {
    const body: Record<string, unknown> = { max_tokens: 1, max_completion_tokens: 100_000 };
    expect(bindOutput(body, chat, write)).toBe(1);
    expect(body).toEqual({ max_tokens: 1, max_completion_tokens: 1 });
    const other: Record<string, unknown> = { max_tokens: 100_000, max_completion_tokens: 7 };
    expect(bindOutput(other, chat, write)).toBe(7);
    expect(other).toEqual({ max_tokens: 7, max_completion_tokens: 7 });
  });

  test("with no cap the default is written into the endpoint's own field; a null cap is replaced", () => {
    const none: Record<string, unknown> = { model: "m" };
    expect(bindOutput(none, chat, write)).toBe(4096);
    expect(none).toEqual({ model: "m", max_completion_tokens: 4096 });
    const nulled: Record<string, unknown> = { max_tokens: null };
    expect(bindOutput(nulled, chat, write)).toBe(4096);
    expect(nulled).toEqual({ max_tokens: 4096 });
  });

  test("without write the body is left as it is", () => {
    const body: Record<string, unknown> = { max_tokens: 3, max_completion_tokens: 9 };
    bindOutput(body, chat, read);
    expect(body).toEqual({ max_tokens: 3, max_completion_tokens: 9 });
  });

  test("completions multiply by n and best_of", () => {
    expect(bindOutput({ max_tokens: 10, n: 2, best_of: 5 }, completions, read)).toBe(100);
  });
});

describe("promptTokensBound", () => {
  test("a text-only request is bounded by its bytes", () => {
    const body = user("héllo 👋 — 日本語");
    expect(bound(body)).toBe(bytes(body));
    expect(scanParts(body)).toEqual({ imageParts: 0, fileParts: 0, fileBytes: 0, filePages: 0, unbounded: [] });
  });

  test("IMAGE_TOKENS covers gpt-4o-mini's high-detail maximum", () => {
    expect(IMAGE_TOKENS).toBe(48_169);
    expect(FILE_PAGE_TOKENS).toBe(IMAGE_TOKENS + FILE_PAGE_TEXT_TOKENS);
  });

  test("image parts count on the structure, for every provider's shape", () => {
    const chatBody = user([
      { type: "text", text: "what is this?" },
      { type: "image_url", image_url: { url: "https://example.com/a.png" } },
      { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=", detail: "high" } },
    ]);
    expect(bound(chatBody)).toBe(bytes(chatBody) + 2 * IMAGE_TOKENS);

    const responses = { model: "gpt-4o", input: [{ role: "user", content: [{ type: "input_image", image_url: "https://x/y.png" }] }] };
    expect(bound(responses)).toBe(bytes(responses) + IMAGE_TOKENS);

    const anthropic = {
      model: "claude-sonnet-4-6",
      messages: [
        {
          role: "user",
          content: [
            { type: "image", source: { type: "url", url: "https://x/y.png" } },
            { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" } },
          ],
        },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "t", content: [{ type: "image", source: { type: "url", url: "https://x/z.png" } }] }] },
      ],
    };
    expect(bound(anthropic)).toBe(bytes(anthropic) + 3 * IMAGE_TOKENS);

    const untyped = user(["describe", { image: "iVBORw0KGgo=" }]);
    expect(bound(untyped)).toBe(bytes(untyped) + IMAGE_TOKENS);

    const geminiBody = {
      contents: [
        {
          role: "user",
          parts: [{ text: "hi" }, { inlineData: { mimeType: "image/jpeg", data: "/9j/" } }, { inline_data: { mime_type: "image/png", data: "iVBO" } }],
        },
      ],
    };
    expect(bound(geminiBody)).toBe(bytes(geminiBody) + 2 * IMAGE_TOKENS);

    const screenshot = {
      model: "computer-use-preview",
      input: [{ type: "computer_call_output", call_id: "c", output: { type: "computer_screenshot", image_url: "data:image/png;base64,AAAA" } }],
    };
    expect(bound(screenshot)).toBe(bytes(screenshot) + IMAGE_TOKENS);
  });

  test("text that mentions an image or file type adds nothing", () => {
    const body = user('explain {"type": "image_url", "image_url": {"url": "x"}} and {"type":"image"} and {"type":"input_file","file_data":"AAAA"}');
    expect(bound(body)).toBe(bytes(body));
    const system = { model: "claude", system: '{"type":"document","source":{"type":"base64","data":"AAAA"}}', messages: [] };
    expect(bound(system)).toBe(bytes(system));
  });

  test("inline documents add pages × (image + text), pages from their decoded size", () => {
    const small = "A".repeat(64); // 48 bytes: 6 pages at MIN_PDF_PAGE_BYTES
    const pages = Math.ceil(48 / MIN_PDF_PAGE_BYTES);
    const chatFile = user([{ type: "file", file: { filename: "a.pdf", file_data: `data:application/pdf;base64,${small}` } }]);
    expect(scanParts(chatFile)).toMatchObject({ fileParts: 1, fileBytes: 48, filePages: pages });
    expect(bound(chatFile)).toBe(bytes(chatFile) + pages * FILE_PAGE_TOKENS);

    const responsesFile = {
      model: "gpt-4o",
      input: [{ role: "user", content: [{ type: "input_file", filename: "a.pdf", file_data: `data:application/pdf;base64,${small}` }] }],
    };
    expect(bound(responsesFile)).toBe(bytes(responsesFile) + pages * FILE_PAGE_TOKENS);

    const anthropicDoc = user([{ type: "document", source: { type: "base64", media_type: "application/pdf", data: small } }]);
    expect(bound(anthropicDoc)).toBe(bytes(anthropicDoc) + pages * FILE_PAGE_TOKENS);

    const geminiPdf = { contents: [{ parts: [{ inlineData: { mimeType: "application/pdf", data: small } }] }] };
    expect(bound(geminiPdf)).toBe(bytes(geminiPdf) + pages * FILE_PAGE_TOKENS);
  });

  test("a large document is capped at MAX_DOCUMENT_PAGES, and bounds can lower page and image costs", () => {
    const big = "A".repeat(400_000); // 300,000 bytes
    const body = user([
      { type: "document", source: { type: "base64", media_type: "application/pdf", data: big } },
      { type: "image", source: { type: "url", url: "u" } },
    ]);
    expect(scanParts(body)).toMatchObject({ imageParts: 1, fileParts: 1, fileBytes: 300_000, filePages: MAX_DOCUMENT_PAGES });
    expect(bound(body)).toBe(bytes(body) + IMAGE_TOKENS + MAX_DOCUMENT_PAGES * FILE_PAGE_TOKENS);
    expect(promptTokensBound(body, bytes(body), DEFAULT_MEDIA_BOUNDS)).toBe(bound(body));
    // e.g. Anthropic: 100 pages a request, ≈ 1,600 tokens an image on models before Opus 4.7.
    expect(promptTokensBound(body, bytes(body), { imageTokens: 1_600, documentPages: 100 })).toBe(bytes(body) + 1_600 + 100 * (1_600 + FILE_PAGE_TEXT_TOKENS));
  });

  test("text documents and audio cost no more than their bytes", () => {
    const text = user([
      { type: "document", source: { type: "text", media_type: "text/plain", data: "hello" } },
      { type: "input_file", filename: "a.txt", file_data: "data:text/plain;base64,aGVsbG8=" },
      { type: "input_audio", input_audio: { data: "SUQzBAAAAAAA", format: "mp3" } },
    ]);
    expect(bound(text)).toBe(bytes(text));
    const geminiText = { contents: [{ parts: [{ inlineData: { mimeType: "text/plain", data: "aGVsbG8=" } }] }] };
    expect(bound(geminiText)).toBe(bytes(geminiText));
  });

  test("Anthropic content documents are walked for their parts", () => {
    const body = user([
      {
        type: "document",
        source: {
          type: "content",
          content: [
            { type: "text", text: "a" },
            { type: "image", source: { type: "url", url: "u" } },
          ],
        },
      },
    ]);
    expect(bound(body)).toBe(bytes(body) + IMAGE_TOKENS);
  });

  test("deep nesting is walked without recursion", () => {
    let deep: Record<string, unknown> = { type: "image_url", image_url: { url: "u" } };
    for (let i = 0; i < 100_000; i++) deep = { a: [deep] };
    expect(scanParts(deep).imageParts).toBe(1);
  });
});

/** A minimal WAV header (PCM, one channel) declaring the given rate, followed by `seconds` worth of nothing. */
function wav(sampleRate: number, bitsPerSample = 8, junkChunk = 0): string {
  const blockAlign = bitsPerSample / 8;
  const parts: Buffer[] = [Buffer.from("RIFF"), Buffer.alloc(4), Buffer.from("WAVE")];
  if (junkChunk > 0) {
    const junk = Buffer.alloc(8 + junkChunk);
    junk.write("JUNK", 0, "latin1");
    junk.writeUInt32LE(junkChunk, 4);
    parts.push(junk);
  }
  const fmt = Buffer.alloc(24);
  fmt.write("fmt ", 0, "latin1");
  fmt.writeUInt32LE(16, 4);
  fmt.writeUInt16LE(1, 8);
  fmt.writeUInt16LE(1, 10);
  fmt.writeUInt32LE(sampleRate, 12);
  fmt.writeUInt32LE(sampleRate * blockAlign, 16);
  fmt.writeUInt16LE(blockAlign, 20);
  fmt.writeUInt16LE(bitsPerSample, 22);
  const data = Buffer.alloc(8 + 64);
  data.write("data", 0, "latin1");
  data.writeUInt32LE(64, 4);
  parts.push(fmt, data);
  const all = Buffer.concat(parts);
  all.writeUInt32LE(all.length - 8, 4);
  return all.toString("base64");
}

describe("unboundedReferences", () => {
  test("a plain request has none, and image URLs are bounded per image", () => {
    expect(unboundedReferences(user("hi"))).toEqual([]);
    expect(unboundedReferences(user([{ type: "image_url", image_url: { url: "https://x/y.png" } }]))).toEqual([]);
    expect(unboundedReferences({ model: "m", previous_response_id: null, conversation: null, background: false, prompt: "legacy completion prompt" })).toEqual(
      [],
    );
    expect(
      unboundedReferences({
        model: "m",
        tools: [
          { type: "function", function: { name: "f", parameters: {} } },
          { name: "t", input_schema: {} },
          { type: "bash_20250124", name: "bash" },
        ],
      }),
    ).toEqual([]);
    expect(scanParts(user("hi")).unbounded).toBe(scanParts(user("hello")).unbounded);
  });

  test("stored state: previous response, conversation, stored prompt, item references, cached content, background", () => {
    expect(
      unboundedReferences({
        model: "gpt-5",
        previous_response_id: "resp_1",
        conversation: { id: "conv_1" },
        prompt: { id: "pmpt_1", variables: {} },
        background: true,
        input: [
          { role: "user", content: "hi" },
          { type: "item_reference", id: "msg_1" },
        ],
      }),
    ).toEqual(["previous_response_id", "conversation", "prompt", "background", "input[1]"]);
    expect(unboundedReferences({ contents: [], cachedContent: "cachedContents/abc" })).toEqual(["cachedContent"]);
  });

  test("uploaded files: file_id in file, input_file and input_image parts; Anthropic file sources", () => {
    expect(unboundedReferences(user([{ type: "file", file: { file_id: "file-1" } }]))).toEqual(["messages[0].content[0].file.file_id"]);
    expect(
      unboundedReferences({
        model: "gpt-5",
        input: [
          {
            role: "user",
            content: [
              { type: "input_text", text: "x" },
              { type: "input_file", file_id: "file-1" },
              { type: "input_image", file_id: "file-2" },
            ],
          },
        ],
      }),
    ).toEqual(["input[0].content[1].file_id", "input[0].content[2].file_id"]);
    expect(
      unboundedReferences(
        user([
          { type: "document", source: { type: "file", file_id: "file_1" } },
          { type: "image", source: { type: "file", file_id: "file_2" } },
          { type: "container_upload", file_id: "file_3" },
        ]),
      ),
    ).toEqual(["messages[0].content[0].source", "messages[0].content[1].source", "messages[0].content[2].file_id"]);
    expect(unboundedReferences({ contents: [{ parts: [{ fileData: { mimeType: "application/pdf", fileUri: "gs://b/a.pdf" } }] }] })).toEqual([
      "contents[0].parts[0].fileData",
    ]);
  });

  test("documents fetched by URL", () => {
    expect(unboundedReferences(user([{ type: "document", source: { type: "url", url: "https://x/a.pdf" } }]))).toEqual(["messages[0].content[0].source"]);
    expect(unboundedReferences({ model: "m", input: [{ role: "user", content: [{ type: "input_file", file_url: "https://x/a.pdf" }] }] })).toEqual([
      "input[0].content[0].file_url",
    ]);
  });

  test("hosted tools", () => {
    expect(
      unboundedReferences({
        model: "m",
        tools: [
          { type: "function", name: "f" },
          { type: "web_search" },
          { type: "file_search", vector_store_ids: ["vs_1"] },
          { type: "code_interpreter", container: { type: "auto" } },
          { type: "mcp", server_url: "https://x" },
          { type: "image_generation" },
        ],
      }),
    ).toEqual(["tools[1]", "tools[2]", "tools[3]", "tools[4]", "tools[5]"]);
    expect(
      unboundedReferences({
        model: "claude",
        mcp_servers: [{ type: "url", url: "https://x", name: "x" }],
        tools: [
          { type: "web_search_20250305", name: "web_search" },
          { type: "web_fetch_20250910", name: "web_fetch" },
          { type: "code_execution_20250825", name: "c" },
        ],
      }),
    ).toEqual(["mcp_servers", "tools[0]", "tools[1]", "tools[2]"]);
    expect(unboundedReferences({ contents: [], tools: [{ functionDeclarations: [] }, { googleSearch: {} }, { url_context: {} }] })).toEqual([
      "tools[1]",
      "tools[2]",
    ]);
    expect(unboundedReferences({ model: "gpt-4o-search-preview", web_search_options: {} })).toEqual(["web_search_options"]);
  });

  test("media billed by duration: WAV with an implausible rate, Gemini audio and video", () => {
    const audio = (data: string) => user([{ type: "input_audio", input_audio: { data, format: "wav" } }]);
    expect(unboundedReferences(audio(wav(16_000, 16)))).toEqual([]);
    expect(unboundedReferences(audio(wav(8_000, 8)))).toEqual([]);
    expect(unboundedReferences(audio(wav(8_000, 8, 100)))).toEqual([]);
    expect(unboundedReferences(audio(`data:audio/wav;base64,${wav(24_000, 16)}`))).toEqual([]);
    expect(unboundedReferences(audio(wav(1)))).toEqual(["messages[0].content[0].input_audio.data"]);
    expect(unboundedReferences(audio(wav(500)))).toEqual(["messages[0].content[0].input_audio.data"]);
    // A format chunk pushed past the first 4 KiB cannot be checked cheaply.
    expect(unboundedReferences(audio(wav(16_000, 16, 8_000)))).toEqual(["messages[0].content[0].input_audio.data"]);
    expect(
      unboundedReferences({
        contents: [{ parts: [{ inlineData: { mimeType: "audio/flac", data: "ZkxhQw==" } }, { inline_data: { mime_type: "video/mp4", data: "AAAA" } }] }],
      }),
    ).toEqual(["contents[0].parts[0].inlineData", "contents[0].parts[1].inline_data"]);
  });

  test("paths come in document order, and counts are kept alongside", () => {
    const body = {
      model: "m",
      previous_response_id: "r",
      input: [
        {
          role: "user",
          content: [
            { type: "input_file", file_id: "a" },
            { type: "input_image", image_url: "u" },
          ],
        },
        { role: "user", content: [{ type: "input_file", file_url: "b" }] },
      ],
      tools: [{ type: "web_search" }],
    };
    expect(scanParts(body)).toEqual({
      imageParts: 1,
      fileParts: 0,
      fileBytes: 0,
      filePages: 0,
      unbounded: ["previous_response_id", "tools[0]", "input[0].content[0].file_id", "input[1].content[0].file_url"],
    });
  });
});
