/**
 * What each provider endpoint costs and where its cost is written: the one
 * place the proxy asks. An endpoint missing here is forwarded for keys without
 * limits and refused for keys whose limits read the body, since keyward could
 * neither price it nor bound it. Adding an endpoint is adding a record (and
 * its test).
 */

/**
 * `tokens`: priced by model and token usage, bounded before forwarding.
 * `units`: priced per image, second of audio or character, which keyward has
 * no table for: a budgeted key reserves its `unbounded_reservation_usd` (or is
 * refused) and is charged reported token usage where there is one.
 * `free`: never charged (listings, stored objects read back, token counts).
 */
export type Billing = "tokens" | "units" | "free";

/** Where a token-billed endpoint keeps its model and the fields that bound its output, in the JSON body. */
export interface BodyFields {
  /** Absent where the URL names the model (Gemini) or a deployment does (Azure). */
  readonly model?: "model";
  /** Every field the provider honours as an output bound; keyward sets each one it finds to the value it reserved for. */
  readonly outputCaps: readonly string[];
  /** Fields that multiply the output (choices generated). */
  readonly outputMultipliers: readonly string[];
  /** The cap written when the client set none; absent for endpoints with no output (embeddings). */
  readonly defaultCap?: string;
  /** The object the caps live in, when not the body itself. */
  readonly container?: string;
}

/** Objects a provider stores on behalf of whoever created them; keyward records which proxy key that was. */
export type ObjectKind = "file" | "upload" | "batch" | "response" | "vector_store" | "message_batch";

export interface Stores {
  readonly kind: ObjectKind;
  /** `create` records the answer's `id` as the caller's; the others need the `id` path group to be the caller's. `list` filters the answer. */
  readonly action: "create" | "read" | "update" | "delete" | "list";
}

export interface Endpoint {
  /** For messages and logs, e.g. `chat.completions`. */
  readonly name: string;
  readonly method: "GET" | "POST" | "DELETE";
  /** Matches the path after `/v1`, without the query. Named groups: `model`, `deployment`, `id`. */
  readonly path: RegExp;
  readonly billing: Billing;
  /** JSON token-billed endpoints. */
  readonly body?: BodyFields;
  /** Multipart endpoints: the form field naming the model, if any. */
  readonly form?: { readonly model?: string };
  /** Streams carry usage only when asked (`stream_options.include_usage`), so keyward asks. */
  readonly streamUsage?: boolean;
  /** The model is the `model` group of the path, or the provider key's mapping of its `deployment` group. */
  readonly modelFrom?: "path" | "deployment";
  /** `origin`: the path carries its own version (`/v1beta/…`) and goes to the base URL's origin. */
  readonly upstream?: "origin";
  /** How the provider key is sent, where the endpoint differs from its provider's default. */
  readonly credential?: "x-goog-api-key";
  readonly stores?: Stores;
  /**
   * A unit-priced request that names no model: `storage` is billed by size and
   * time. A key with `allowed_models` cannot call it; a budgeted key reserves
   * its `unbounded_reservation_usd`.
   */
  readonly namesNoModel?: "storage";
  /** Keys with limits may not call it at all, for this reason (a credential that bypasses keyward, a cost keyward cannot meter). */
  readonly refuseLimited?: string;
  /** Bodies larger than the proxy's JSON cap are allowed up to this size and streamed through, never held whole. */
  readonly maxBodyBytes?: number;
  /**
   * An upload that may be a batch's input file: a key with limits has it read
   * line by line as it streams through, each line checked as the request it
   * describes, and its worst case recorded for the batch created from it.
   */
  readonly batchInput?: BatchPricing;
  /**
   * Runs a batch whose requests keyward checks: `file`, from an input file
   * read at upload (`batchInput`); `inline`, listed in the body, billed at
   * `pricePercent` of the standard price.
   */
  readonly batch?: { readonly requests: "file" } | ({ readonly requests: "inline" } & BatchPricing);
  /** Its answer says whether a batch has ended, which settles what its creation charged. */
  readonly settlesBatch?: true;
}

/** What a provider bills a batch's requests, as a share of the same requests' standard price. */
export interface BatchPricing {
  readonly pricePercent: number;
}

/** OpenAI's Batch API (and Azure OpenAI's global batch) bills each request at half the standard price. */
export const OPENAI_BATCH_PRICE_PERCENT = 50;
/** Anthropic's Message Batches API too. */
export const ANTHROPIC_BATCH_PRICE_PERCENT = 50;
/** A server whose batch discount keyward does not know is priced as if it gave none: never less than it bills. */
const UNKNOWN_BATCH_PRICE_PERCENT = 100;

