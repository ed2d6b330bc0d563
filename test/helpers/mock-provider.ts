/**
 * A real HTTP mock of the OpenAI and Anthropic APIs for tests.
 *
 * keyward's job is forwarding bytes, headers, streams and disconnects, so its
 * tests need a provider on a real socket (never a mocked `fetch`): only then do
 * timeouts, aborts, chunk timing, compression and hop-by-hop headers behave as
 * they do in production. The response shapes follow the real APIs closely
 * enough that the official `openai` and `@anthropic-ai/sdk` clients accept
 * them (test/unit/mock-provider.test.ts proves it).
 *
 * Routes (all under `/v1`):
 * - `POST /v1/chat/completions`  OpenAI chat, JSON or SSE (`stream: true`)
 * - `POST /v1/responses`         OpenAI Responses API, JSON or SSE
 * - `POST /v1/embeddings`        float or base64 (`encoding_format`) vectors
 * - `GET  /v1/models`            OpenAI list; Anthropic list when the request
 *                                carries `anthropic-version`
 * - `POST /v1/messages`          Anthropic messages, JSON or SSE
 * - `GET  /v1/responses/{id}`    a stored Responses API object (with its usage; not billed again)
 * - anything else                404 with an OpenAI-style error
 *
 * By default usage is what the test configured. In `permissive` mode the mock
 * behaves like a lenient OpenAI-compatible server (vLLM, LiteLLM-style) and
 * usage follows the request: see `MockBehaviour.permissive`. Either way
 * `billed()` lists what the mock would bill, so a test can compare it with
 * what keyward charged.
 */

/** A JSON value, so recorded bodies and configured error bodies stay typed. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
/** A JSON object (every request body these APIs accept is one). */
export type JsonObject = { [key: string]: JsonValue };

/**
 * Token counts the mock reports, written verbatim into each API's own fields
 * (no arithmetic besides `total = input + output`), so a test knows exactly
 * which numbers keyward should have parsed:
 * - OpenAI chat/embeddings: `prompt_tokens = input`, `completion_tokens = output`,
 *   `prompt_tokens_details.cached_tokens = cached`.
 * - OpenAI Responses: `input_tokens = input`, `output_tokens = output`,
 *   `input_tokens_details.cached_tokens = cached`.
 * - Anthropic: `input_tokens = input`, `output_tokens = output`,
 *   `cache_read_input_tokens = cached`, `cache_creation_input_tokens = cacheCreation`.
 */
export interface MockUsage {
  input: number;
  output: number;
  cached: number;
  cacheCreation: number;
}

/** An upstream error to pass through: status, JSON body, extra headers. */
export interface MockError {
  status: number;
  /** Defaults to the API's own error shape (OpenAI or Anthropic, by path). */
  body?: JsonValue;
  headers?: Record<string, string>;
}

/** Everything a test can change about how the mock answers. */
export interface MockBehaviour {
  /** Text deltas per streamed response (default 5). The text is split into this many slices. */
  chunks: number;
  /** Pause between consecutive SSE events, in ms (default 0). */
  chunkDelayMs: number;
  /** Pause before the response status and headers are sent, in ms (default 0). For timeout tests. */
  headersDelayMs: number;
  /** Assistant text of every completion (default "Hello from the mock provider!"). */
  text: string;
  usage: MockUsage;
  /** Answer with this error instead of the route's normal response. */
  error?: MockError;
  /** Answer with a redirect (default status 302) instead of the route's response. */
  redirect?: { location: string; status?: 301 | 302 | 303 | 307 | 308 };
  /** gzip every JSON body (normal and error) and send `content-encoding: gzip`. */
  gzip: boolean;
  /** Extra response headers; an array value sends the header several times (e.g. `set-cookie`). */
  headers: Record<string, string | string[]>;
  /**
   * Send status and headers, then nothing until the client goes away. Bun.serve
   * cannot flush headers without a body byte, so exactly one `\n` is written:
   * whitespace for a JSON parser, an empty (ignored) line for an SSE parser.
   */
  hang: boolean;
  /** In a stream, stay silent for `ms` after the first `afterEvents` SSE events, then go on. */
  quiet?: { afterEvents: number; ms: number };
  /** Model ids listed by `GET /v1/models`. */
  models: string[];
  /**
   * Behave like a lenient OpenAI-compatible server (vLLM, LiteLLM-style),
   * reading the raw body itself (`RecordedRequest.reading` says what it read):
   * - a repeated key: the last one wins (escaped spellings included, as JSON.parse does);
   * - numeric strings are coerced for caps and `n` (`"100000"` → 100000, `"3"` → 3), and
   *   `"true"`/`"false"` for `stream` and `stream_options.include_usage`;
   * - unknown fields are ignored; keys are matched case-sensitively;
   * - output follows the request: per choice `uncappedOutputTokens` without a cap, else
   *   min(cap, `naturalOutputTokens`), times `n` (chat). Caps: chat `chatCapOrder` (the first
   *   one present wins), Responses `max_output_tokens`, Anthropic `max_tokens`;
   * - input = ceil(UTF-8 body bytes / 4) + `imageTokens` per image part; `usage.cached` and
   *   `usage.cacheCreation` are reported as configured, `usage.input`/`usage.output` are ignored.
   */
  permissive: boolean;
  /** Permissive: output tokens per choice when the request sets no cap (default 100_000). */
  uncappedOutputTokens: number;
  /** Permissive: output tokens per choice the model produces on its own, when a cap does not cut it first (default: unlimited). */
  naturalOutputTokens: number;
  /** Permissive: input tokens per image part (`image_url`, `input_image`, `image`; default 1_000). */
  imageTokens: number;
  /** Permissive chat: the cap fields in the order they win (default `max_completion_tokens`, then `max_tokens`). */
  chatCapOrder: string[];
  /** Permissive: an upstream that ignored the cap: each choice reports ceil(cap × factor) output tokens. */
  overrunFactor?: number;
  /**
   * Cut a stream right before the event that carries its final usage (chat: the usage chunk
   * and `[DONE]`; Responses: `response.completed`; Anthropic: `message_delta` and
   * `message_stop`). `true` ends the body cleanly there, `"error"` breaks the connection.
   */
  dropUsage: boolean | "error";
  /** 2xx JSON answers carry no `usage`; chat streams send no usage chunk (as if `include_usage` was ignored), Responses streams `usage: null`. */
  omitUsage: boolean;
}

