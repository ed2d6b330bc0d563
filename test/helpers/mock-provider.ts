/**
 * A real HTTP mock of the OpenAI, Anthropic and Gemini APIs for tests.
 *
 * keyward's job is forwarding bytes, headers, streams and disconnects, so its
 * tests need a provider on a real socket (never a mocked `fetch`): only then do
 * timeouts, aborts, chunk timing, compression and hop-by-hop headers behave as
 * they do in production. The response shapes follow the real APIs closely
 * enough that the official `openai`, `@anthropic-ai/sdk` and `@google/genai`
 * clients accept them (test/unit/mock-provider.test.ts and
 * mock-provider-more.test.ts prove it).
 *
 * Routes answered here:
 * - `POST /v1/chat/completions`  OpenAI chat, JSON or SSE (`stream: true`)
 * - `POST /v1/responses`         OpenAI Responses API, JSON or SSE; stored unless `store: false`
 * - `POST /v1/embeddings`        float or base64 (`encoding_format`) vectors
 * - `GET  /v1/models`            OpenAI list; Anthropic list when the request
 *                                carries `anthropic-version`; `GET /v1/models/{model}` one of them
 * - `POST /v1/messages`          Anthropic messages, JSON or SSE
 * - anything else                404 with an OpenAI-style error (Google's for Gemini-looking paths)
 * and, each in its own file:
 * - mock-gemini.ts               Gemini's native API under `/v1beta` and `/v1` (`…/models/{model}:generateContent` …)
 * - mock-gemini-objects.ts       Gemini files (resumable uploads) and context caches
 * - mock-stored-responses.ts     `GET|DELETE /v1/responses/{id}`, `…/input_items`, `…/cancel`
 * - mock-stored-objects.ts       OpenAI files, uploads, vector stores, batches
 * - mock-openai-media.ts         audio, images, moderations, legacy completions, realtime client secrets
 * - mock-anthropic-objects.ts    Anthropic files, message batches, count_tokens
 * Azure OpenAI paths (`[/openai]/deployments/{deployment}/chat/completions?api-version=…`,
 * `/openai/…`, `/openai/v1/…`) are answered as the OpenAI route they wrap; `RecordedRequest`
 * keeps the full `path`, the `deployment` and the `route` it was answered as.
 *
 * Request bodies sent with `content-encoding: gzip`, `deflate` or `br` are decoded before
 * they are parsed, as a server would (`RecordedRequest.contentEncoding`, `bodyBytes`).
 *
 * By default usage is what the test configured. In `permissive` mode the mock
 * behaves like a lenient OpenAI-compatible server (vLLM, LiteLLM-style) and
 * usage follows the request: see `MockBehaviour.permissive`. Either way
 * `billed()` lists what the mock would bill, so a test can compare it with
 * what keyward charged.
 */
import { gunzipSync, inflateRawSync, inflateSync, brotliDecompressSync } from "node:zlib";
import { ANTHROPIC_OBJECT_ROUTES, endBatch } from "./mock-anthropic-objects.ts";
import { GEMINI_ROUTES } from "./mock-gemini.ts";
import { GEMINI_OBJECT_ROUTES } from "./mock-gemini-objects.ts";
import { asText, isObject, lenientBool, parseBody, parseMultipart, stringField, type JsonObject, type JsonValue } from "./mock-json.ts";
import { MEDIA_ROUTES } from "./mock-openai-media.ts";
import { permissiveUsage, readPermissive } from "./mock-permissive.ts";
import { createStore, finishBatch, jsonlLines, STORED_OBJECT_ROUTES, type MockStore } from "./mock-stored-objects.ts";
import { finishResponse, saveResponse, STORED_RESPONSE_ROUTES } from "./mock-stored-responses.ts";
import {
  anthropicError,
  dataEvent,
  defaultErrorBody,
  encoder,
  googleError,
  json,
  namedEvent,
  openaiError,
  route,
  slices,
  vector,
  type Api,
  type Billed,
  type Cancellation,
  type Ctx,
  type MockBehaviour,
  type MockBehaviourInput,
  type RecordedFormValue,
  type RecordedRequest,
  type RouteResult,
  type RouteSpec,
  type SseEvent,
} from "./mock-types.ts";

