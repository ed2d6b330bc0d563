/**
 * Gemini's stored objects, as `@google/genai` calls them (`ai.files`,
 * `ai.caches`), under `/v1beta` and `/v1` (under `/v1` only with a Google key,
 * like mock-gemini.ts's models routes, so OpenAI's `/v1/files` stays OpenAI's).
 * Part of test/helpers/mock-provider.ts.
 *
 * - `POST /upload/{v}/files`: Google's resumable protocol. The start (`X-Goog-Upload-Command: start`,
 *   JSON `{file}`) answers an empty body and `x-goog-upload-url: <origin>/upload/{v}/files?upload_id=…`;
 *   each chunk posted there (`upload` or `upload, finalize`, `X-Goog-Upload-Offset`) answers
 *   `x-goog-upload-status: active`, the last one `final` with `{file}` as JSON.
 * - `GET /{v}/files` (`pageSize`, default 10, and `pageToken`: `{files, nextPageToken}`, `files`
 *   left out when there are none, as Google does), `GET|DELETE /{v}/files/{id}`
 * - `POST|GET /{v}/cachedContents`, `GET|PATCH|DELETE /{v}/cachedContents/{id}`; a cache reports
 *   `usageMetadata.totalTokenCount` = the configured input usage; PATCH sets `ttl` or `expireTime`
 *
 * Objects are listed oldest first. Nothing here is billed.
 */
import { asText, isObject, lenientInt, stringField, type JsonObject } from "./mock-json.ts";
import { onGemini } from "./mock-gemini.ts";
import { googleError, json, route, type Ctx, type RouteResult, type RouteSpec } from "./mock-types.ts";

const iso = (seconds: number): string => new Date(seconds * 1000).toISOString();

/** Google's list page: `pageToken` is the offset of the page's first item. */
function page(items: JsonObject[], field: string, query: Record<string, string>, defaultSize: number): RouteResult {
  const start = lenientInt(query.pageToken) ?? 0;
  const size = Math.min(Math.max(lenientInt(query.pageSize) ?? defaultSize, 1), 1_000);
  const slice = items.slice(start, start + size);
  const more = start + size < items.length;
  return json({ ...(slice.length > 0 ? { [field]: slice } : {}), ...(more ? { nextPageToken: String(start + size) } : {}) });
}

// ---------- files ----------

const noFile = (name: string): RouteResult => googleError(403, `You do not have permission to access the File ${name} or it may not exist.`);

function startOrChunk(ctx: Ctx): RouteResult {
  const uploadId = ctx.rec.query.upload_id;
  return uploadId === undefined ? startUpload(ctx) : uploadChunk(ctx, uploadId);
}

function startUpload(ctx: Ctx): RouteResult {
  const headers = ctx.rec.headers;
  if (headers["x-goog-upload-protocol"] !== "resumable" || headers["x-goog-upload-command"] !== "start") {
    return googleError(400, "Upload requests must use the resumable protocol with X-Goog-Upload-Command: start.");
  }
  const asked = isObject(ctx.json?.file) ? ctx.json.file : {};
  const id = ctx.store.newId("");
  const name = stringField(asked, "name") ?? `files/${id}`;
  const size = lenientInt(headers["x-goog-upload-header-content-length"]) ?? 0;
  const mimeType = headers["x-goog-upload-header-content-type"] ?? stringField(asked, "mimeType") ?? "application/octet-stream";
  const file: JsonObject = {
    name,
    ...(stringField(asked, "displayName") === undefined ? {} : { displayName: stringField(asked, "displayName") ?? "" }),
    mimeType,
    sizeBytes: String(size),
    createTime: iso(ctx.created),
    updateTime: iso(ctx.created),
    expirationTime: iso(ctx.created + 48 * 3_600),
    uri: `${ctx.origin}/${ctx.params.version ?? "v1beta"}/${name}`,
    state: "ACTIVE",
    source: "UPLOADED",
  };
  const uploadId = `upload-${id}`;
  ctx.store.geminiUploads.set(uploadId, { file, chunks: [] });
  const url = `${ctx.origin}/upload/${ctx.params.version ?? "v1beta"}/files?upload_id=${uploadId}&upload_protocol=resumable`;
  return {
    kind: "bytes",
    status: 200,
    body: new Uint8Array(),
    contentType: "text/plain; charset=utf-8",
    headers: { "x-goog-upload-url": url, "x-goog-upload-status": "active", "x-goog-upload-chunk-granularity": "8388608" },
  };
}