/** What the mock read from a request in permissive mode (after its own parse and coercions). */
export interface PermissiveReading {
  model: string | undefined;
  stream: boolean;
  includeUsage: boolean;
  /** Every cap field present with a usable value, coerced: name → value. */
  caps: Record<string, number>;
  /** The cap the mock honoured (per choice); undefined when none. */
  cap: number | undefined;
  /** Choices generated (`n`, coerced; 1 when absent). */
  n: number;
  /** Image parts counted into the input. */
  images: number;
}

/** What the mock bills for one request it answered or started answering (see `MockProvider.billed`). */
export interface Billed {
  /** Index of the request in `MockProvider.requests`. */
  requestIndex: number;
  path: string;
  /** The model it ran: the body's `model` as the mock read it (a default when absent). */
  model: string;
  input: number;
  output: number;
  /** Part of `input` read from a cache. */
  cached: number;
  /** Part of `input` written to a cache (Anthropic). */
  cacheCreation: number;
  /** Choices generated. */
  choices: number;
  /** The answer did not reach its end: the client left first, or the stream was cut (`dropUsage`). Billed in full all the same. */
  cut: boolean;
  /** The usage reached the wire (false when omitted, dropped, or the client left before it). */
  usageSent: boolean;
}

/** What `startMockProvider`, `set` and `next` accept: any subset, `usage` merged field by field. */
export type MockBehaviourInput = Partial<Omit<MockBehaviour, "usage">> & { usage?: Partial<MockUsage> };

/** One request as the mock received it, plus what the mock did with it. */
export interface RecordedRequest {
  method: string;
  /** Path without the query string, e.g. `/v1/chat/completions`. */
  path: string;
  /** Query parameters (the last value wins for a repeated name). */
  query: Record<string, string>;
  /** Request headers, names lowercased. */
  headers: Record<string, string>;
  /** Raw request body text ("" when there is none). */
  body: string;
  /** The body parsed as JSON when it is a JSON object, else undefined (by the mock's own parser: a repeated key's last value wins). */
  json: JsonObject | undefined;
  /** Paths of keys that appeared more than once in one object (compared after unescaping), e.g. `["model", "messages[0].role"]`. */
  duplicateKeys: string[];
  /** Permissive mode: what the mock read from the body. */
  reading?: PermissiveReading;
  /** What the mock bills for this request, if anything (the same object `billed()` lists). */
  billed?: Billed;
  /** `performance.now()` when the request arrived. */
  receivedAt: number;
  /** Status the mock answered with (set once the response is chosen; 0 if the client left before). */
  status: number;
  /** Whether the answer was an SSE stream. */
  streamed: boolean;
  /** `performance.now()` of every SSE event (or the hang byte) handed to the socket, in order. */
  chunksWritten: number[];
  /** `performance.now()` when a stream was closed normally. */
  completedAt?: number;
  /** `performance.now()` when the client went away before the response finished. */
  cancelledAt?: number;
}

/** A client disconnect seen by the mock (keyward aborting its upstream request). */
export interface Cancellation {
  path: string;
  /** `performance.now()` when the mock noticed it. */
  at: number;
  /** Index of the request in `MockProvider.requests`. */
  requestIndex: number;
}

export interface MockProvider {
  /** `http://127.0.0.1:PORT` (the Anthropic SDK's baseURL). */
  url: string;
  /** `url + "/v1"` (the OpenAI SDK's baseURL, and a provider key's base_url). */
  baseUrl: string;
  port: number;
  /** Every request, in arrival order. Cleared in place by `reset`. */
  requests: RecordedRequest[];
  /** Every client disconnect, in order. Cleared in place by `reset`. */
  cancellations: Cancellation[];
  /** Override the behaviour of the next request only; calls queue up, one per request. */
  next(behaviour: MockBehaviourInput): void;
  /** Change the defaults for all later requests (merged into the current defaults). */
  set(defaults: MockBehaviourInput): void;
  /**
   * What the mock billed, in arrival order: one entry per request it answered or started
   * answering with a 2xx (it starts generating on receipt, so a request the client left
   * before the headers is billed too, as `cut`). Errors, redirects, model lists and stored
   * object reads are not billed. Cleared by `reset`.
   */
  billed(): Billed[];
  /** Back to the start options; clears requests, cancellations, billing and queued overrides. */
  reset(): void;
  /**
   * Resolves with the next cancellation not yet returned by an earlier call
   * (one already recorded counts), or rejects after `timeoutMs` (default 2000).
   */
  waitForCancellation(timeoutMs?: number): Promise<Cancellation>;
  /** Stops the server, cutting open connections and ending pending streams. */
  stop(): Promise<void>;
}

