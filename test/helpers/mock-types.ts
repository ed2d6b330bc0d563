/**
 * The mock provider's types and the small pieces every route family shares:
 * behaviour, usage, what is recorded and billed, the per-request context a
 * route handler gets and the result it returns, SSE framing and each API's
 * error shape. Part of test/helpers/mock-provider.ts (which re-exports the
 * public types).
 */
import type { JsonObject, JsonValue } from "./mock-json.ts";
import type { MockStore } from "./mock-stored-objects.ts";

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
 * - Gemini: `promptTokenCount = input`, `candidatesTokenCount = output`,
 *   `cachedContentTokenCount = cached` (sent when > 0), `thoughtsTokenCount = reasoning`
 *   (sent when > 0), `totalTokenCount = input + output + reasoning`.
 * - OpenAI `reasoning_tokens` (chat and Responses) = `reasoning`, a part of `output` there.
 * - Legacy completions: as chat. Transcriptions (not whisper-1), gpt-image-1 images, speech
 *   streams: `input_tokens = input`, `output_tokens = output`.
 */
export interface MockUsage {
  input: number;
  output: number;
  cached: number;
  cacheCreation: number;
  /** Reasoning ("thinking") tokens (default 0): Gemini bills them on top of `output`, OpenAI counts them inside it. */
  reasoning: number;
}

