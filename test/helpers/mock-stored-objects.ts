/**
 * OpenAI's stored objects, kept in memory per mock instance (cleared by
 * `reset`): Files, Uploads, Vector stores and Batches. The store also holds
 * what mock-stored-responses.ts, mock-anthropic-objects.ts and
 * mock-gemini-objects.ts keep. Part of
 * test/helpers/mock-provider.ts.
 *
 * Routes (OpenAI's; `/v1/files*` only without `anthropic-version`):
 * - `POST /v1/files` (multipart `file`, `purpose`), `GET /v1/files` (`purpose`, `order`, `after`, `limit`),
 *   `GET|DELETE /v1/files/{id}`, `GET /v1/files/{id}/content`
 * - `POST /v1/uploads`, `POST /v1/uploads/{id}/parts` (multipart `data`), `POST /v1/uploads/{id}/complete`
 *   (gives a file), `POST /v1/uploads/{id}/cancel`
 * - `POST|GET /v1/vector_stores`, `GET|POST|DELETE /v1/vector_stores/{id}`
 * - `POST|GET /v1/batches`, `GET /v1/batches/{id}`, `POST /v1/batches/{id}/cancel`; a batch stays
 *   `validating` until the test calls `MockProvider.completeBatch`
 */
import { asText, isObject, lenientInt, stringField, type JsonObject, type JsonValue } from "./mock-json.ts";
import { encoder, json, openaiError, route, type Ctx, type RecordedFile, type RecordedFormValue, type RouteResult, type RouteSpec } from "./mock-types.ts";

/** A stored file: the API object, and the bytes `…/content` serves. */
export interface StoredFile {
  /** OpenAI's `FileObject` or Anthropic's `FileMetadata`, as listed and retrieved. */
  object: JsonObject;
  bytes: Uint8Array;
  /** The content type the uploader gave the file. */
  contentType: string;
}

/** A stored Responses API object. */
export interface StoredResponse {
  /** What `GET /v1/responses/{id}` answers now. */
  object: JsonObject;
  /** The completed response a background one becomes (`MockProvider.completeResponse`). */
  final: JsonObject;
  /** What `GET /v1/responses/{id}/input_items` lists, oldest first. */
  inputItems: JsonObject[];
}

/** An OpenAI upload in progress. */
export interface StoredUpload {
  object: JsonObject;
  parts: Map<string, Uint8Array>;
}

/** An Anthropic message batch, with its requests and (once ended) its results. */
export interface StoredMessageBatch {
  object: JsonObject;
  requests: { custom_id: string; params: JsonObject }[];
  /** The results file's lines (`{custom_id, result}`), once ended. */
  results?: JsonObject[];
}

/** Everything the mock stores, by id, in creation order. Tests may read it (e.g. an uploaded file's bytes). */
export interface MockStore {
  /** OpenAI files (`file-…`), including batch output and completed uploads. */
  files: Map<string, StoredFile>;
  /** OpenAI batches (`batch_…`). */
  batches: Map<string, JsonObject>;
  /** Stored Responses API objects (`resp_…`). */
  responses: Map<string, StoredResponse>;
  /** Every response id the mock issued, stored or not, so an unstored or deleted one answers 404. */
  issuedResponses: Set<string>;
  /** OpenAI vector stores (`vs_…`). */
  vectorStores: Map<string, JsonObject>;
  /** OpenAI uploads (`upload_…`). */
  uploads: Map<string, StoredUpload>;
  /** Anthropic files (`file_…`). */
  anthropicFiles: Map<string, StoredFile>;
  /** Anthropic message batches (`msgbatch_…`). */
  messageBatches: Map<string, StoredMessageBatch>;
  /** Gemini files, by name (`files/…`). */
  geminiFiles: Map<string, StoredFile>;
  /** Gemini resumable uploads in progress, by `upload_id`: the file they will make and the chunks so far. */
  geminiUploads: Map<string, { file: JsonObject; chunks: Uint8Array[] }>;
  /** Gemini context caches, by name (`cachedContents/…`). */
  cachedContents: Map<string, JsonObject>;
  /** A fresh id such as `file-mock7` (the counter survives `clear`, so an old id never names a new object). */
  newId(prefix: string): string;
  clear(): void;
}