/** The assistant text of every completion unless `text` says otherwise. */
export const MOCK_TEXT = "Hello from the mock provider!";

const DEFAULTS: MockBehaviour = {
  chunks: 5,
  chunkDelayMs: 0,
  headersDelayMs: 0,
  text: MOCK_TEXT,
  usage: { input: 11, output: 7, cached: 0, cacheCreation: 0 },
  gzip: false,
  headers: {},
  hang: false,
  models: ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small", "claude-sonnet-4-6"],
  permissive: false,
  uncappedOutputTokens: 100_000,
  naturalOutputTokens: Number.POSITIVE_INFINITY,
  imageTokens: 1_000,
  chatCapOrder: ["max_completion_tokens", "max_tokens"],
  dropUsage: false,
  omitUsage: false,
};

/** Layers partial behaviour over a full one; `usage` is merged field by field. */
function merge(base: MockBehaviour, patch: MockBehaviourInput): MockBehaviour {
  const { usage, ...rest } = patch;
  return { ...base, ...rest, usage: { ...base.usage, ...usage } };
}

const encoder = new TextEncoder();

/** A rendered SSE event: what goes on the wire. */
type SseEvent = string;

/** OpenAI-style `data:`-only event (chat completions); the string "[DONE]" goes out as is. */
const dataEvent = (payload: JsonValue): SseEvent => `data: ${payload === "[DONE]" ? payload : JSON.stringify(payload)}\n\n`;

/** Named event as the Responses API and Anthropic send them. */
const namedEvent = (type: string, payload: JsonValue): SseEvent => `event: ${type}\ndata: ${JSON.stringify(payload)}\n\n`;

/** Splits `text` into exactly `n` slices (some empty when the text is short) that join back to it. */
function slices(text: string, n: number): string[] {
  const count = Math.max(1, Math.floor(n));
  const size = Math.ceil(text.length / count);
  return Array.from({ length: count }, (_, i) => text.slice(i * size, (i + 1) * size));
}

/** The mock's own reading of a body: the value (a repeated key's last value wins, as with JSON.parse) and the repeated keys' paths. */
export interface ParsedBody {
  value: JsonValue;
  duplicateKeys: string[];
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
/** Deeper bodies are not parsed (recorded as non-JSON): the parser recurses. */
const MAX_PARSE_DEPTH = 1_000;

/** A path in the `messages[0].content` form. */
function pathJoin(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key)) return path === "" ? key : `${path}.${key}`;
  return `${path}[${JSON.stringify(key)}]`;
}

/**
 * Parses JSON text as a lenient server does, recording every key that repeats
 * within one object. Strict JSON syntax otherwise; undefined when the text is
 * not JSON (or nests deeper than MAX_PARSE_DEPTH).
 */
export function parseBody(text: string): ParsedBody | undefined {
  const duplicateKeys: string[] = [];
  let i = 0;
  const fail = (): never => {
    throw new SyntaxError(`not JSON at ${i}`);
  };
  const space = (): void => {
    for (let c = text.charCodeAt(i); c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09; c = text.charCodeAt(++i));
  };
  const string = (): string => {
    if (text[i] !== '"') fail();
    let end = i + 1;
    for (;;) {
      const c = text.charCodeAt(end);
      if (Number.isNaN(c) || c < 0x20) fail();
      if (c === 0x5c) end += 2;
      else if (c === 0x22) break;
      else end++;
    }
    const raw = text.slice(i, end + 1);
    i = end + 1;
    // Escapes decoded exactly as JSON.parse does (it also rejects bad ones).
    return raw.includes("\\") ? (JSON.parse(raw) as string) : raw.slice(1, -1);
  };
  const value = (path: string, depth: number): JsonValue => {
    if (depth > MAX_PARSE_DEPTH) fail();
    space();
    const c = text[i];
    if (c === "{") {
      i++;
      const out: JsonObject = {};
      const seen = new Set<string>();
      space();
      if (text[i] === "}") {
        i++;
        return out;
      }
      for (;;) {
        space();
        const key = string();
        space();
        if (text[i] !== ":") fail();
        i++;
        const member = value(pathJoin(path, key), depth + 1);
        if (seen.has(key)) duplicateKeys.push(pathJoin(path, key));
        seen.add(key);
        // defineProperty, not assignment: a "__proto__" key is data, as JSON.parse treats it.
        Object.defineProperty(out, key, { value: member, enumerable: true, writable: true, configurable: true });
        space();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          return out;
        }
        return fail();
      }
    }
    if (c === "[") {
      i++;
      const out: JsonValue[] = [];
      space();
      if (text[i] === "]") {
        i++;
        return out;
      }
      for (;;) {
        out.push(value(pathJoin(path, out.length), depth + 1));
        space();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          return out;
        }
        return fail();
      }
    }
    if (c === '"') return string();
    for (const [word, literal] of [
      ["true", true],
      ["false", false],
      ["null", null],
    ] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return literal;
      }
    }
    NUMBER.lastIndex = i;
    const match = NUMBER.exec(text);
    if (!match) return fail();
    i += match[0].length;
    return Number(match[0]);
  };
  try {
    const parsed = value("", 0);
    space();
    if (i !== text.length) return undefined;
    return { value: parsed, duplicateKeys };
  } catch {
    return undefined;
  }
}

