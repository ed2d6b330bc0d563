/**
 * The OpenAI API's endpoints, as OpenAI, Azure's v1 API, Gemini's compatible
 * endpoint and compatible servers serve it; and Azure OpenAI's deployment
 * paths, which wrap some of them.
 */
import {
  AUDIO_BYTES,
  CREDENTIAL,
  ID,
  MODEL,
  OPENAI_BATCH_PRICE_PERCENT,
  stored,
  UNKNOWN_BATCH_PRICE_PERCENT,
  UPLOAD_BYTES,
  type BatchPricing,
  type BodyFields,
  type Endpoint,
} from "./endpoints.ts";

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

// ---------- Azure OpenAI's deployment paths ----------

/**
 * As the `AzureOpenAI` client calls them (`/deployments/{name}/…?api-version=`):
 * the OpenAI endpoint each wraps, with the model taken from the provider key's
 * mapping of the deployment, never from the body. Each lives in Azure's dated
 * API, beside the v1 API.
 */
const DEPLOYMENT = "(?<deployment>[A-Za-z0-9_.-]+)";

/** The paths the `AzureOpenAI` client puts under its deployment (its `_deployments_endpoints`), by their OpenAI names. */
const ON_DEPLOYMENT = new Set([
  "chat.completions",
  "completions",
  "embeddings",
  "images.generations",
  "images.edits",
  "audio.speech",
  "audio.transcriptions",
  "audio.translations",
  "batches.create",
]);

/** The body's fields without its `model`: Azure runs the deployment whatever the body names. */
function withoutModel(fields: BodyFields): BodyFields {
  const { outputCaps, outputMultipliers, defaultCap, container } = fields;
  return {
    outputCaps,
    outputMultipliers,
    ...(defaultCap === undefined ? {} : { defaultCap }),
    ...(container === undefined ? {} : { container }),
  };
}

function onDeployment(endpoint: Endpoint): Endpoint {
  const path = new RegExp(`^/deployments/${DEPLOYMENT}${endpoint.path.source.slice(1)}`);
  const common = { ...endpoint, name: `deployments.${endpoint.name}`, path, upstream: "dated" as const };
  // A batch runs the model of its input file's lines, which keyward checked when the file was uploaded.
  if (endpoint.batch) return common;
  return { ...common, modelFrom: "deployment", ...(endpoint.body ? { body: withoutModel(endpoint.body) } : {}) };
}

export const AZURE_DEPLOYMENT_ENDPOINTS: readonly Endpoint[] = openaiStyleEndpoints({ chatCap: "max_tokens", batchPricePercent: OPENAI_BATCH_PRICE_PERCENT })
  .filter((endpoint) => ON_DEPLOYMENT.has(endpoint.name))
  .map(onDeployment);