const CREDENTIAL = "it hands out a provider credential that would bypass this key's limits";
const ID = "(?<id>[A-Za-z0-9_.:-]+)";
const MODEL = "(?<model>[A-Za-z0-9_.-]+)";
/** OpenAI takes files up to 512 MB. */
const UPLOAD_BYTES = 512 * 1024 * 1024;
/** Audio for transcription is at most 25 MB. */
const AUDIO_BYTES = 25 * 1024 * 1024;

const stored = (kind: ObjectKind, base: string, name: string): Endpoint[] => [
  { name: `${name}.create`, method: "POST", path: new RegExp(`^/${base}$`), billing: "free", stores: { kind, action: "create" } },
  { name: `${name}.list`, method: "GET", path: new RegExp(`^/${base}$`), billing: "free", stores: { kind, action: "list" } },
  { name: `${name}.retrieve`, method: "GET", path: new RegExp(`^/${base}/${ID}$`), billing: "free", stores: { kind, action: "read" } },
  { name: `${name}.delete`, method: "DELETE", path: new RegExp(`^/${base}/${ID}$`), billing: "free", stores: { kind, action: "delete" } },
];

/** The OpenAI API as OpenAI, Azure's v1 API, Gemini's compatible endpoint and compatible servers serve it. */
export function openaiStyleEndpoints(options: { chatCap: "max_completion_tokens" | "max_tokens"; batchPricePercent?: number }): readonly Endpoint[] {
  const batchInput: BatchPricing = { pricePercent: options.batchPricePercent ?? UNKNOWN_BATCH_PRICE_PERCENT };
  return [
    {
      name: "chat.completions",
      method: "POST",
      path: /^\/chat\/completions$/,
      billing: "tokens",
      body: { model: "model", outputCaps: ["max_tokens", "max_completion_tokens"], outputMultipliers: ["n"], defaultCap: options.chatCap },
      streamUsage: true,
    },
    {
      name: "responses",
      method: "POST",
      path: /^\/responses$/,
      billing: "tokens",
      body: { model: "model", outputCaps: ["max_output_tokens"], outputMultipliers: [], defaultCap: "max_output_tokens" },
      stores: { kind: "response", action: "create" },
    },
    {
      name: "completions",
      method: "POST",
      path: /^\/completions$/,
      billing: "tokens",
      // best_of completions are generated and billed; n of them are returned.
      body: { model: "model", outputCaps: ["max_tokens"], outputMultipliers: ["n", "best_of"], defaultCap: "max_tokens" },
    },
    { name: "embeddings", method: "POST", path: /^\/embeddings$/, billing: "tokens", body: { model: "model", outputCaps: [], outputMultipliers: [] } },
    { name: "moderations", method: "POST", path: /^\/moderations$/, billing: "free" },
    { name: "models.list", method: "GET", path: /^\/models$/, billing: "free" },
    { name: "models.retrieve", method: "GET", path: new RegExp(`^/models/${MODEL}$`), billing: "free" },
    // A stored response was charged when it was created; reading it back is not charged again.
    { name: "responses.retrieve", method: "GET", path: new RegExp(`^/responses/${ID}$`), billing: "free", stores: { kind: "response", action: "read" } },
    {
      name: "responses.input_items",
      method: "GET",
      path: new RegExp(`^/responses/${ID}/input_items$`),
      billing: "free",
      stores: { kind: "response", action: "read" },
    },
    {
      name: "responses.cancel",
      method: "POST",
      path: new RegExp(`^/responses/${ID}/cancel$`),
      billing: "free",
      stores: { kind: "response", action: "update" },
    },
    { name: "responses.delete", method: "DELETE", path: new RegExp(`^/responses/${ID}$`), billing: "free", stores: { kind: "response", action: "delete" } },
    { name: "images.generations", method: "POST", path: /^\/images\/generations$/, billing: "units" },
    { name: "images.edits", method: "POST", path: /^\/images\/edits$/, billing: "units", form: { model: "model" }, maxBodyBytes: AUDIO_BYTES * 2 },
    { name: "audio.speech", method: "POST", path: /^\/audio\/speech$/, billing: "units" },
    { name: "audio.transcriptions", method: "POST", path: /^\/audio\/transcriptions$/, billing: "units", form: { model: "model" }, maxBodyBytes: AUDIO_BYTES },
    { name: "audio.translations", method: "POST", path: /^\/audio\/translations$/, billing: "units", form: { model: "model" }, maxBodyBytes: AUDIO_BYTES },
    ...stored("file", "files", "files").map((e) => (e.stores?.action === "create" ? { ...e, form: {}, maxBodyBytes: UPLOAD_BYTES, batchInput } : e)),
    { name: "files.content", method: "GET", path: new RegExp(`^/files/${ID}/content$`), billing: "free", stores: { kind: "file", action: "read" } },
    { name: "uploads.create", method: "POST", path: /^\/uploads$/, billing: "free", stores: { kind: "upload", action: "create" } },
    {
      name: "uploads.parts",
      method: "POST",
      path: new RegExp(`^/uploads/${ID}/parts$`),
      billing: "free",
      form: {},
      maxBodyBytes: 64 * 1024 * 1024,
      stores: { kind: "upload", action: "update" },
    },
    {
      name: "uploads.complete",
      method: "POST",
      path: new RegExp(`^/uploads/${ID}/complete$`),
      billing: "free",
      stores: { kind: "upload", action: "update" },
    },
    { name: "uploads.cancel", method: "POST", path: new RegExp(`^/uploads/${ID}/cancel$`), billing: "free", stores: { kind: "upload", action: "update" } },
    // A batch runs later, outside any request keyward sees: a key with limits creates one only from an input file
    // keyward checked at upload, is charged its worst case at creation, and is refunded to the real cost once it ends.
    {
      name: "batches.create",
      method: "POST",
      path: /^\/batches$/,
      billing: "tokens",
      batch: { requests: "file" },
      stores: { kind: "batch", action: "create" },
    },
    { name: "batches.list", method: "GET", path: /^\/batches$/, billing: "free", stores: { kind: "batch", action: "list" } },
    {
      name: "batches.retrieve",
      method: "GET",
      path: new RegExp(`^/batches/${ID}$`),
      billing: "free",
      stores: { kind: "batch", action: "read" },
      settlesBatch: true,
    },
    { name: "batches.cancel", method: "POST", path: new RegExp(`^/batches/${ID}/cancel$`), billing: "free", stores: { kind: "batch", action: "update" } },
    // Stored vectors are billed per GB and day, which no request bounds.
    {
      name: "vector_stores.create",
      method: "POST",
      path: /^\/vector_stores$/,
      billing: "units",
      namesNoModel: "storage",
      stores: { kind: "vector_store", action: "create" },
    },
    { name: "vector_stores.list", method: "GET", path: /^\/vector_stores$/, billing: "free", stores: { kind: "vector_store", action: "list" } },
    {
      name: "vector_stores.retrieve",
      method: "GET",
      path: new RegExp(`^/vector_stores/${ID}$`),
      billing: "free",
      stores: { kind: "vector_store", action: "read" },
    },
    {
      name: "vector_stores.update",
      method: "POST",
      path: new RegExp(`^/vector_stores/${ID}$`),
      billing: "free",
      stores: { kind: "vector_store", action: "update" },
    },
    {
      name: "vector_stores.delete",
      method: "DELETE",
      path: new RegExp(`^/vector_stores/${ID}$`),
      billing: "free",
      stores: { kind: "vector_store", action: "delete" },
    },
    // A client secret is a provider-side credential: with it a client would talk to the provider past keyward.
    { name: "realtime.client_secrets", method: "POST", path: /^\/realtime\/client_secrets$/, billing: "free", refuseLimited: CREDENTIAL },
    { name: "realtime.sessions", method: "POST", path: /^\/realtime\/sessions$/, billing: "free", refuseLimited: CREDENTIAL },
  ];
}