const isObject = (value: JsonValue | undefined): value is JsonObject => typeof value === "object" && value !== null && !Array.isArray(value);

/** A lenient integer: a whole JSON number, or a string of digits (`"100000"`). */
function lenientInt(value: JsonValue | undefined): number | undefined {
  if (typeof value === "number") return Number.isInteger(value) ? value : undefined;
  if (typeof value === "string" && /^\s*[+-]?\d+\s*$/.test(value)) return Number.parseInt(value, 10);
  return undefined;
}

/** A lenient boolean: true/false, "true"/"false" (any case), 1/0. */
function lenientBool(value: JsonValue | undefined): boolean | undefined {
  if (typeof value === "boolean") return value;
  if (typeof value === "string" && /^(true|false)$/i.test(value.trim())) return value.trim().toLowerCase() === "true";
  if (value === 1 || value === 0) return value === 1;
  return undefined;
}

/** Image parts anywhere in the body, by their `type`. */
function countImageParts(value: JsonValue): number {
  let count = 0;
  const stack: JsonValue[] = [value];
  while (stack.length > 0) {
    const v = stack.pop() as JsonValue;
    if (Array.isArray(v)) stack.push(...v);
    else if (isObject(v)) {
      if (v.type === "image_url" || v.type === "input_image" || v.type === "image") count++;
      stack.push(...Object.values(v));
    }
  }
  return count;
}

/** The cap fields of an endpoint, in the order they win. */
function capOrder(path: string, b: MockBehaviour): string[] {
  if (path === "/v1/chat/completions") return b.chatCapOrder;
  if (path === "/v1/responses") return ["max_output_tokens"];
  if (path === "/v1/messages") return ["max_tokens"];
  return [];
}

/** What a lenient server reads from a body. */
function readPermissive(path: string, json: JsonObject | undefined, b: MockBehaviour): PermissiveReading {
  const caps: Record<string, number> = {};
  for (const field of capOrder(path, b)) {
    const value = lenientInt(json?.[field]);
    if (value !== undefined && value > 0) caps[field] = value;
  }
  const cap = capOrder(path, b)
    .map((field) => caps[field])
    .find((value) => value !== undefined);
  const options = json?.stream_options;
  const n = path === "/v1/chat/completions" ? lenientInt(json?.n) : undefined;
  return {
    model: typeof json?.model === "string" ? json.model : undefined,
    stream: lenientBool(json?.stream) ?? false,
    includeUsage: isObject(options) ? (lenientBool(options.include_usage) ?? false) : false,
    caps,
    cap,
    n: n !== undefined && n > 0 ? n : 1,
    images: json ? countImageParts(json) : 0,
  };
}

/** Usage in permissive mode: input from the body's size and images, output from the caps. */
function permissiveUsage(reading: PermissiveReading, body: string, b: MockBehaviour): MockUsage {
  const input = Math.ceil(encoder.encode(body).byteLength / 4) + reading.images * b.imageTokens;
  let perChoice: number;
  if (reading.cap === undefined) perChoice = b.uncappedOutputTokens;
  else if (b.overrunFactor !== undefined) perChoice = Math.ceil(reading.cap * b.overrunFactor);
  else perChoice = Math.min(reading.cap, b.naturalOutputTokens);
  return {
    input,
    output: perChoice * reading.n,
    cached: Math.min(b.usage.cached, input),
    cacheCreation: Math.min(b.usage.cacheCreation, input - Math.min(b.usage.cached, input)),
  };
}

const stringField = (json: JsonObject | undefined, key: string): string | undefined => {
  const value = json?.[key];
  return typeof value === "string" ? value : undefined;
};

/** Per-request context handed to the route handlers. */
interface Ctx {
  b: MockBehaviour;
  rec: RecordedRequest;
  json: JsonObject | undefined;
  /** The body's `model`, if a string. */
  model: string | undefined;
  /** Whether to answer with SSE (`stream: true`; permissive: coerced). */
  stream: boolean;
  /** Chat streams: whether the request asked for the usage chunk. */
  includeUsage: boolean;
  /** Chat: choices to return in a JSON answer. */
  choices: number;
  /** Sequence number for ids, unique within this mock. */
  seq: number;
  /** Unix seconds, as the APIs report `created`. */
  created: number;
}

/** What a route produces; `respond` turns it into a `Response`. */
type RouteResult =
  | { kind: "json"; status: number; body: JsonValue; headers?: Record<string, string>; billable?: boolean }
  | {
      kind: "sse";
      events: SseEvent[];
      headers?: Record<string, string>;
      /** Index of the first event that carries the final usage (where `dropUsage` cuts); events.length when none does. */
      usageAt: number;
      billable?: boolean;
    };

// ---------- OpenAI chat completions ----------

