/**
 * Anthropic's Files API, Message Batches and token counting (shapes of
 * `@anthropic-ai/sdk` 1.14). Part of test/helpers/mock-provider.ts.
 *
 * - `POST /v1/files` (multipart `file`), `GET /v1/files`, `GET|DELETE /v1/files/{id}`,
 *   `GET /v1/files/{id}/content`: only when the request carries `anthropic-version` (the SDK sends
 *   `anthropic-beta: files-api-2025-04-14` for the beta client; the mock records it, requires nothing).
 *   Lists are newest first with `limit`, `after_id`/`before_id` (and the SDK's `page` cursor, answered
 *   as `next_page`). Unlike the real API, the mock serves any file's bytes.
 * - `POST /v1/messages/batches` (`requests: [{custom_id, params}]`), `GET /v1/messages/batches`,
 *   `GET|DELETE /v1/messages/batches/{id}`, `POST /v1/messages/batches/{id}/cancel`,
 *   `GET /v1/messages/batches/{id}/results` (JSONL). A batch stays `in_progress` until the test calls
 *   `MockProvider.endMessageBatch`; a cancelled one answers `canceling` and is ended by the next read.
 * - `POST /v1/messages/count_tokens` → `{input_tokens}` (not billed).
 */
import { asText, isObject, lenientInt, type JsonObject, type JsonValue } from "./mock-json.ts";
import { formFile, type MockStore, type StoredMessageBatch } from "./mock-stored-objects.ts";
import { anthropicError, encoder, json, route, type Ctx, type RecordedRequest, type RouteResult, type RouteSpec } from "./mock-types.ts";

/** Unix seconds as Anthropic's RFC 3339 timestamps. */
const iso = (seconds: number): string => new Date(seconds * 1000).toISOString();

/** Anthropic's list page: newest first; `{data, has_more, first_id, last_id}` plus the `next_page` cursor the SDK's PageCursor reads. */
function anthropicPage(items: JsonObject[], query: Record<string, string>): JsonObject {
  const sorted = [...items].reverse();
  const limit = Math.min(Math.max(lenientInt(query.limit) ?? 20, 1), 1_000);
  const indexOf = (id: string): number => sorted.findIndex((item) => item.id === id);
  let data: JsonObject[];
  let hasMore: boolean;
  if (query.before_id !== undefined) {
    const end = Math.max(indexOf(query.before_id), 0);
    data = sorted.slice(Math.max(end - limit, 0), end);
    hasMore = end - limit > 0;
  } else {
    const after = query.after_id ?? query.page;
    const start = after === undefined ? 0 : indexOf(after) + 1;
    data = sorted.slice(start, start + limit);
    hasMore = start + limit < sorted.length;
  }
  const id = (item: JsonObject | undefined): JsonValue => item?.id ?? null;
  return { data, has_more: hasMore, first_id: id(data[0]), last_id: id(data.at(-1)), next_page: hasMore ? id(data.at(-1)) : null };
}

// ---------- Files ----------

const noFile = (id: string): RouteResult => anthropicError(404, `File not found: ${id}`);

function uploadFile(ctx: Ctx): RouteResult {
  const file = formFile(ctx, "file");
  if (!file) return anthropicError(400, "file: Field required");
  const id = ctx.store.newId("file_");
  const object: JsonObject = {
    type: "file",
    id,
    filename: file.filename,
    // The media type without parameters (Bun's File adds `;charset=utf-8` to text types).
    mime_type: file.type.split(";")[0]?.trim() || "application/octet-stream",
    size_bytes: file.bytes.byteLength,
    created_at: iso(ctx.created),
    downloadable: true,
  };
  ctx.store.anthropicFiles.set(id, { object, bytes: file.bytes, contentType: asText(object.mime_type) });
  return json(object);
}

function file(ctx: Ctx): RouteResult {
  const id = ctx.params.id ?? "";
  const found = ctx.store.anthropicFiles.get(id);
  if (!found) return noFile(id);
  if (ctx.rec.method === "DELETE") {
    ctx.store.anthropicFiles.delete(id);
    return json({ id, type: "file_deleted" });
  }
  if (ctx.rec.route?.endsWith("/content")) return { kind: "bytes", status: 200, body: found.bytes, contentType: found.contentType };
  return json(found.object);
}

// ---------- Message Batches ----------

const noBatch = (id: string): RouteResult => anthropicError(404, `Message batch not found: ${id}`);

function createBatch(ctx: Ctx): RouteResult {
  const requests = ctx.json?.requests;
  if (!Array.isArray(requests) || requests.length === 0) return anthropicError(400, "requests: Field required");
  const parsed: StoredMessageBatch["requests"] = [];
  for (const [i, request] of requests.entries()) {
    if (!isObject(request) || typeof request.custom_id !== "string" || !isObject(request.params)) {
      return anthropicError(400, `requests.${i}: custom_id and params are required`);
    }
    if (parsed.some((r) => r.custom_id === request.custom_id)) return anthropicError(400, `requests.${i}.custom_id: duplicate custom_id ${request.custom_id}`);
    parsed.push({ custom_id: request.custom_id, params: request.params });
  }
  const id = ctx.store.newId("msgbatch_");
  const object: JsonObject = {
    id,
    type: "message_batch",
    processing_status: "in_progress",
    request_counts: { processing: parsed.length, succeeded: 0, errored: 0, canceled: 0, expired: 0 },
    ended_at: null,
    created_at: iso(ctx.created),
    expires_at: iso(ctx.created + 86_400),
    archived_at: null,
    cancel_initiated_at: null,
    results_url: null,
  };
  ctx.store.messageBatches.set(id, { object, requests: parsed });
  return json(object);
}

