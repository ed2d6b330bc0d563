/**
 * Gemini's own API, as `@google/genai` calls it with `baseUrl` at keyward's
 * `/v1`: `/v1beta/models/{model}:{method}`, its Files API (uploads by
 * Google's resumable protocol under `/upload/v1beta/files`) and its context
 * caches (`/v1beta/cachedContents`). Every path carries its own version and
 * goes to the provider key's origin, with the key in `x-goog-api-key`.
 */
import { MODEL, type Endpoint, type ListShape } from "./endpoints.ts";

const VERSION = "v1(?:beta|alpha)?";
const GOOGLE = { upstream: "origin", credential: "x-goog-api-key" } as const;
const NATIVE = { modelFrom: "path", ...GOOGLE } as const;
/** The Files API takes files up to 2 GB; the SDK sends them in 8 MB chunks, but one request may carry a whole file. */
const FILE_BYTES = 2 * 1024 * 1024 * 1024;
/** Objects are named `files/{id}` and `cachedContents/{id}`: the whole name is the object's id. */
const named = (collection: string) => new RegExp(`^/${VERSION}/(?<id>${collection}/[A-Za-z0-9_-]+)$`);
/** Google's lists: `pageSize` and `pageToken`; the answer's `nextPageToken` is there while more follow. */
const list = (items: string): ListShape => ({ items, id: "name", next: [{ field: "nextPageToken", param: "pageToken" }], lookahead: true });

const generate = { outputCaps: ["maxOutputTokens"], outputMultipliers: ["candidateCount"], defaultCap: "maxOutputTokens", container: "generationConfig" };
const method = (name: string) => new RegExp(`^/${VERSION}/models/${MODEL}:${name}$`);

const MODELS: readonly Endpoint[] = [
  { name: "gemini.generateContent", method: "POST", path: method("generateContent"), billing: "tokens", body: generate, ...NATIVE },
  { name: "gemini.streamGenerateContent", method: "POST", path: method("streamGenerateContent"), billing: "tokens", body: generate, ...NATIVE },
  { name: "gemini.embedContent", method: "POST", path: method("embedContent"), billing: "tokens", body: { outputCaps: [], outputMultipliers: [] }, ...NATIVE },
  {
    name: "gemini.batchEmbedContents",
    method: "POST",
    path: method("batchEmbedContents"),
    billing: "tokens",
    body: { outputCaps: [], outputMultipliers: [] },
    ...NATIVE,
  },
  { name: "gemini.countTokens", method: "POST", path: method("countTokens"), billing: "free", ...NATIVE },
  { name: "gemini.models.list", method: "GET", path: new RegExp(`^/${VERSION}/models$`), billing: "free", ...GOOGLE },
  { name: "gemini.models.get", method: "GET", path: new RegExp(`^/${VERSION}/models/${MODEL}$`), billing: "free", ...NATIVE },
];

// Files are stored free (for 48 hours); what they add to a prompt is bounded where the prompt names them.
const FILES: readonly Endpoint[] = [
  {
    // One path for the whole protocol: the start (`X-Goog-Upload-Command: start`) opens a session whose URL the
    // answer names; each chunk is sent to that URL (`?upload_id=`), and the last one's answer is the file.
    name: "gemini.files.upload",
    method: "POST",
    path: new RegExp(`^/upload/${VERSION}/files$`),
    billing: "free",
    maxBodyBytes: FILE_BYTES,
    stores: { kind: "file", action: "create", createdId: ["file", "name"], session: { header: "x-goog-upload-url", param: "upload_id" } },
    ...GOOGLE,
  },
  {
    name: "gemini.files.list",
    method: "GET",
    path: new RegExp(`^/${VERSION}/files$`),
    billing: "free",
    stores: { kind: "file", action: "list", list: list("files") },
    ...GOOGLE,
  },
  { name: "gemini.files.get", method: "GET", path: named("files"), billing: "free", stores: { kind: "file", action: "read" }, ...GOOGLE },
  { name: "gemini.files.delete", method: "DELETE", path: named("files"), billing: "free", stores: { kind: "file", action: "delete" }, ...GOOGLE },
];

/** A cache's tokens are billed for storage by the hour, from its creation until it expires: no request bounds that. */
const STORAGE_BY_THE_HOUR = "Google bills a cache's tokens for every hour it is kept, which keyward cannot bound";

const CACHES: readonly Endpoint[] = [
  {
    name: "gemini.cachedContents.create",
    method: "POST",
    path: new RegExp(`^/${VERSION}/cachedContents$`),
    billing: "units",
    refuseLimited: STORAGE_BY_THE_HOUR,
    stores: { kind: "cached_content", action: "create", createdId: ["name"] },
    ...GOOGLE,
  },
  {
    name: "gemini.cachedContents.list",
    method: "GET",
    path: new RegExp(`^/${VERSION}/cachedContents$`),
    billing: "free",
    stores: { kind: "cached_content", action: "list", list: list("cachedContents") },
    ...GOOGLE,
  },
  {
    name: "gemini.cachedContents.get",
    method: "GET",
    path: named("cachedContents"),
    billing: "free",
    stores: { kind: "cached_content", action: "read" },
    ...GOOGLE,
  },
  {
    // A new ttl or expireTime extends the storage billed.
    name: "gemini.cachedContents.update",
    method: "PATCH",
    path: named("cachedContents"),
    billing: "units",
    refuseLimited: STORAGE_BY_THE_HOUR,
    stores: { kind: "cached_content", action: "update" },
    ...GOOGLE,
  },
  {
    name: "gemini.cachedContents.delete",
    method: "DELETE",
    path: named("cachedContents"),
    billing: "free",
    stores: { kind: "cached_content", action: "delete" },
    ...GOOGLE,
  },
];

export const GEMINI_NATIVE_ENDPOINTS: readonly Endpoint[] = [...MODELS, ...FILES, ...CACHES];