function chatCompletions(ctx: Ctx): RouteResult {
  const { b } = ctx;
  const id = `chatcmpl-mock${ctx.seq}`;
  const model = ctx.model ?? "gpt-4o-mini";
  const usage: JsonObject = {
    prompt_tokens: b.usage.input,
    completion_tokens: b.usage.output,
    total_tokens: b.usage.input + b.usage.output,
    prompt_tokens_details: { cached_tokens: b.usage.cached, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
  const base = { id, created: ctx.created, model, service_tier: "default", system_fingerprint: "fp_mock" };
  if (!ctx.stream) {
    return {
      kind: "json",
      status: 200,
      billable: true,
      body: {
        ...base,
        object: "chat.completion",
        choices: Array.from({ length: ctx.choices }, (_, index) => ({
          index,
          message: { role: "assistant", content: b.text, refusal: null, annotations: [] },
          logprobs: null,
          finish_reason: "stop",
        })),
        ...(b.omitUsage ? {} : { usage }),
      },
    };
  }
  // Exactly like OpenAI: with include_usage every chunk has `usage: null` and an
  // extra final chunk with no choices carries the usage; without it, no usage key.
  // `omitUsage`: a server that ignores the option.
  const includeUsage = ctx.includeUsage && !b.omitUsage;
  const chunk = (delta: JsonObject, finish: string | null): JsonObject => ({
    ...base,
    object: "chat.completion.chunk",
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(includeUsage ? { usage: null } : {}),
  });
  const events = [
    dataEvent(chunk({ role: "assistant", content: "", refusal: null }, null)),
    ...slices(b.text, b.chunks).map((text) => dataEvent(chunk({ content: text }, null))),
    dataEvent(chunk({}, "stop")),
  ];
  const usageAt = events.length;
  if (includeUsage) events.push(dataEvent({ ...base, object: "chat.completion.chunk", choices: [], usage }));
  events.push(dataEvent("[DONE]"));
  return { kind: "sse", events, usageAt: includeUsage ? usageAt : events.length, billable: true };
}

// ---------- OpenAI Responses API ----------

function responses(ctx: Ctx): RouteResult {
  const { b } = ctx;
  const id = `resp_mock${ctx.seq}`;
  const itemId = `msg_mock${ctx.seq}`;
  const model = ctx.model ?? "gpt-4o-mini";
  const usage: JsonObject = {
    input_tokens: b.usage.input,
    input_tokens_details: { cached_tokens: b.usage.cached },
    output_tokens: b.usage.output,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: b.usage.input + b.usage.output,
  };
  const part = (text: string): JsonObject => ({ type: "output_text", text, annotations: [], logprobs: [] });
  const item = (status: string, content: JsonValue[]): JsonObject => ({
    id: itemId,
    type: "message",
    status,
    role: "assistant",
    content,
  });
  const response = (status: string, output: JsonValue[], withUsage: JsonObject | null): JsonObject => ({
    id,
    object: "response",
    created_at: ctx.created,
    status,
    error: null,
    incomplete_details: null,
    instructions: null,
    max_output_tokens: null,
    model,
    output,
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    store: true,
    temperature: 1,
    text: { format: { type: "text" } },
    tool_choice: "auto",
    tools: [],
    top_p: 1,
    truncation: "disabled",
    usage: withUsage,
    user: null,
    metadata: {},
  });
  const done = item("completed", [part(b.text)]);
  const finalUsage = b.omitUsage ? null : usage;
  if (!ctx.stream) {
    return { kind: "json", status: 200, billable: true, body: response("completed", [done], finalUsage) };
  }
  // The full event sequence the real API sends: the SDK's ResponseStream
  // validates item ids and indexes, so deltas alone would be rejected.
  let seq = 0;
  const ev = (type: string, fields: JsonObject): SseEvent => namedEvent(type, { type, sequence_number: seq++, ...fields });
  const at = { item_id: itemId, output_index: 0, content_index: 0 };
  const events = [
    ev("response.created", { response: response("in_progress", [], null) }),
    ev("response.in_progress", { response: response("in_progress", [], null) }),
    ev("response.output_item.added", { output_index: 0, item: item("in_progress", []) }),
    ev("response.content_part.added", { ...at, part: part("") }),
    ...slices(b.text, b.chunks).map((delta) => ev("response.output_text.delta", { ...at, delta, logprobs: [] })),
    ev("response.output_text.done", { ...at, text: b.text, logprobs: [] }),
    ev("response.content_part.done", { ...at, part: part(b.text) }),
    ev("response.output_item.done", { output_index: 0, item: done }),
    ev("response.completed", { response: response("completed", [done], finalUsage) }),
  ];
  return { kind: "sse", events, usageAt: events.length - 1, billable: true };
}

/** `GET /v1/responses/{id}`: a stored response, read back (the API returns it with its usage; reading it is not billed). */
function storedResponse(ctx: Ctx, id: string): RouteResult {
  const { b } = ctx;
  const output = [
    {
      id: `msg_${id}`,
      type: "message",
      status: "completed",
      role: "assistant",
      content: [{ type: "output_text", text: b.text, annotations: [], logprobs: [] }],
    },
  ];
  return {
    kind: "json",
    status: 200,
    body: {
      id,
      object: "response",
      created_at: ctx.created,
      status: "completed",
      error: null,
      incomplete_details: null,
      model: "gpt-4o-mini",
      output,
      usage: {
        input_tokens: b.usage.input,
        input_tokens_details: { cached_tokens: b.usage.cached },
        output_tokens: b.usage.output,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: b.usage.input + b.usage.output,
      },
    },
  };
}

// ---------- OpenAI embeddings ----------

/** A deterministic vector per input, so tests can compare without storing fixtures. */
function vector(index: number, dimensions: number): number[] {
  return Array.from({ length: dimensions }, (_, i) => Math.fround(((index + 1) * (i + 1)) / 100));
}

function embeddings(ctx: Ctx): RouteResult {
  const { b, json } = ctx;
  const input = json?.input;
  const count = Array.isArray(input) && input.length > 0 && !input.every((x) => typeof x === "number") ? input.length : 1;
  const dimensions = typeof json?.dimensions === "number" ? json.dimensions : 8;
  // The openai SDK asks for base64 unless the caller chose a format, then decodes Float32 LE.
  const base64 = json?.encoding_format === "base64";
  const data = Array.from({ length: count }, (_, index) => {
    const values = vector(index, dimensions);
    const embedding = base64 ? Buffer.from(new Float32Array(values).buffer).toString("base64") : values;
    return { object: "embedding", index, embedding };
  });
  return {
    kind: "json",
    status: 200,
    billable: true,
    body: {
      object: "list",
      data,
      model: ctx.model ?? "text-embedding-3-small",
      ...(b.omitUsage ? {} : { usage: { prompt_tokens: b.usage.input, total_tokens: b.usage.input } }),
    },
  };
}

// ---------- models ----------

function models(ctx: Ctx): RouteResult {
  const ids = ctx.b.models;
  if (ctx.rec.headers["anthropic-version"] !== undefined) {
    const data = ids.map((id) => ({ type: "model", id, display_name: id, created_at: "2025-01-01T00:00:00Z" }));
    return {
      kind: "json",
      status: 200,
      body: { data, has_more: false, first_id: ids[0] ?? null, last_id: ids.at(-1) ?? null },
    };
  }
  const data = ids.map((id) => ({ id, object: "model", created: 1_700_000_000, owned_by: "mock" }));
  return { kind: "json", status: 200, body: { object: "list", data } };
}

// ---------- Anthropic messages ----------

function messages(ctx: Ctx): RouteResult {
  const { b } = ctx;
  const id = `msg_mock${ctx.seq}`;
  const model = ctx.model ?? "claude-sonnet-4-6";
  const headers = { "request-id": `req_mock${ctx.seq}` };
  const message = (content: JsonValue[], stop: string | null, usage: JsonObject): JsonObject => ({
    id,
    type: "message",
    role: "assistant",
    model,
    content,
    stop_reason: stop,
    stop_sequence: null,
    usage,
  });
  const fullUsage = (output: number): JsonObject => ({
    input_tokens: b.usage.input,
    cache_creation_input_tokens: b.usage.cacheCreation,
    cache_read_input_tokens: b.usage.cached,
    output_tokens: output,
    service_tier: "standard",
  });
  if (!ctx.stream) {
    const body = message([{ type: "text", text: b.text }], "end_turn", fullUsage(b.usage.output));
    if (b.omitUsage) delete body.usage;
    return { kind: "json", status: 200, headers, body, billable: true };
  }
  // Like Anthropic: message_start already reports a small output_tokens (1);
  // the real count arrives in message_delta and replaces it (not adds to it).
  const events = [
    namedEvent("message_start", { type: "message_start", message: message([], null, fullUsage(1)) }),
    namedEvent("content_block_start", {
      type: "content_block_start",
      index: 0,
      content_block: { type: "text", text: "" },
    }),
    namedEvent("ping", { type: "ping" }),
    ...slices(b.text, b.chunks).map((text) =>
      namedEvent("content_block_delta", {
        type: "content_block_delta",
        index: 0,
        delta: { type: "text_delta", text },
      }),
    ),
    namedEvent("content_block_stop", { type: "content_block_stop", index: 0 }),
    namedEvent("message_delta", {
      type: "message_delta",
      delta: { stop_reason: "end_turn", stop_sequence: null },
      usage: { output_tokens: b.usage.output },
    }),
    namedEvent("message_stop", { type: "message_stop" }),
  ];
  return { kind: "sse", headers, events, usageAt: events.length - 2, billable: true };
}

// ---------- errors ----------

/** The error body the real API would send for this path. */
function defaultErrorBody(path: string, status: number): JsonValue {
  const message = `Mock upstream error ${status}`;
  if (path === "/v1/messages") {
    const type = status === 429 ? "rate_limit_error" : status >= 500 ? "api_error" : "invalid_request_error";
    return { type: "error", error: { type, message } };
  }
  const type = status === 429 ? "rate_limit_error" : status >= 500 ? "server_error" : "invalid_request_error";
  return { error: { message, type, param: null, code: null } };
}

function notFound(method: string, path: string): RouteResult {
  return {
    kind: "json",
    status: 404,
    body: {
      error: { message: `Invalid URL (${method} ${path})`, type: "invalid_request_error", param: null, code: null },
    },
  };
}

const ROUTES: Record<string, (ctx: Ctx) => RouteResult> = {
  "POST /v1/chat/completions": chatCompletions,
  "POST /v1/responses": responses,
  "POST /v1/embeddings": embeddings,
  "GET /v1/models": models,
  "POST /v1/messages": messages,
};

/** Builds response headers: the route's own, then the test's extras (arrays repeat the header). */
function buildHeaders(contentType: string | undefined, own: Record<string, string> | undefined, b: MockBehaviour): Headers {
  const headers = new Headers();
  if (contentType) headers.set("content-type", contentType);
  for (const [name, value] of Object.entries(own ?? {})) headers.set(name, value);
  for (const [name, value] of Object.entries(b.headers)) {
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else headers.set(name, value);
  }
  return headers;
}

/** Starts a mock provider on 127.0.0.1 with a free port. */
export async function startMockProvider(options: MockBehaviourInput = {}): Promise<MockProvider> {
  const initial = merge(DEFAULTS, options);
  let defaults = initial;
  const queue: MockBehaviourInput[] = [];
  const requests: RecordedRequest[] = [];
  const cancellations: Cancellation[] = [];
  const billing: Billed[] = [];
  /** Stop functions of streams still running, so `stop()` can end their timers. */
  const liveStreams = new Set<() => void>();
  /** Waiters of `waitForCancellation`, woken on each new cancellation. */
  const waiters = new Set<() => void>();
  let cancellationCursor = 0;
  let seq = 0;
  /** Bumped by `reset`, so a late disconnect from an earlier test is not recorded in the next one. */
  let generation = 0;
  /** Set by `stop`: connections cut by the mock itself are not client cancellations. */
  let stopping = false;

  /** Records a disconnect once per request, and only while its response was still in flight. */
  function cancel(rec: RecordedRequest, index: number, gen: number, finished: boolean): void {
    if (stopping || gen !== generation || finished) return;
    if (rec.cancelledAt !== undefined || rec.completedAt !== undefined) return;
    const at = performance.now();
    rec.cancelledAt = at;
    if (rec.billed) rec.billed.cut = true;
    cancellations.push({ path: rec.path, at, requestIndex: index });
    for (const wake of waiters) wake();
  }

  /**
   * Streams `events` with the configured pacing. Bun's `cancel()` on the
   * ReadableStream fires within a millisecond or two of the client aborting
   * (checked on Bun 1.4.5, as does `request.signal`), so it is the
   * cancellation signal; `type: "direct"` works as well but adds nothing.
   */
  function stream(events: SseEvent[], b: MockBehaviour, rec: RecordedRequest, onCancel: () => void, usageAt = events.length): ReadableStream<Uint8Array> {
    // dropUsage: the stream ends (or breaks) right before its usage event.
    const cutAt = b.dropUsage && usageAt < events.length ? usageAt : undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let closed = false;
    const finish = (): void => {
      closed = true;
      clearTimeout(timer);
      liveStreams.delete(stopNow);
    };
    let controllerRef: ReadableStreamDefaultController<Uint8Array> | undefined;
    const stopNow = (): void => {
      if (closed) return;
      finish();
      try {
        controllerRef?.close();
      } catch {
        // Already closed or errored by the client going away.
      }
    };
    liveStreams.add(stopNow);
    return new ReadableStream<Uint8Array>({
      start(controller) {
        controllerRef = controller;
        let written = 0;
        const write = (): void => {
          if (closed) return;
          if (written === cutAt) {
            if (rec.billed) rec.billed.cut = true;
            finish();
            if (b.dropUsage === "error") controller.error(new Error("mock provider cut the stream"));
            else {
              rec.completedAt = performance.now();
              controller.close();
            }
            return;
          }
          const event = events[written];
          if (event === undefined) return;
          controller.enqueue(encoder.encode(event));
          rec.chunksWritten.push(performance.now());
          if (written === usageAt && rec.billed) rec.billed.usageSent = true;
          written++;
          if (b.hang) return; // headers are out; now silence until the client leaves
          if (written === events.length) {
            // Close with the last event, so a client that stops reading at
            // `[DONE]`/`message_stop` never races a pending close.
            rec.completedAt = performance.now();
            finish();
            controller.close();
            return;
          }
          const delay = b.quiet && written === b.quiet.afterEvents ? b.quiet.ms : b.chunkDelayMs;
          timer = setTimeout(write, delay);
        };
        write();
      },
      cancel() {
        finish();
        onCancel();
      },
    });
  }

  async function handle(request: Request): Promise<Response> {
    const receivedAt = performance.now();
    const url = new URL(request.url);
    const body = await request.text();
    const parsed = body === "" ? undefined : parseBody(body);
    const json = parsed && isObject(parsed.value) ? parsed.value : undefined;
    const headers: Record<string, string> = {};
    request.headers.forEach((value, name) => {
      headers[name.toLowerCase()] = value;
    });
    const rec: RecordedRequest = {
      method: request.method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      body,
      json,
      duplicateKeys: parsed?.duplicateKeys ?? [],
      receivedAt,
      status: 0,
      streamed: false,
      chunksWritten: [],
    };
    const index = requests.push(rec) - 1;
    const override = queue.shift();
    const configured = override ? merge(defaults, override) : defaults;
    let b = configured;
    let ctx: Ctx;
    const created = Math.floor(Date.now() / 1000);
    // Permissive reading is for requests that generate (POST); reads and lists answer as configured.
    if (configured.permissive && request.method === "POST") {
      const reading = readPermissive(rec.path, json, configured);
      rec.reading = reading;
      b = { ...configured, usage: permissiveUsage(reading, body, configured) };
      ctx = { b, rec, json, model: reading.model, stream: reading.stream, includeUsage: reading.includeUsage, choices: reading.n, seq: ++seq, created };
    } else {
      const options = json?.stream_options;
      ctx = {
        b,
        rec,
        json,
        model: stringField(json, "model"),
        stream: json?.stream === true,
        includeUsage: isObject(options) && options.include_usage === true,
        choices: 1,
        seq: ++seq,
        created,
      };
    }

    // A client abort while we wait or stream counts as a cancellation; once the
    // response is complete, a late signal means nothing.
    let finished = false;
    const gen = generation;
    const onCancel = (): void => cancel(rec, index, gen, finished);
    request.signal.addEventListener("abort", onCancel, { once: true });

    // The answer is decided on receipt, and a billable one is billed from then on: a
    // provider generates (and bills) whether or not the client waits for the headers.
    let result: RouteResult | undefined;
    if (b.error) {
      result = {
        kind: "json",
        status: b.error.status,
        body: b.error.body ?? defaultErrorBody(rec.path, b.error.status),
        headers: b.error.headers,
      };
    } else if (!b.redirect) {
      const route = ROUTES[`${request.method} ${rec.path}`];
      const stored = request.method === "GET" && rec.path.startsWith("/v1/responses/") ? rec.path.slice("/v1/responses/".length) : undefined;
      result = route ? route(ctx) : stored ? storedResponse(ctx, stored) : notFound(request.method, rec.path);
    }
    if (result?.billable) {
      rec.billed = {
        requestIndex: index,
        path: rec.path,
        model: ctx.model ?? (rec.path === "/v1/messages" ? "claude-sonnet-4-6" : rec.path === "/v1/embeddings" ? "text-embedding-3-small" : "gpt-4o-mini"),
        input: b.usage.input,
        output: rec.path === "/v1/embeddings" ? 0 : b.usage.output,
        cached: b.usage.cached,
        cacheCreation: rec.path === "/v1/messages" ? b.usage.cacheCreation : 0,
        choices: ctx.choices,
        cut: false,
        usageSent: false,
      };
      billing.push(rec.billed);
    }

    if (b.headersDelayMs > 0) await Bun.sleep(b.headersDelayMs);
    if (request.signal.aborted) {
      if (rec.billed) rec.billed.cut = true;
      return new Response(null, { status: 499 });
    }

    if (b.redirect || !result) {
      rec.status = b.redirect?.status ?? 302;
      finished = true;
      const redirectHeaders = buildHeaders(undefined, { location: b.redirect?.location ?? "/" }, b);
      return new Response(null, { status: rec.status, headers: redirectHeaders });
    }

    const own = { "x-request-id": `req_mock${ctx.seq}`, ...result.headers };
    if (b.hang) {
      // One newline flushes the headers (see `MockBehaviour.hang`), then silence.
      const contentType = result.kind === "sse" ? "text/event-stream; charset=utf-8" : "application/json";
      rec.status = result.kind === "sse" ? 200 : result.status;
      rec.streamed = true;
      const body = stream(["\n"], b, rec, onCancel);
      return new Response(body, { status: rec.status, headers: buildHeaders(contentType, own, b) });
    }
    if (result.kind === "sse") {
      rec.status = 200;
      rec.streamed = true;
      const body = stream(result.events, b, rec, onCancel, result.usageAt);
      const sseHeaders = buildHeaders("text/event-stream; charset=utf-8", { "cache-control": "no-cache", ...own }, b);
      return new Response(body, { status: 200, headers: sseHeaders });
    }
    rec.status = result.status;
    finished = true;
    if (rec.billed && !b.omitUsage) rec.billed.usageSent = true;
    const bytes = encoder.encode(JSON.stringify(result.body));
    const jsonHeaders = buildHeaders("application/json", own, b);
    if (!b.gzip) return new Response(bytes, { status: result.status, headers: jsonHeaders });
    jsonHeaders.set("content-encoding", "gzip");
    return new Response(Bun.gzipSync(bytes), { status: result.status, headers: jsonHeaders });
  }

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    // Hang, quiet and slow-header modes must outlive any idle timer: only the
    // client (keyward) decides when to give up.
    idleTimeout: 0,
    // A stream broken on purpose (`dropUsage: "error"`) is not worth a stack trace on stderr.
    development: false,
    fetch: handle,
  });
  const port = server.port;
  if (port === undefined) throw new Error("mock provider did not get a port");
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    baseUrl: `${url}/v1`,
    port,
    requests,
    cancellations,
    next(behaviour) {
      queue.push(behaviour);
    },
    set(patch) {
      defaults = merge(defaults, patch);
    },
    billed() {
      return [...billing];
    },
    reset() {
      defaults = initial;
      queue.length = 0;
      requests.length = 0;
      cancellations.length = 0;
      billing.length = 0;
      cancellationCursor = 0;
      generation++;
    },
    waitForCancellation(timeoutMs = 2000) {
      return new Promise<Cancellation>((resolve, reject) => {
        const check = (): boolean => {
          const found = cancellations[cancellationCursor];
          if (!found) return false;
          cancellationCursor++;
          cleanup();
          resolve(found);
          return true;
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no cancellation within ${timeoutMs} ms (seen ${cancellations.length})`));
        }, timeoutMs);
        const wake = (): void => void check();
        const cleanup = (): void => {
          clearTimeout(timer);
          waiters.delete(wake);
        };
        waiters.add(wake);
        check();
      });
    },
    async stop() {
      stopping = true;
      // A snapshot: each stream removes itself from the set as it stops.
      for (const stopStream of Array.from(liveStreams)) stopStream();
      await server.stop(true);
    },
  };
}