export { parseBody, type JsonObject, type JsonValue, type ParsedBody } from "./mock-json.ts";
export type { MockStore, StoredFile, StoredMessageBatch, StoredResponse, StoredUpload } from "./mock-stored-objects.ts";
export type {
  Billed,
  Cancellation,
  MockBehaviour,
  MockBehaviourInput,
  MockError,
  MockUsage,
  PermissiveReading,
  RecordedFile,
  RecordedFormValue,
  RecordedRequest,
} from "./mock-types.ts";

const textDecoder = new TextDecoder();

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
   * before the headers is billed too, as `cut`). Errors, redirects, model lists, token counts,
   * moderations, realtime secrets, stored objects and their reads are not billed, nor are the
   * answers `completeBatch`/`endMessageBatch` make up. Cleared by `reset`.
   */
  billed(): Billed[];
  /** Back to the start options; clears requests, cancellations, billing, queued overrides and stored objects. */
  reset(): void;
  /** The stored objects (files with their bytes, batches, responses, …), by id. Cleared by `reset`. */
  store: MockStore;
  /**
   * Ends an OpenAI batch: status `completed`, `request_counts` and `usage` from the lines, and an
   * `output_file_id` whose content is `outputLines` as JSONL (each `{id, custom_id, response:
   * {status_code, body}}`). Without lines, each line of the input file is answered by its route
   * with the current behaviour (not recorded in `requests` nor billed). Returns the batch.
   */
  completeBatch(id: string, outputLines?: (JsonObject | string)[]): JsonObject;
  /** Finishes a queued `background: true` response: a read now gets it `completed`, with its output and usage. Returns it. */
  completeResponse(id: string): JsonObject;
  /**
   * Ends an Anthropic message batch: `processing_status: "ended"`, a `results_url` on the mock,
   * and results that are `results` (`{custom_id, result}` lines) or else every request answered
   * `succeeded` by `/v1/messages` with the current behaviour. Returns the batch.
   */
  endMessageBatch(id: string, results?: JsonObject[]): JsonObject;
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
  usage: { input: 11, output: 7, cached: 0, cacheCreation: 0, reasoning: 0 },
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
  strictStore: false,
  audioSeconds: 3,
};