export function createStore(): MockStore {
  let counter = 0;
  const store: MockStore = {
    files: new Map(),
    batches: new Map(),
    responses: new Map(),
    issuedResponses: new Set(),
    vectorStores: new Map(),
    uploads: new Map(),
    anthropicFiles: new Map(),
    messageBatches: new Map(),
    geminiFiles: new Map(),
    geminiUploads: new Map(),
    cachedContents: new Map(),
    newId: (prefix) => `${prefix}mock${++counter}`,
    clear() {
      for (const value of Object.values(store)) if (value instanceof Map || value instanceof Set) value.clear();
    },
  };
  return store;
}

/** A file field of a multipart body, if `name` is one. */
export const formFile = (ctx: Ctx, name: string): RecordedFile | undefined => {
  const value: RecordedFormValue | undefined = ctx.form?.[name];
  return typeof value === "object" ? value : undefined;
};

/** A text field of a multipart body. */
export const formText = (ctx: Ctx, name: string): string | undefined => {
  const value = ctx.form?.[name];
  return typeof value === "string" ? value : undefined;
};

/**
 * An OpenAI cursor list: `order` (`desc` unless `defaultOrder` says otherwise, when the endpoint
 * takes one), `after` (an id), `limit`; `{object: "list", data, first_id, last_id, has_more}`.
 */
export function listPage(items: JsonObject[], query: Record<string, string>, defaultLimit: number, ordered = true): JsonObject {
  const newestFirst = ordered ? query.order !== "asc" : true;
  const sorted = newestFirst ? [...items].reverse() : items;
  const after = query.after === undefined ? -1 : sorted.findIndex((item) => item.id === query.after);
  const limit = Math.min(Math.max(lenientInt(query.limit) ?? defaultLimit, 1), 10_000);
  const rest = sorted.slice(after + 1);
  const data = rest.slice(0, limit);
  const id = (item: JsonObject | undefined): JsonValue => item?.id ?? null;
  return { object: "list", data, first_id: id(data[0]), last_id: id(data.at(-1)), has_more: rest.length > data.length };
}

const missing = (name: string): RouteResult => openaiError(400, `Missing required parameter: '${name}'.`, name);

// ---------- Files ----------

/** Stores a file and returns its OpenAI `FileObject`. */
export function addFile(ctx: Ctx, filename: string, purpose: string, bytes: Uint8Array, contentType: string, expiresAt: number | null = null): JsonObject {
  const id = ctx.store.newId("file-");
  const object: JsonObject = {
    id,
    object: "file",
    bytes: bytes.byteLength,
    created_at: ctx.created,
    expires_at: expiresAt,
    filename,
    purpose,
    status: "processed",
    status_details: null,
  };
  ctx.store.files.set(id, { object, bytes, contentType });
  return object;
}

const noFile = (id: string): RouteResult => openaiError(404, `No such File object: ${id}`, "id");

function createFile(ctx: Ctx): RouteResult {
  const file = formFile(ctx, "file");
  const purpose = formText(ctx, "purpose");
  if (!file) return missing("file");
  if (purpose === undefined) return missing("purpose");
  const seconds = lenientInt(formText(ctx, "expires_after[seconds]"));
  return json(addFile(ctx, file.filename, purpose, file.bytes, file.type, seconds === undefined ? null : ctx.created + seconds));
}

function listFiles(ctx: Ctx): RouteResult {
  const purpose = ctx.rec.query.purpose;
  const items = [...ctx.store.files.values()].map((f) => f.object).filter((f) => purpose === undefined || f.purpose === purpose);
  return json(listPage(items, ctx.rec.query, 10_000));
}

function getFile(ctx: Ctx): RouteResult {
  const id = ctx.params.id ?? "";
  const found = ctx.store.files.get(id);
  return found ? json(found.object) : noFile(id);
}

function fileContent(ctx: Ctx): RouteResult {
  const id = ctx.params.id ?? "";
  const file = ctx.store.files.get(id);
  if (!file) return noFile(id);
  return { kind: "bytes", status: 200, body: file.bytes, contentType: "application/octet-stream" };
}

function deleteFile(ctx: Ctx): RouteResult {
  const id = ctx.params.id ?? "";
  if (!ctx.store.files.delete(id)) return noFile(id);
  return json({ id, object: "file", deleted: true });
}

// ---------- Uploads ----------

const noUpload = (id: string): RouteResult => openaiError(404, `Upload with id '${id}' not found.`, "upload_id");

