/**
 * Google's Gemini API (generativelanguage.googleapis.com), as `@google/genai`
 * calls it with `httpOptions.baseUrl` set to the mock's `url`: under `/v1beta`
 * and `/v1` (the SDK's `apiVersion`), key in `x-goog-api-key`. Part of
 * test/helpers/mock-provider.ts.
 *
 * - `POST /{v}/models/{model}:generateContent`            JSON
 * - `POST /{v}/models/{model}:streamGenerateContent`      SSE with `?alt=sse` (`data: …\r\n\r\n`, no
 *                                                         terminator), else one JSON array of the chunks
 * - `POST /{v}/models/{model}:countTokens`                `{totalTokens}` (not billed)
 * - `POST /{v}/models/{model}:embedContent`, `:batchEmbedContents`
 * - `GET  /{v}/models`, `GET /{v}/models/{model}`         the configured `models`; under `/v1` only when
 *                                                         the request carries a Google key (`x-goog-api-key`
 *                                                         or `?key=`), else it is OpenAI's (or Anthropic's) route
 *
 * Usage goes in `usageMetadata` (see `MockUsage`); a stream repeats it on every chunk with
 * `candidatesTokenCount` growing to the full count on the last one (where `dropUsage` cuts).
 * Permissive mode caps output with `generationConfig.maxOutputTokens` and multiplies it by
 * `generationConfig.candidateCount`. Billed output is candidates plus thoughts, as Google bills it.
 */
import { isObject, lenientInt, type JsonObject, type JsonValue } from "./mock-json.ts";
import {
  googleError,
  json,
  route,
  slices,
  vector,
  type Ctx,
  type MockBehaviour,
  type RecordedRequest,
  type RouteResult,
  type RouteSpec,
} from "./mock-types.ts";

/** Gemini's `usageMetadata`, with `output` candidates tokens so far. */
function usageMetadata(b: MockBehaviour, output: number): JsonObject {
  const { input, cached, reasoning } = b.usage;
  return {
    promptTokenCount: input,
    candidatesTokenCount: output,
    totalTokenCount: input + output + reasoning,
    ...(cached > 0 ? { cachedContentTokenCount: cached } : {}),
    ...(reasoning > 0 ? { thoughtsTokenCount: reasoning } : {}),
    promptTokensDetails: [{ modality: "TEXT", tokenCount: input }],
    ...(cached > 0 ? { cacheTokensDetails: [{ modality: "TEXT", tokenCount: cached }] } : {}),
  };
}

const modelOf = (ctx: Ctx): string => ctx.params.model ?? ctx.model ?? "gemini-2.5-flash";

function generate(ctx: Ctx): RouteResult {
  const { b } = ctx;
  if (!Array.isArray(ctx.json?.contents)) return googleError(400, "* GenerateContentRequest.contents: contents is not specified");
  const model = modelOf(ctx);
  const bill = { model, output: b.usage.output + b.usage.reasoning };
  const chunk = (text: string, finished: boolean, usage: JsonObject | undefined): JsonObject => ({
    candidates: Array.from({ length: ctx.choices }, (_, index) => ({
      content: { parts: [{ text }], role: "model" },
      ...(finished ? { finishReason: "STOP" } : {}),
      index,
    })),
    ...(usage && !b.omitUsage ? { usageMetadata: usage } : {}),
    modelVersion: model,
    responseId: `mock${ctx.seq}`,
  });
  if (!ctx.stream) return json(chunk(b.text, true, usageMetadata(b, b.usage.output)), 200, { billable: true, bill });
  const parts = slices(b.text, b.chunks);
  const chunks = parts.map((text, i) => {
    const last = i === parts.length - 1;
    return chunk(text, last, usageMetadata(b, last ? b.usage.output : Math.floor((b.usage.output * (i + 1)) / parts.length)));
  });
  // Without `alt=sse` the API streams one JSON array instead of events.
  if (ctx.rec.query.alt !== "sse") return json(chunks, 200, { billable: true, bill });
  const events = chunks.map((c) => `data: ${JSON.stringify(c)}\r\n\r\n`);
  return { kind: "sse", events, usageAt: b.omitUsage ? events.length : events.length - 1, billable: true, bill };
}