/** Ends a batch with these results: counts from their types, `results_url` on the mock itself. */
function end(stored: StoredMessageBatch, results: JsonObject[], origin: string, now: number): JsonObject {
  const count = (type: string): number => results.filter((r) => isObject(r.result) && r.result.type === type).length;
  stored.results = results;
  stored.object = {
    ...stored.object,
    processing_status: "ended",
    ended_at: iso(now),
    request_counts: { processing: 0, succeeded: count("succeeded"), errored: count("errored"), canceled: count("canceled"), expired: count("expired") },
    results_url: `${origin}/v1/messages/batches/${asText(stored.object.id)}/results`,
  };
  return stored.object;
}

/**
 * `MockProvider.endMessageBatch`: every request succeeds with the message `answer` makes of its
 * params, unless `results` (`{custom_id, result}` lines) says otherwise.
 */
export function endBatch(store: MockStore, id: string, origin: string, answer: (params: JsonObject) => JsonObject, results?: JsonObject[]): JsonObject {
  const stored = store.messageBatches.get(id);
  if (!stored) throw new Error(`endMessageBatch: no message batch ${id}`);
  const lines = results ?? stored.requests.map((r) => ({ custom_id: r.custom_id, result: { type: "succeeded", message: answer(r.params) } }));
  return end(stored, lines, origin, Math.floor(Date.now() / 1000));
}

function batch(ctx: Ctx): RouteResult {
  const id = ctx.params.id ?? "";
  const stored = ctx.store.messageBatches.get(id);
  if (!stored) return noBatch(id);
  const ended = stored.object.processing_status === "ended";
  if (ctx.rec.method === "DELETE") {
    if (!ended) return anthropicError(400, `Message batch ${id} is still in progress; cancel it first.`);
    ctx.store.messageBatches.delete(id);
    return json({ id, type: "message_batch_deleted" });
  }
  return json(stored.object);
}

function cancelBatch(ctx: Ctx): RouteResult {
  const id = ctx.params.id ?? "";
  const stored = ctx.store.messageBatches.get(id);
  if (!stored) return noBatch(id);
  if (stored.object.processing_status !== "in_progress") return json(stored.object);
  const canceling = { ...stored.object, processing_status: "canceling", cancel_initiated_at: iso(ctx.created) };
  end(
    stored,
    stored.requests.map((r) => ({ custom_id: r.custom_id, result: { type: "canceled" } })),
    ctx.origin,
    ctx.created,
  );
  stored.object.cancel_initiated_at = canceling.cancel_initiated_at;
  return json(canceling);
}

function results(ctx: Ctx): RouteResult {
  const id = ctx.params.id ?? "";
  const stored = ctx.store.messageBatches.get(id);
  if (!stored) return noBatch(id);
  if (!stored.results) return anthropicError(404, `Message batch ${id} has not ended; its results are not available yet.`);
  const body = encoder.encode(stored.results.map((line) => `${JSON.stringify(line)}\n`).join(""));
  return { kind: "bytes", status: 200, body, contentType: "application/binary" };
}

function countTokens(ctx: Ctx): RouteResult {
  if (!Array.isArray(ctx.json?.messages)) return anthropicError(400, "messages: Field required");
  return json({ input_tokens: ctx.b.usage.input });
}

/** Anthropic's Files API shares `/v1/files` with OpenAI's: told apart by `anthropic-version`. */
const isAnthropic = (rec: RecordedRequest): boolean => rec.headers["anthropic-version"] !== undefined;
const anthropic = (method: string, template: string, handle: (ctx: Ctx) => RouteResult, files = false): RouteSpec =>
  route(method, template, "anthropic", handle, files ? { when: isAnthropic, configuredUsage: true } : { configuredUsage: true });

export const ANTHROPIC_OBJECT_ROUTES: RouteSpec[] = [
  anthropic("POST", "/v1/files", uploadFile, true),
  anthropic(
    "GET",
    "/v1/files",
    (ctx) =>
      json(
        anthropicPage(
          [...ctx.store.anthropicFiles.values()].map((f) => f.object),
          ctx.rec.query,
        ),
      ),
    true,
  ),
  anthropic("GET", "/v1/files/{id}", file, true),
  anthropic("DELETE", "/v1/files/{id}", file, true),
  anthropic("GET", "/v1/files/{id}/content", file, true),
  anthropic("POST", "/v1/messages/batches", createBatch),
  anthropic("GET", "/v1/messages/batches", (ctx) =>
    json(
      anthropicPage(
        [...ctx.store.messageBatches.values()].map((b) => b.object),
        ctx.rec.query,
      ),
    ),
  ),
  anthropic("GET", "/v1/messages/batches/{id}", batch),
  anthropic("DELETE", "/v1/messages/batches/{id}", batch),
  anthropic("POST", "/v1/messages/batches/{id}/cancel", cancelBatch),
  anthropic("GET", "/v1/messages/batches/{id}/results", results),
  route("POST", "/v1/messages/count_tokens", "anthropic", countTokens),
];