/** Layers partial behaviour over a full one; `usage` is merged field by field. */
function merge(base: MockBehaviour, patch: MockBehaviourInput): MockBehaviour {
  const { usage, ...rest } = patch;
  return { ...base, ...rest, usage: { ...base.usage, ...usage } };
}

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
      reasoning_tokens: b.usage.reasoning,
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
      bill: { model },
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
  return { kind: "sse", events, usageAt: includeUsage ? usageAt : events.length, billable: true, bill: { model } };
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
    output_tokens_details: { reasoning_tokens: b.usage.reasoning },
    total_tokens: b.usage.input + b.usage.output,
  };
  const background = ctx.json?.background === true && !ctx.stream;
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
    store: lenientBool(ctx.json?.store) !== false,
    background,
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
  const completed = response("completed", [done], finalUsage);
  const bill = { model };
  if (background) {
    // Answered `queued`; it becomes `completed` when the test calls completeResponse (billed on receipt all the same).
    const queued = response("queued", [], null);
    saveResponse(ctx, queued, completed);
    return { kind: "json", status: 200, billable: true, bill, withoutUsage: true, body: queued };
  }
  saveResponse(ctx, completed, completed);
  if (!ctx.stream) return { kind: "json", status: 200, billable: true, bill, body: completed };
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
    ev("response.completed", { response: completed }),
  ];
  return { kind: "sse", events, usageAt: events.length - 1, billable: true, bill };
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
  const model = ctx.model ?? "text-embedding-3-small";
  return {
    kind: "json",
    status: 200,
    billable: true,
    bill: { model, output: 0 },
    body: {
      object: "list",
      data,
      model,
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

/** `GET /v1/models/{model}`: one of the configured models (OpenAI's or, with `anthropic-version`, Anthropic's shape), else 404. */
function oneModel(ctx: Ctx): RouteResult {
  const id = ctx.params.model ?? "";
  const anthropic = ctx.rec.headers["anthropic-version"] !== undefined;
  if (!ctx.b.models.includes(id)) {
    return anthropic
      ? anthropicError(404, `model: ${id}`)
      : openaiError(404, `The model '${id}' does not exist or you do not have access to it.`, "model", "model_not_found");
  }
  if (anthropic) return json({ type: "model", id, display_name: id, created_at: "2025-01-01T00:00:00Z" });
  return json({ id, object: "model", created: 1_700_000_000, owned_by: "mock" });
}

// ---------- Anthropic messages ----------

function messages(ctx: Ctx): RouteResult {
  const { b } = ctx;
  const id = `msg_mock${ctx.seq}`;
  const model = ctx.model ?? "claude-sonnet-4-6";
  const headers = { "request-id": `req_mock${ctx.seq}` };
  const bill = { model, cacheCreation: b.usage.cacheCreation };
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
    return { kind: "json", status: 200, headers, body, billable: true, bill };
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
  return { kind: "sse", headers, events, usageAt: events.length - 2, billable: true, bill };
}

// ---------- routing ----------

/** A 404 for a path the mock does not serve, in the shape of the API the path looks like. */
function notFound(method: string, path: string): RouteResult {
  if (looksLike(path) === "gemini") return googleError(404, `Method not found: ${method} ${path}`);
  return openaiError(404, `Invalid URL (${method} ${path})`);
}

/** The API a path belongs to when no route matched (it picks the error shape). */
function looksLike(path: string): Api {
  if (/^\/v1(beta|alpha)\//.test(path) || /\/models\/[^/]+:\w+$/.test(path)) return "gemini";
  return path === "/v1/messages" || path.startsWith("/v1/messages/") ? "anthropic" : "openai";
}

const CORE_ROUTES: RouteSpec[] = [
  route("POST", "/v1/chat/completions", "openai", chatCompletions, { caps: "chat" }),
  route("POST", "/v1/responses", "openai", responses, { caps: "responses" }),
  route("POST", "/v1/embeddings", "openai", embeddings),
  route("GET", "/v1/models", "openai", models),
  route("GET", "/v1/models/{model}", "openai", oneModel),
  route("POST", "/v1/messages", "anthropic", messages, { caps: "messages" }),
];

/** In order: the first route whose method, pattern and condition match answers. */
const ROUTES: RouteSpec[] = [
  ...GEMINI_ROUTES,
  ...GEMINI_OBJECT_ROUTES,
  ...ANTHROPIC_OBJECT_ROUTES,
  ...CORE_ROUTES,
  ...STORED_RESPONSE_ROUTES,
  ...STORED_OBJECT_ROUTES,
  ...MEDIA_ROUTES,
];

interface RouteMatch {
  spec: RouteSpec;
  params: Record<string, string>;
  deployment?: string;
}

/**
 * The route for a request. Azure OpenAI paths are answered as the OpenAI route they wrap:
 * `[/openai]/deployments/{deployment}/X` and `/openai/X` as `/v1/X`, `/openai/v1/X` as `/v1/X`.
 */
function resolveRoute(rec: RecordedRequest): RouteMatch | undefined {
  let path = rec.path;
  let deployment: string | undefined;
  const azure = /^(?:\/openai)?\/deployments\/([^/]+)(\/.*)$/.exec(path);
  if (azure) {
    deployment = decodeURIComponent(azure[1] ?? "");
    path = `/v1${azure[2] ?? ""}`;
  } else if (path.startsWith("/openai/v1/")) path = path.slice("/openai".length);
  else if (path.startsWith("/openai/")) path = `/v1${path.slice("/openai".length)}`;
  for (const spec of ROUTES) {
    if (spec.method !== rec.method) continue;
    const matched = spec.pattern.exec(path);
    if (!matched) continue;
    const params = Object.fromEntries(Object.entries(matched.groups ?? {}).map(([name, value]) => [name, decodeURIComponent(value)]));
    if (spec.when && !spec.when(rec, params)) continue;
    return { spec, params, ...(deployment === undefined ? {} : { deployment }) };
  }
  return undefined;
}

/** Undoes a request's `content-encoding` as a server would; throws on a corrupt body, undefined for an encoding it does not know. */
function decodeBody(raw: Uint8Array, encoding: string): Uint8Array | undefined {
  switch (encoding) {
    case "identity":
      return raw;
    case "gzip":
    case "x-gzip":
      return gunzipSync(raw);
    case "deflate":
      // RFC 9110 deflate is zlib-wrapped; some clients send it raw.
      try {
        return inflateSync(raw);
      } catch {
        return inflateRawSync(raw);
      }
    case "br":
      return brotliDecompressSync(raw);
    default:
      return undefined;
  }
}

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
  const store = createStore();
  /** `http://127.0.0.1:PORT`, once the server listens. */
  let origin = "";

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

  /**
   * The context a route handler gets. Permissive mode reads generating requests (POST) itself
   * and replaces the usage, except on routes that keep the configured one; reads and lists
   * answer as configured.
   */
  function contextFor(
    configured: MockBehaviour,
    rec: RecordedRequest,
    form: Record<string, RecordedFormValue> | undefined,
    match: RouteMatch | undefined,
  ): Ctx {
    const { json } = rec;
    const spec = match?.spec;
    const pathModel = match?.params.model ?? match?.deployment;
    const formModel = typeof form?.model === "string" ? form.model : undefined;
    const pathStream = spec?.api === "gemini" ? spec.streams === true : undefined;
    const common = { rec, json, form, seq: ++seq, created: Math.floor(Date.now() / 1000), params: match?.params ?? {}, store, origin };
    if (configured.permissive && rec.method === "POST") {
      const reading = readPermissive(spec?.caps, json, configured, match?.params.model, pathStream);
      rec.reading = reading;
      const b = spec?.configuredUsage ? configured : { ...configured, usage: permissiveUsage(reading, rec.body, configured) };
      const model = reading.model ?? formModel ?? pathModel;
      return { ...common, b, model, stream: reading.stream, includeUsage: reading.includeUsage, choices: reading.n };
    }
    const options = json?.stream_options;
    return {
      ...common,
      b: configured,
      model: stringField(json, "model") ?? formModel ?? pathModel,
      stream: pathStream ?? (json?.stream === true || form?.stream === "true"),
      includeUsage: isObject(options) && options.include_usage === true,
      choices: 1,
    };
  }

  /** Answers a request the test makes up (a batch line): the route's JSON answer with the current defaults, never streamed, not recorded or billed. */
  function answerOffline(method: string, path: string, body: JsonObject, headers: Record<string, string> = {}): { status: number; body: JsonValue } {
    const text = JSON.stringify(body);
    const rec: RecordedRequest = {
      method,
      path,
      query: {},
      headers,
      body: text,
      bodyBytes: encoder.encode(text).byteLength,
      json: body,
      duplicateKeys: [],
      receivedAt: performance.now(),
      status: 0,
      streamed: false,
      chunksWritten: [],
    };
    const match = resolveRoute(rec);
    const ctx = { ...contextFor(defaults, rec, undefined, match), stream: false };
    const result = match ? match.spec.handle(ctx) : notFound(method, path);
    return result.kind === "json" ? { status: result.status, body: result.body } : { status: 500, body: { error: { message: "not a JSON answer" } } };
  }

  async function handle(request: Request): Promise<Response> {
    const receivedAt = performance.now();
    const url = new URL(request.url);
    const raw = new Uint8Array(await request.arrayBuffer());
    const contentEncoding = request.headers.get("content-encoding")?.trim().toLowerCase() || undefined;
    let decoded: Uint8Array | undefined = raw;
    let corrupt = false;
    if (contentEncoding !== undefined && raw.byteLength > 0) {
      try {
        decoded = decodeBody(raw, contentEncoding);
      } catch {
        corrupt = true;
      }
    }
    const bytes = decoded ?? raw;
    const body = corrupt ? "" : textDecoder.decode(bytes);
    const parsed = body === "" ? undefined : parseBody(body);
    const json = parsed && isObject(parsed.value) ? parsed.value : undefined;
    const form = corrupt ? undefined : parseMultipart(bytes, request.headers.get("content-type") ?? undefined);
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
      bodyBytes: raw.byteLength,
      bytes,
      ...(contentEncoding === undefined ? {} : { contentEncoding }),
      ...(form === undefined ? {} : { form }),
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
    const match = resolveRoute(rec);
    if (match) {
      rec.route = `${match.spec.method} ${match.spec.template}`;
      if (match.params.model !== undefined) rec.model = match.params.model;
      if (match.deployment !== undefined) rec.deployment = match.deployment;
    }
    const ctx = contextFor(configured, rec, form, match);
    const { b } = ctx;

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
      const api = match?.spec.api ?? looksLike(rec.path);
      result = { kind: "json", status: b.error.status, body: b.error.body ?? defaultErrorBody(api, b.error.status), headers: b.error.headers };
    } else if (b.redirect) {
      result = undefined;
    } else if (corrupt || decoded === undefined) {
      result = corrupt
        ? openaiError(400, `Could not decode the request body (content-encoding: ${contentEncoding ?? ""}).`)
        : openaiError(415, `Unsupported content-encoding: ${contentEncoding ?? ""}.`);
    } else {
      result = match ? match.spec.handle(ctx) : notFound(request.method, rec.path);
    }
    if (result?.billable) {
      const bill = result.bill ?? {};
      rec.billed = {
        requestIndex: index,
        path: rec.path,
        model: bill.model ?? ctx.model ?? "gpt-4o-mini",
        input: bill.input ?? b.usage.input,
        output: bill.output ?? b.usage.output,
        cached: bill.cached ?? b.usage.cached,
        cacheCreation: bill.cacheCreation ?? 0,
        choices: bill.choices ?? ctx.choices,
        cut: false,
        usageSent: false,
        ...(bill.seconds === undefined ? {} : { seconds: bill.seconds }),
        ...(bill.images === undefined ? {} : { images: bill.images }),
        ...(bill.characters === undefined ? {} : { characters: bill.characters }),
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
      const contentType = result.kind === "sse" ? "text/event-stream; charset=utf-8" : result.kind === "bytes" ? result.contentType : "application/json";
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
    if (rec.billed && !b.omitUsage && !result.withoutUsage) rec.billed.usageSent = true;
    if (result.kind === "bytes")
      return new Response(Uint8Array.from(result.body), { status: result.status, headers: buildHeaders(result.contentType, own, b) });
    const out = encoder.encode(JSON.stringify(result.body));
    const jsonHeaders = buildHeaders("application/json", own, b);
    if (!b.gzip) return new Response(out, { status: result.status, headers: jsonHeaders });
    jsonHeaders.set("content-encoding", "gzip");
    return new Response(Bun.gzipSync(out), { status: result.status, headers: jsonHeaders });
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
  origin = url;

  return {
    url,
    baseUrl: `${url}/v1`,
    port,
    requests,
    cancellations,
    store,
    completeBatch(id, outputLines) {
      const input = store.files.get(asText(store.batches.get(id)?.input_file_id));
      const lines = outputLines
        ? outputLines.map((line) => (typeof line === "string" ? (JSON.parse(line) as JsonObject) : line))
        : jsonlLines(input?.bytes ?? new Uint8Array()).map((line) => {
            const answer = answerOffline(
              stringField(line, "method") ?? "POST",
              stringField(line, "url") ?? "/v1/chat/completions",
              isObject(line.body) ? line.body : {},
            );
            const status_code = answer.status;
            return {
              id: store.newId("batch_req_"),
              custom_id: line.custom_id ?? null,
              response: { status_code, request_id: `req_mock${seq}`, body: answer.body },
              error: null,
            };
          });
      return finishBatch(store, id, lines, Math.floor(Date.now() / 1000));
    },
    completeResponse(id) {
      return finishResponse(store, id);
    },
    endMessageBatch(id, results) {
      const answer = (params: JsonObject): JsonObject => {
        const made = answerOffline("POST", "/v1/messages", params, { "anthropic-version": "2023-06-01" });
        return isObject(made.body) ? made.body : {};
      };
      return endBatch(store, id, origin, answer, results);
    },
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
      store.clear();
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