/** Azure OpenAI's deployment paths (`/deployments/{name}/…?api-version=`): the deployment decides the model. */
export const AZURE_DEPLOYMENT_ENDPOINTS: readonly Endpoint[] = [
  {
    name: "deployments.chat.completions",
    method: "POST",
    path: /^\/deployments\/(?<deployment>[A-Za-z0-9_.-]+)\/chat\/completions$/,
    billing: "tokens",
    modelFrom: "deployment",
    body: { outputCaps: ["max_tokens", "max_completion_tokens"], outputMultipliers: ["n"], defaultCap: "max_tokens" },
    streamUsage: true,
  },
  {
    name: "deployments.completions",
    method: "POST",
    path: /^\/deployments\/(?<deployment>[A-Za-z0-9_.-]+)\/completions$/,
    billing: "tokens",
    modelFrom: "deployment",
    body: { outputCaps: ["max_tokens"], outputMultipliers: ["n", "best_of"], defaultCap: "max_tokens" },
  },
  {
    name: "deployments.embeddings",
    method: "POST",
    path: /^\/deployments\/(?<deployment>[A-Za-z0-9_.-]+)\/embeddings$/,
    billing: "tokens",
    modelFrom: "deployment",
    body: { outputCaps: [], outputMultipliers: [] },
  },
];