function createUpload(ctx: Ctx): RouteResult {
  const bytes = lenientInt(ctx.json?.bytes);
  for (const field of ["filename", "mime_type", "purpose"]) if (stringField(ctx.json, field) === undefined) return missing(field);
  if (bytes === undefined) return missing("bytes");
  const id = ctx.store.newId("upload_");
  const object: JsonObject = {
    id,
    object: "upload",
    bytes,
    created_at: ctx.created,
    expires_at: ctx.created + 3_600,
    filename: stringField(ctx.json, "filename") ?? "",
    purpose: stringField(ctx.json, "purpose") ?? "",
    status: "pending",
    file: null,
  };
  ctx.store.uploads.set(id, { object, parts: new Map() });
  return json(object);
}

/** The upload named by the path, if it is still pending. */
function pendingUpload(ctx: Ctx): StoredUpload | RouteResult {
  const id = ctx.params.id ?? "";
  const upload = ctx.store.uploads.get(id);
  if (!upload) return noUpload(id);
  if (upload.object.status !== "pending") return openaiError(400, `Upload ${id} is already ${asText(upload.object.status)}.`, "upload_id");
  return upload;
}

function addPart(ctx: Ctx): RouteResult {
  const upload = pendingUpload(ctx);
  if ("kind" in upload) return upload;
  const data = formFile(ctx, "data");
  if (!data) return missing("data");
  const id = ctx.store.newId("part_");
  upload.parts.set(id, data.bytes);
  return json({ id, object: "upload.part", created_at: ctx.created, upload_id: upload.object.id ?? null });
}

function completeUpload(ctx: Ctx): RouteResult {
  const upload = pendingUpload(ctx);
  if ("kind" in upload) return upload;
  const partIds = ctx.json?.part_ids;
  if (!Array.isArray(partIds)) return missing("part_ids");
  const chunks: Uint8Array[] = [];
  for (const partId of partIds) {
    const part = typeof partId === "string" ? upload.parts.get(partId) : undefined;
    if (!part) return openaiError(400, `Part ${asText(partId)} not found for this upload.`, "part_ids");
    chunks.push(part);
  }
  const bytes = Buffer.concat(chunks);
  if (bytes.byteLength !== upload.object.bytes) {
    return openaiError(400, `The number of bytes uploaded (${bytes.byteLength}) does not match the expected size (${asText(upload.object.bytes)}).`, "bytes");
  }
  const filename = asText(upload.object.filename);
  const file = addFile(ctx, filename, asText(upload.object.purpose), new Uint8Array(bytes), "application/octet-stream");
  upload.object = { ...upload.object, status: "completed", file };
  return json(upload.object);
}

function cancelUpload(ctx: Ctx): RouteResult {
  const upload = pendingUpload(ctx);
  if ("kind" in upload) return upload;
  upload.object = { ...upload.object, status: "cancelled" };
  return json(upload.object);
}

// ---------- Vector stores ----------

const noVectorStore = (id: string): RouteResult => openaiError(404, `No vector store found with id '${id}'.`, "vector_store_id");

function vectorStoreFields(ctx: Ctx, base: JsonObject): JsonObject {
  const body = ctx.json ?? {};
  const next: JsonObject = { ...base, last_active_at: ctx.created };
  if ("name" in body) next.name = body.name ?? null;
  if ("metadata" in body) next.metadata = body.metadata ?? null;
  if (isObject(body.expires_after)) {
    const days = lenientInt(body.expires_after.days) ?? 1;
    next.expires_after = { anchor: "last_active_at", days };
    next.expires_at = ctx.created + days * 86_400;
  }
  return next;
}

function createVectorStore(ctx: Ctx): RouteResult {
  const id = ctx.store.newId("vs_");
  const fileIds = Array.isArray(ctx.json?.file_ids) ? ctx.json.file_ids.filter((f): f is string => typeof f === "string") : [];
  const files = fileIds.map((f) => ctx.store.files.get(f));
  if (files.some((f) => f === undefined)) return openaiError(400, "One or more file_ids were not found.", "file_ids");
  const base: JsonObject = {
    id,
    object: "vector_store",
    created_at: ctx.created,
    name: "",
    usage_bytes: files.reduce((sum, f) => sum + (f?.bytes.byteLength ?? 0), 0),
    file_counts: { in_progress: 0, completed: files.length, failed: 0, cancelled: 0, total: files.length },
    status: "completed",
    expires_at: null,
    last_active_at: ctx.created,
    metadata: {},
  };
  const object = vectorStoreFields(ctx, base);
  ctx.store.vectorStores.set(id, object);
  return json(object);
}