function uploadChunk(ctx: Ctx, uploadId: string): RouteResult {
  const upload = ctx.store.geminiUploads.get(uploadId);
  if (!upload) return googleError(404, `No upload session ${uploadId}.`);
  const command = ctx.rec.headers["x-goog-upload-command"] ?? "";
  const offset = lenientInt(ctx.rec.headers["x-goog-upload-offset"]);
  const received = upload.chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0);
  if (offset !== received) return googleError(400, `Upload offset ${String(offset)} does not match the ${received} bytes received.`);
  upload.chunks.push(ctx.rec.bytes ?? new Uint8Array());
  if (!command.split(",").some((part) => part.trim() === "finalize")) {
    return { kind: "bytes", status: 200, body: new Uint8Array(), contentType: "text/plain; charset=utf-8", headers: { "x-goog-upload-status": "active" } };
  }
  const bytes = new Uint8Array(Buffer.concat(upload.chunks));
  const file: JsonObject = { ...upload.file, sizeBytes: String(bytes.byteLength), sha256Hash: new Bun.CryptoHasher("sha256").update(bytes).digest("base64") };
  ctx.store.geminiUploads.delete(uploadId);
  ctx.store.geminiFiles.set(asText(file.name), { object: file, bytes, contentType: asText(file.mimeType) });
  return json({ file }, 200, { headers: { "x-goog-upload-status": "final" } });
}

function file(ctx: Ctx): RouteResult {
  const name = `files/${ctx.params.id ?? ""}`;
  const found = ctx.store.geminiFiles.get(name);
  if (!found) return noFile(name);
  if (ctx.rec.method === "DELETE") {
    ctx.store.geminiFiles.delete(name);
    return json({});
  }
  return json(found.object);
}

// ---------- cachedContents ----------

/** `"3600s"` or `"1.5s"` → whole seconds. */
const seconds = (ttl: string | undefined): number | undefined => (ttl && /^\d+(\.\d+)?s$/.test(ttl) ? Math.ceil(Number.parseFloat(ttl)) : undefined);

function createCache(ctx: Ctx): RouteResult {
  const model = stringField(ctx.json, "model");
  if (model === undefined) return googleError(400, "* CreateCachedContentRequest.cached_content.model: model is not specified");
  const name = `cachedContents/${ctx.store.newId("")}`;
  const expireTime = stringField(ctx.json, "expireTime") ?? iso(ctx.created + (seconds(stringField(ctx.json, "ttl")) ?? 3_600));
  const cache: JsonObject = {
    name,
    ...(stringField(ctx.json, "displayName") === undefined ? {} : { displayName: stringField(ctx.json, "displayName") ?? "" }),
    model: model.startsWith("models/") ? model : `models/${model}`,
    createTime: iso(ctx.created),
    updateTime: iso(ctx.created),
    expireTime,
    usageMetadata: { totalTokenCount: ctx.b.usage.input },
  };
  ctx.store.cachedContents.set(name, cache);
  return json(cache);
}

function cache(ctx: Ctx): RouteResult {
  const name = `cachedContents/${ctx.params.id ?? ""}`;
  const found = ctx.store.cachedContents.get(name);
  if (!found) return googleError(403, `CachedContent not found (or permission denied): ${name}`);
  if (ctx.rec.method === "DELETE") {
    ctx.store.cachedContents.delete(name);
    return json({});
  }
  if (ctx.rec.method === "GET") return json(found);
  const ttl = seconds(stringField(ctx.json, "ttl"));
  const expireTime = stringField(ctx.json, "expireTime") ?? (ttl === undefined ? undefined : iso(ctx.created + ttl));
  if (expireTime === undefined) return googleError(400, "Either ttl or expireTime must be set.");
  const updated = { ...found, expireTime, updateTime: iso(ctx.created) };
  ctx.store.cachedContents.set(name, updated);
  return json(updated);
}

const gemini = (method: string, template: string, handle: (ctx: Ctx) => RouteResult): RouteSpec =>
  route(method, template, "gemini", handle, { configuredUsage: true, when: onGemini });

export const GEMINI_OBJECT_ROUTES: RouteSpec[] = [
  gemini("POST", "/upload/{version}/files", startOrChunk),
  gemini("GET", "/{version}/files", (ctx) =>
    page(
      [...ctx.store.geminiFiles.values()].map((f) => f.object),
      "files",
      ctx.rec.query,
      10,
    ),
  ),
  gemini("GET", "/{version}/files/{id}", file),
  gemini("DELETE", "/{version}/files/{id}", file),
  gemini("POST", "/{version}/cachedContents", createCache),
  gemini("GET", "/{version}/cachedContents", (ctx) => page([...ctx.store.cachedContents.values()], "cachedContents", ctx.rec.query, 100)),
  gemini("GET", "/{version}/cachedContents/{id}", cache),
  gemini("PATCH", "/{version}/cachedContents/{id}", cache),
  gemini("DELETE", "/{version}/cachedContents/{id}", cache),
];