/** Gemini's own API, as `@google/genai` calls it with `baseUrl` at keyward's `/v1`: `/v1beta/models/{model}:{method}`. */
export const GEMINI_NATIVE_ENDPOINTS: readonly Endpoint[] = (() => {
  const version = "v1(?:beta|alpha)?";
  const generate = { outputCaps: ["maxOutputTokens"], outputMultipliers: ["candidateCount"], defaultCap: "maxOutputTokens", container: "generationConfig" };
  const native = { modelFrom: "path", upstream: "origin", credential: "x-goog-api-key" } as const;
  const method = (name: string) => new RegExp(`^/${version}/models/${MODEL}:${name}$`);
  return [
    { name: "gemini.generateContent", method: "POST", path: method("generateContent"), billing: "tokens", body: generate, ...native },
    { name: "gemini.streamGenerateContent", method: "POST", path: method("streamGenerateContent"), billing: "tokens", body: generate, ...native },
    {
      name: "gemini.embedContent",
      method: "POST",
      path: method("embedContent"),
      billing: "tokens",
      body: { outputCaps: [], outputMultipliers: [] },
      ...native,
    },
    {
      name: "gemini.batchEmbedContents",
      method: "POST",
      path: method("batchEmbedContents"),
      billing: "tokens",
      body: { outputCaps: [], outputMultipliers: [] },
      ...native,
    },
    { name: "gemini.countTokens", method: "POST", path: method("countTokens"), billing: "free", ...native },
    { name: "gemini.models.list", method: "GET", path: new RegExp(`^/${version}/models$`), billing: "free", upstream: "origin", credential: "x-goog-api-key" },
    { name: "gemini.models.get", method: "GET", path: new RegExp(`^/${version}/models/${MODEL}$`), billing: "free", ...native },
  ];
})();

export const ANTHROPIC_ENDPOINTS: readonly Endpoint[] = [
  {
    name: "messages",
    method: "POST",
    path: /^\/messages$/,
    billing: "tokens",
    body: { model: "model", outputCaps: ["max_tokens"], outputMultipliers: [], defaultCap: "max_tokens" },
  },
  { name: "messages.count_tokens", method: "POST", path: /^\/messages\/count_tokens$/, billing: "free" },
  // Like OpenAI's batches, its requests run later: a key with limits has each checked in the body, is charged their
  // worst case at creation, and is refunded to the real cost once the batch ends.
  {
    name: "messages.batches.create",
    method: "POST",
    path: /^\/messages\/batches$/,
    billing: "tokens",
    batch: { requests: "inline", pricePercent: ANTHROPIC_BATCH_PRICE_PERCENT },
    stores: { kind: "message_batch", action: "create" },
  },
  { name: "messages.batches.list", method: "GET", path: /^\/messages\/batches$/, billing: "free", stores: { kind: "message_batch", action: "list" } },
  {
    name: "messages.batches.retrieve",
    method: "GET",
    path: new RegExp(`^/messages/batches/${ID}$`),
    billing: "free",
    stores: { kind: "message_batch", action: "read" },
    settlesBatch: true,
  },
  {
    name: "messages.batches.results",
    method: "GET",
    path: new RegExp(`^/messages/batches/${ID}/results$`),
    billing: "free",
    stores: { kind: "message_batch", action: "read" },
  },
  {
    name: "messages.batches.cancel",
    method: "POST",
    path: new RegExp(`^/messages/batches/${ID}/cancel$`),
    billing: "free",
    stores: { kind: "message_batch", action: "update" },
  },
  {
    name: "messages.batches.delete",
    method: "DELETE",
    path: new RegExp(`^/messages/batches/${ID}$`),
    billing: "free",
    stores: { kind: "message_batch", action: "delete" },
  },
  ...stored("file", "files", "files").map((e) => (e.stores?.action === "create" ? { ...e, form: {}, maxBodyBytes: UPLOAD_BYTES } : e)),
  { name: "files.content", method: "GET", path: new RegExp(`^/files/${ID}/content$`), billing: "free", stores: { kind: "file", action: "read" } },
  { name: "models.list", method: "GET", path: /^\/models$/, billing: "free" },
  { name: "models.retrieve", method: "GET", path: new RegExp(`^/models/${MODEL}$`), billing: "free" },
];

/** The endpoint a request calls, with its path groups, if the provider's registry knows it. */
export function findEndpoint(endpoints: readonly Endpoint[], method: string, path: string): { endpoint: Endpoint; groups: Record<string, string> } | undefined {
  for (const endpoint of endpoints) {
    if (endpoint.method !== method) continue;
    const match = endpoint.path.exec(path);
    if (match) return { endpoint, groups: match.groups ?? NO_GROUPS };
  }
  return undefined;
}

const NO_GROUPS: Record<string, string> = Object.freeze({});