function vectorStore(ctx: Ctx): RouteResult {
  const id = ctx.params.id ?? "";
  const found = ctx.store.vectorStores.get(id);
  if (!found) return noVectorStore(id);
  if (ctx.rec.method === "GET") return json(found);
  if (ctx.rec.method === "DELETE") {
    ctx.store.vectorStores.delete(id);
    return json({ id, object: "vector_store.deleted", deleted: true });
  }
  const updated = vectorStoreFields(ctx, found);
  ctx.store.vectorStores.set(id, updated);
  return json(updated);
}

// ---------- Batches ----------

const BATCH_ENDPOINTS = [
  "/v1/responses",
  "/v1/chat/completions",
  "/v1/embeddings",
  "/v1/completions",
  "/v1/moderations",
  "/v1/images/generations",
  "/v1/images/edits",
];
const noBatch = (id: string): RouteResult => openaiError(404, `No batch found with id '${id}'.`, "batch_id");

/** The non-empty lines of a JSONL file, parsed (a line that is not a JSON object is skipped). */
export function jsonlLines(bytes: Uint8Array): JsonObject[] {
  return new TextDecoder()
    .decode(bytes)
    .split("\n")
    .filter((line) => line.trim() !== "")
    .flatMap((line) => {
      try {
        const value = JSON.parse(line) as JsonValue;
        return isObject(value) ? [value] : [];
      } catch {
        return [];
      }
    });
}

function createBatch(ctx: Ctx): RouteResult {
  const inputFileId = stringField(ctx.json, "input_file_id");
  const endpoint = stringField(ctx.json, "endpoint");
  if (inputFileId === undefined) return missing("input_file_id");
  if (endpoint === undefined) return missing("endpoint");
  if (!BATCH_ENDPOINTS.includes(endpoint)) return openaiError(400, `Invalid value for 'endpoint': ${endpoint}.`, "endpoint");
  if (stringField(ctx.json, "completion_window") !== "24h")
    return openaiError(400, "Invalid value for 'completion_window': only '24h' is supported.", "completion_window");
  const input = ctx.store.files.get(inputFileId);
  if (!input) return openaiError(400, `No such File object: ${inputFileId}`, "input_file_id");
  const lines = jsonlLines(input.bytes);
  const firstBody = lines[0]?.body;
  const id = ctx.store.newId("batch_");
  const object: JsonObject = {
    id,
    object: "batch",
    endpoint,
    model: isObject(firstBody) && typeof firstBody.model === "string" ? firstBody.model : null,
    errors: null,
    input_file_id: inputFileId,
    completion_window: "24h",
    status: "validating",
    output_file_id: null,
    error_file_id: null,
    created_at: ctx.created,
    in_progress_at: null,
    expires_at: ctx.created + 86_400,
    finalizing_at: null,
    completed_at: null,
    failed_at: null,
    expired_at: null,
    cancelling_at: null,
    cancelled_at: null,
    request_counts: { total: lines.length, completed: 0, failed: 0 },
    metadata: ctx.json?.metadata ?? null,
  };
  ctx.store.batches.set(id, object);
  return json(object);
}

function getBatch(ctx: Ctx): RouteResult {
  const id = ctx.params.id ?? "";
  const found = ctx.store.batches.get(id);
  return found ? json(found) : noBatch(id);
}

/** Like the real API: the answer says `cancelling`; the batch is `cancelled` by the next read. */
function cancelBatch(ctx: Ctx): RouteResult {
  const id = ctx.params.id ?? "";
  const found = ctx.store.batches.get(id);
  if (!found) return noBatch(id);
  if (!["validating", "in_progress", "finalizing"].includes(asText(found.status))) {
    return openaiError(409, `Cannot cancel a batch with status '${asText(found.status)}'.`, "batch_id");
  }
  const cancelling = { ...found, status: "cancelling", cancelling_at: ctx.created };
  ctx.store.batches.set(id, { ...cancelling, status: "cancelled", cancelled_at: ctx.created });
  return json(cancelling);
}