function countTokens(ctx: Ctx): RouteResult {
  const { input, cached } = ctx.b.usage;
  return json({
    totalTokens: input,
    ...(cached > 0 ? { cachedContentTokenCount: cached } : {}),
    promptTokensDetails: [{ modality: "TEXT", tokenCount: input }],
  });
}

/** `{values}` for the i-th input, `outputDimensionality` long (default 8). */
const embedding = (index: number, request: JsonObject | undefined): JsonObject => ({
  values: vector(index, lenientInt(request?.outputDimensionality) ?? 8),
});

function embed(ctx: Ctx): RouteResult {
  const { b } = ctx;
  const requests = ctx.json?.requests;
  const batch = ctx.params.method === "batchEmbedContents";
  if (batch && !Array.isArray(requests)) return googleError(400, "* BatchEmbedContentsRequest.requests: requests is not specified");
  if (!batch && !isObject(ctx.json?.content)) return googleError(400, "* EmbedContentRequest.content: content is not specified");
  const body: JsonObject = batch
    ? { embeddings: (requests as JsonValue[]).map((r, i) => embedding(i, isObject(r) ? r : undefined)) }
    : { embedding: embedding(0, ctx.json) };
  if (!b.omitUsage) body.usageMetadata = { promptTokenCount: b.usage.input, totalTokenCount: b.usage.input };
  return json(body, 200, { billable: true, bill: { model: modelOf(ctx), output: 0 } });
}

/** A model as `models.list`/`models.get` describe it. */
function describe(id: string): JsonObject {
  const embeds = id.includes("embedding");
  return {
    name: `models/${id}`,
    version: "001",
    displayName: id,
    description: `Mock model ${id}`,
    inputTokenLimit: embeds ? 2_048 : 1_048_576,
    outputTokenLimit: embeds ? 1 : 65_536,
    supportedGenerationMethods: embeds
      ? ["embedContent", "countTextTokens", "countTokens"]
      : ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"],
    ...(embeds ? {} : { temperature: 1, topP: 0.95, topK: 64, maxTemperature: 2, thinking: true }),
  };
}

function listModels(ctx: Ctx): RouteResult {
  const ids = ctx.b.models;
  const start = lenientInt(ctx.rec.query.pageToken) ?? 0;
  const size = Math.min(Math.max(lenientInt(ctx.rec.query.pageSize) ?? 50, 1), 1_000);
  const page = ids.slice(start, start + size);
  const more = start + size < ids.length;
  return json({ models: page.map(describe), ...(more ? { nextPageToken: String(start + size) } : {}) });
}

function getModel(ctx: Ctx): RouteResult {
  const id = ctx.params.model ?? "";
  if (!ctx.b.models.includes(id))
    return googleError(404, `models/${id} is not found for API version ${ctx.params.version ?? "v1beta"}, or is not supported for generateContent.`);
  return json(describe(id));
}

/** Under `/v1` a bare models path is Gemini's only with a Google key; `/v1beta` and `/v1alpha` are Gemini's alone. */
export const onGemini = (rec: RecordedRequest, params: Record<string, string>): boolean =>
  params.version !== "v1" || rec.headers["x-goog-api-key"] !== undefined || rec.query.key !== undefined;

const method = (name: string, handle: (ctx: Ctx) => RouteResult, extra: Partial<RouteSpec> = {}): RouteSpec =>
  route("POST", `/{version}/models/{model}:${name}`, "gemini", (ctx) => handle({ ...ctx, params: { ...ctx.params, method: name } }), extra);

export const GEMINI_ROUTES: RouteSpec[] = [
  method("generateContent", generate, { caps: "gemini" }),
  method("streamGenerateContent", generate, { caps: "gemini", streams: true }),
  method("countTokens", countTokens),
  method("embedContent", embed),
  method("batchEmbedContents", embed),
  route("GET", "/{version}/models", "gemini", listModels, { when: onGemini }),
  route("GET", "/{version}/models/{model}", "gemini", getModel, { when: onGemini }),
];