/** An upstream error to pass through: status, JSON body, extra headers. */
export interface MockError {
  status: number;
  /** Defaults to the API's own error shape (OpenAI, Anthropic or Gemini, by route). */
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
  /** Model ids listed by `GET /v1/models` (OpenAI's, Anthropic's and Gemini's lists alike) and found by `GET …/models/{model}`. */
  models: string[];
  /**
   * Behave like a lenient OpenAI-compatible server (vLLM, LiteLLM-style),
   * reading the raw body itself (`RecordedRequest.reading` says what it read):
   * - a repeated key: the last one wins (escaped spellings included, as JSON.parse does);
   * - numeric strings are coerced for caps and `n` (`"100000"` → 100000, `"3"` → 3), and
   *   `"true"`/`"false"` for `stream` and `stream_options.include_usage`;
   * - unknown fields are ignored; keys are matched case-sensitively;
   * - output follows the request: per choice `uncappedOutputTokens` without a cap, else
   *   min(cap, `naturalOutputTokens`), times `n` (chat, legacy completions) or
   *   `generationConfig.candidateCount` (Gemini). Caps: chat `chatCapOrder` (the first one
   *   present wins), Responses `max_output_tokens`, Anthropic and legacy completions
   *   `max_tokens`, Gemini `generationConfig.maxOutputTokens`; Gemini's model and streaming
   *   come from the path;
   * - input = ceil(UTF-8 body bytes / 4, after undoing a content-encoding) + `imageTokens` per
   *   image part; `usage.cached`, `usage.cacheCreation` and `usage.reasoning` are reported as
   *   configured, `usage.input`/`usage.output` are ignored;
   * - stored-object, audio, image, moderation and realtime routes keep the configured usage
   *   (the body's size says nothing there); token counting reads the input like the rest.
   */
  permissive: boolean;
  /** Permissive: output tokens per choice when the request sets no cap (default 100_000). */
  uncappedOutputTokens: number;
  /** Permissive: output tokens per choice the model produces on its own, when a cap does not cut it first (default: unlimited). */
  naturalOutputTokens: number;
  /** Permissive: input tokens per image part (`image_url`, `input_image`, `image`, Gemini `inlineData`/`fileData` with an image MIME type; default 1_000). */
  imageTokens: number;
  /** Permissive chat: the cap fields in the order they win (default `max_completion_tokens`, then `max_tokens`). */
  chatCapOrder: string[];
  /** Permissive: an upstream that ignored the cap: each choice reports ceil(cap × factor) output tokens. */
  overrunFactor?: number;
  /**
   * Cut a stream right before the event that carries its final usage (chat and legacy
   * completions: the usage chunk and `[DONE]`; Responses: `response.completed`; Anthropic:
   * `message_delta` and `message_stop`; Gemini: the last chunk; transcriptions:
   * `transcript.text.done`; speech: `speech.audio.done`). `true` ends the body cleanly there,
   * `"error"` breaks the connection.
   */
  dropUsage: boolean | "error";
  /** 2xx JSON answers carry no `usage` (Gemini: no `usageMetadata`); chat streams send no usage chunk (as if `include_usage` was ignored), Responses streams `usage: null`. */
  omitUsage: boolean;
  /**
   * `GET /v1/responses/{id}` of an id the mock never issued: false (default) answers a
   * made-up completed response with the configured usage (the mock's original behaviour,
   * which tests of stored-object reads rely on); true answers 404 as OpenAI does. Ids the
   * mock issued but did not store (`store: false`) or deleted are 404 either way, and so is
   * every other stored-object route for an unknown id.
   */
  strictStore: boolean;
  /** Seconds of audio whisper-1 reports (`usage.duration`, verbose_json `duration`) and bills (default 3). */
  audioSeconds: number;
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
  /** The model it ran: the body's `model` as the mock read it, else the model or Azure deployment in the path, else a default. */
  model: string;
  input: number;
  output: number;
  /** Part of `input` read from a cache. */
  cached: number;
  /** Part of `input` written to a cache (Anthropic). */
  cacheCreation: number;
  /** Choices generated (`n`, Gemini `candidateCount`, images per request). */
  choices: number;
  /** The answer did not reach its end: the client left first, or the stream was cut (`dropUsage`). Billed in full all the same. */
  cut: boolean;
  /** The usage reached the wire (false when omitted, dropped, or the client left before it). */
  usageSent: boolean;
  /** Seconds of audio (whisper-1 transcriptions and translations). Absent for token-billed answers. */
  seconds?: number;
  /** Images generated (images API, any model). */
  images?: number;
  /** Characters of input text (text-to-speech). */
  characters?: number;
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
  /** Request body text ("" when there is none), after undoing a gzip/deflate/br `content-encoding`. */
  body: string;
  /** Body size in bytes as it arrived on the wire (before content-encoding was undone). */
  bodyBytes: number;
  /** The body's bytes, after undoing a `content-encoding` (a resumable upload's chunk is binary). */
  bytes?: Uint8Array;
  /** The request's `content-encoding`, lowercased, if it had one (the body was decoded before parsing). */
  contentEncoding?: string;
  /** A multipart/form-data body's fields: text as strings, files with their bytes (the last value wins for a repeated name). */
  form?: Record<string, RecordedFormValue>;
  /** The route the mock answered as, e.g. `POST /v1/chat/completions` (also for an Azure deployment path) or `POST /{version}/models/{model}:generateContent`; undefined for a 404. */
  route?: string;
  /** The model named by the path (Gemini `models/{model}:…`, `GET /v1/models/{model}`); a body's `model` is in `json`. */
  model?: string;
  /** The Azure deployment named by the path (`[/openai]/deployments/{deployment}/…`). */
  deployment?: string;
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

/** A file field of a multipart body. */
export interface RecordedFile {
  filename: string;
  /** The part's content type. */
  type: string;
  bytes: Uint8Array;
}

/** One multipart field: text, or a file. */
export type RecordedFormValue = string | RecordedFile;

export const encoder = new TextEncoder();

/** A rendered SSE event: what goes on the wire. */
export type SseEvent = string;

/** OpenAI-style `data:`-only event (chat completions); the string "[DONE]" goes out as is. */
export const dataEvent = (payload: JsonValue): SseEvent => `data: ${payload === "[DONE]" ? payload : JSON.stringify(payload)}\n\n`;

/** Named event as the Responses API and Anthropic send them. */
export const namedEvent = (type: string, payload: JsonValue): SseEvent => `event: ${type}\ndata: ${JSON.stringify(payload)}\n\n`;

/** Splits `text` into exactly `n` slices (some empty when the text is short) that join back to it. */
export function slices(text: string, n: number): string[] {
  const count = Math.max(1, Math.floor(n));
  const size = Math.ceil(text.length / count);
  return Array.from({ length: count }, (_, i) => text.slice(i * size, (i + 1) * size));
}

/** Which API a route belongs to: it picks the error shape. */
export type Api = "openai" | "anthropic" | "gemini";

/** Permissive mode: where an endpoint keeps its output cap (see mock-permissive.ts). */
export type CapFamily = "chat" | "responses" | "messages" | "completions" | "gemini";

/** Per-request context handed to the route handlers. */
export interface Ctx {
  b: MockBehaviour;
  rec: RecordedRequest;
  json: JsonObject | undefined;
  /** A multipart body's fields (the last value wins for a repeated name). */
  form: Record<string, RecordedFormValue> | undefined;
  /** The body's `model`, if a string; else the model or Azure deployment the path names. */
  model: string | undefined;
  /** Whether to answer with SSE (`stream: true`; permissive: coerced; Gemini: the streaming method). */
  stream: boolean;
  /** Chat streams: whether the request asked for the usage chunk. */
  includeUsage: boolean;
  /** Chat, completions, Gemini: choices to return (1 unless permissive mode read `n`/`candidateCount`). */
  choices: number;
  /** Sequence number for ids, unique within this mock. */
  seq: number;
  /** Unix seconds, as the APIs report `created`. */
  created: number;
  /** The matched route's path parameters (`id`, `model`, `version`, …). */
  params: Record<string, string>;
  /** The mock's stored objects (files, batches, responses, …). */
  store: MockStore;
  /** `http://127.0.0.1:PORT`, for URLs an answer carries (Anthropic's batch `results_url`). */
  origin: string;
}

/** Billed fields a route sets itself; the rest come from the usage (`input`, `output`, `cached`), `ctx.model` and `ctx.choices`. */
export type BillPatch = Partial<Pick<Billed, "model" | "input" | "output" | "cached" | "cacheCreation" | "choices" | "seconds" | "images" | "characters">>;

/** What every kind of route result may add. */
interface ResultCommon {
  headers?: Record<string, string>;
  /** The answer is a generation the provider bills (listed by `billed()`). */
  billable?: boolean;
  bill?: BillPatch;
  /** A billable 2xx answer that carries no usage of its own (binary audio, plain-text transcripts). */
  withoutUsage?: boolean;
}

/** What a route produces; the server turns it into a `Response`. */
export type RouteResult =
  | (ResultCommon & { kind: "json"; status: number; body: JsonValue })
  | (ResultCommon & {
      kind: "sse";
      events: SseEvent[];
      /** Index of the first event that carries the final usage (where `dropUsage` cuts); events.length when none does. */
      usageAt: number;
    })
  | (ResultCommon & { kind: "bytes"; status: number; body: Uint8Array; contentType: string });

/** One route of the mock. */
export interface RouteSpec {
  method: string;
  /** The path template, recorded as part of `RecordedRequest.route`. */
  template: string;
  /** The template compiled: `{name}` becomes a named group. */
  pattern: RegExp;
  api: Api;
  /** Only when this holds (Anthropic's Files API by its `anthropic-version` header, Gemini under `/v1` by its key). */
  when?: (rec: RecordedRequest, params: Record<string, string>) => boolean;
  /** Permissive mode: the endpoint's cap fields. */
  caps?: CapFamily;
  /** Permissive mode leaves the configured usage alone (stored objects, media): the body's size says nothing there. */
  configuredUsage?: boolean;
  /** The method in the path streams (Gemini `streamGenerateContent`). */
  streams?: boolean;
  handle: (ctx: Ctx) => RouteResult;
}

/**
 * A route from its template: `{version}` matches a Gemini API version (`v1`, `v1beta`, `v1alpha`),
 * any other `{name}` one path segment (up to a `:` when the template goes on with one, as in
 * `{model}:generateContent`).
 */
export function route(method: string, template: string, api: Api, handle: (ctx: Ctx) => RouteResult, extra: Partial<RouteSpec> = {}): RouteSpec {
  const parts = template.split(/(\{\w+\})/);
  const source = parts
    .map((part, i) => {
      const name = /^\{(\w+)\}$/.exec(part)?.[1];
      if (name === "version") return "(?<version>v1|v1beta|v1alpha)";
      if (name !== undefined) return parts[i + 1]?.startsWith(":") ? `(?<${name}>[^/:]+)` : `(?<${name}>[^/]+)`;
      return part.replace(/[.*+?^$()|[\]\\]/g, "\\$&");
    })
    .join("");
  return { method, template, pattern: new RegExp(`^${source}$`), api, handle, ...extra };
}

/** A 2xx (or other) JSON answer. */
export const json = (body: JsonValue, status = 200, extra: ResultCommon = {}): RouteResult => ({ kind: "json", status, body, ...extra });

/** OpenAI's error shape. */
export function openaiError(status: number, message: string, param: string | null = null, code: string | null = null): RouteResult {
  const type = status === 429 ? "rate_limit_error" : status >= 500 ? "server_error" : "invalid_request_error";
  return json({ error: { message, type, param, code } }, status);
}

/** Anthropic's error shape. */
export function anthropicError(status: number, message: string): RouteResult {
  const type =
    status === 404
      ? "not_found_error"
      : status === 429
        ? "rate_limit_error"
        : status === 529
          ? "overloaded_error"
          : status >= 500
            ? "api_error"
            : "invalid_request_error";
  return json({ type: "error", error: { type, message } }, status);
}

const GOOGLE_STATUS: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  409: "ABORTED",
  429: "RESOURCE_EXHAUSTED",
  499: "CANCELLED",
  500: "INTERNAL",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED",
};

/** Google's error shape (`google.rpc.Status` as JSON). */
export function googleError(status: number, message: string): RouteResult {
  return json({ error: { code: status, message, status: GOOGLE_STATUS[status] ?? (status >= 500 ? "INTERNAL" : "FAILED_PRECONDITION") } }, status);
}

/** The error body the real API would send (for `MockBehaviour.error` without a body). */
export function defaultErrorBody(api: Api, status: number): JsonValue {
  const message = `Mock upstream error ${status}`;
  if (api === "gemini") {
    const made = googleError(status, message);
    return made.kind === "json" ? made.body : null;
  }
  if (api === "anthropic") {
    const type = status === 429 ? "rate_limit_error" : status >= 500 ? "api_error" : "invalid_request_error";
    return { type: "error", error: { type, message } };
  }
  const type = status === 429 ? "rate_limit_error" : status >= 500 ? "server_error" : "invalid_request_error";
  return { error: { message, type, param: null, code: null } };
}

/** A deterministic vector per input, so tests can compare without storing fixtures. */
export function vector(index: number, dimensions: number): number[] {
  return Array.from({ length: dimensions }, (_, i) => Math.fround(((index + 1) * (i + 1)) / 100));
}