/** A number at `path` in a JSON value, or 0. */
function numberAt(value: JsonValue | undefined, ...path: string[]): number {
  let v = value;
  for (const key of path) v = isObject(v) ? v[key] : undefined;
  return typeof v === "number" ? v : 0;
}

/**
 * Ends a batch: status `completed`, an output file holding `lines` as JSONL, `request_counts`
 * from their status codes, and `usage` summed over their bodies (chat and Responses fields both read).
 */
export function finishBatch(store: MockStore, id: string, lines: JsonObject[], created: number): JsonObject {
  const found = store.batches.get(id);
  if (!found) throw new Error(`completeBatch: no batch ${id}`);
  const bytes = encoder.encode(lines.map((line) => `${JSON.stringify(line)}\n`).join(""));
  const outputId = store.newId("file-");
  const file: JsonObject = {
    id: outputId,
    object: "file",
    bytes: bytes.byteLength,
    created_at: created,
    expires_at: null,
    filename: `${id}_output.jsonl`,
    purpose: "batch_output",
    status: "processed",
    status_details: null,
  };
  store.files.set(outputId, { object: file, bytes, contentType: "application/jsonl" });
  const ok = lines.filter((line) => {
    const status = numberAt(line.response, "status_code");
    return status >= 200 && status < 300;
  }).length;
  const bodies = lines.map((line) => (isObject(line.response) ? line.response.body : undefined));
  const sum = (...paths: string[][]): number => bodies.reduce<number>((total, body) => total + paths.reduce((n, path) => n + numberAt(body, ...path), 0), 0);
  const input = sum(["usage", "prompt_tokens"], ["usage", "input_tokens"]);
  const output = sum(["usage", "completion_tokens"], ["usage", "output_tokens"]);
  const completed: JsonObject = {
    ...found,
    status: "completed",
    output_file_id: outputId,
    in_progress_at: found.in_progress_at ?? created,
    finalizing_at: created,
    completed_at: created,
    request_counts: { total: lines.length, completed: ok, failed: lines.length - ok },
    usage: {
      input_tokens: input,
      input_tokens_details: { cached_tokens: sum(["usage", "prompt_tokens_details", "cached_tokens"], ["usage", "input_tokens_details", "cached_tokens"]) },
      output_tokens: output,
      output_tokens_details: {
        reasoning_tokens: sum(["usage", "completion_tokens_details", "reasoning_tokens"], ["usage", "output_tokens_details", "reasoning_tokens"]),
      },
      total_tokens: input + output,
    },
  };
  store.batches.set(id, completed);
  return completed;
}

/** `/v1/files*` is OpenAI's unless the request carries `anthropic-version`. */
const notAnthropic = (ctx: { headers: Record<string, string> }): boolean => ctx.headers["anthropic-version"] === undefined;
const openai = (method: string, template: string, handle: (ctx: Ctx) => RouteResult, files = false): RouteSpec =>
  route(method, template, "openai", handle, { configuredUsage: true, ...(files ? { when: notAnthropic } : {}) });

export const STORED_OBJECT_ROUTES: RouteSpec[] = [
  openai("POST", "/v1/files", createFile, true),
  openai("GET", "/v1/files", listFiles, true),
  openai("GET", "/v1/files/{id}", getFile, true),
  openai("DELETE", "/v1/files/{id}", deleteFile, true),
  openai("GET", "/v1/files/{id}/content", fileContent, true),
  openai("POST", "/v1/uploads", createUpload),
  openai("POST", "/v1/uploads/{id}/parts", addPart),
  openai("POST", "/v1/uploads/{id}/complete", completeUpload),
  openai("POST", "/v1/uploads/{id}/cancel", cancelUpload),
  openai("POST", "/v1/vector_stores", createVectorStore),
  openai("GET", "/v1/vector_stores", (ctx) => json(listPage([...ctx.store.vectorStores.values()], ctx.rec.query, 20))),
  openai("GET", "/v1/vector_stores/{id}", vectorStore),
  openai("POST", "/v1/vector_stores/{id}", vectorStore),
  openai("DELETE", "/v1/vector_stores/{id}", vectorStore),
  openai("POST", "/v1/batches", createBatch),
  openai("GET", "/v1/batches", (ctx) => json(listPage([...ctx.store.batches.values()], ctx.rec.query, 20, false))),
  openai("GET", "/v1/batches/{id}", getBatch),
  openai("POST", "/v1/batches/{id}/cancel", cancelBatch),
];
