import type { Store } from "../db/store.ts";
import { OPENAI_LIST } from "../providers/endpoints.ts";
import type { CreatedObject, ObjectOwners } from "../vault/stored-objects.ts";
import type { Authenticated } from "./authenticate.ts";
import { ProxyError } from "./errors.ts";
import { ownedList } from "./list-pages.ts";
import type { ProxyRun } from "./run.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/**
 * Before forwarding: a request on a stored object another proxy key created
 * (or that keyward never saw created) is answered 404 as if the object did
 * not exist, so its id reveals nothing either.
 */
export function checkOwnership(run: ProxyRun, owners: ObjectOwners): void {
  const auth = run.trace.auth;
  const target = auth ? ownedTarget(run) : undefined;
  if (!auth || !target) return;
  if (!owners.mayUse({ providerKeyId: auth.providerKey.row.id, objectId: target.id }, auth.proxyKey.id)) {
    throw new ProxyError("not_found", `No such ${target.kind}: ${target.id.slice(0, 128)}`);
  }
}

/** Fields through which a request body uses stored objects by id (Gemini's `cachedContent` by its name). */
const REFERENCES = new Set(["previous_response_id", "input_file_id", "file_id", "file_ids", "vector_store_ids", "cachedContent", "cached_content"]);
/** Gemini names an uploaded file in a part's `fileData` by its URI at the provider: `https://…/v1beta/files/{id}`. */
const FILE_URIS = new Set(["fileUri", "file_uri"]);
/** Anywhere in the path, so a spelling the provider might still resolve (`//v1beta/…`, `…/files/{id}:download`) is checked too. */
const FILE_NAME = /(?:^|\/)(files\/[A-Za-z0-9_-]+)/;
/** Bodies are walked this deep for references; real ones sit a few levels down (a content part's `file_id`). */
const MAX_REFERENCE_DEPTH = 8;

/**
 * A request that uses another key's object by id inside its body (a
 * `previous_response_id` continuing someone else's conversation, a batch on
 * someone else's `input_file_id`, a `file_id` in a message) is refused as
 * if the object did not exist, like a request on its path.
 */
export function checkReferences(run: ProxyRun, owners: ObjectOwners, json: Record<string, unknown> | undefined): void {
  const auth = run.trace.auth;
  if (!auth || !json) return;
  const providerKeyId = auth.providerKey.row.id;
  const refuse = (id: string, key: string) => new ProxyError("not_found", `No such object: ${id.slice(0, 128)}`, { param: key });
  const stack: Array<{ value: unknown; depth: number }> = [{ value: json, depth: 0 }];
  while (stack.length > 0) {
    const { value, depth } = stack.pop() as { value: unknown; depth: number };
    if (typeof value !== "object" || value === null || depth > MAX_REFERENCE_DEPTH) continue;
    for (const [key, child] of Object.entries(value)) {
      if (REFERENCES.has(key)) {
        for (const id of Array.isArray(child) ? child : [child]) {
          if (typeof id === "string" && !owners.mayUse({ providerKeyId, objectId: id }, auth.proxyKey.id)) throw refuse(id, key);
        }
      } else if (FILE_URIS.has(key) && typeof child === "string") {
        const id = providerFileName(child, auth.providerKey.row.baseUrl);
        if (id !== undefined && !owners.mayUse({ providerKeyId, objectId: id }, auth.proxyKey.id)) throw refuse(child, key);
      } else if (typeof child === "object" && child !== null) {
        stack.push({ value: child, depth: depth + 1 });
      }
    }
  }
}

/** `files/{id}` when `uri` names a file at the provider key's host (other URIs, a video's or a bucket's, are not stored objects). */
function providerFileName(uri: string, baseUrl: string): string | undefined {
  try {
    const url = new URL(uri);
    return url.origin === new URL(baseUrl).origin ? FILE_NAME.exec(decodeURIComponent(url.pathname))?.[1] : undefined;
  } catch {
    return undefined;
  }
}

/** Collections whose objects have recorded owners; a path below one of their objects (`/vector_stores/{id}/search`) acts on it. */
const BELOW_OWNED = /^\/(?<collection>files|uploads|batches|responses|vector_stores|messages\/batches)\/(?<id>[^/]+)\//;
const KINDS: Record<string, string> = {
  files: "file",
  uploads: "upload",
  batches: "batch",
  responses: "response",
  vector_stores: "vector store",
  "messages/batches": "message batch",
};

/** The stored object a request acts on, if it needs its owner's key. */
function ownedTarget(run: ProxyRun): { kind: string; id: string } | undefined {
  const stores = run.endpoint?.stores;
  // A resumable upload's later requests name its session, which must be the caller's.
  if (stores?.session) return run.groups.id === undefined ? undefined : { kind: "upload", id: run.groups.id };
  if (stores) return stores.action === "create" || stores.action === "list" ? undefined : { kind: stores.kind.replace("_", " "), id: run.groups.id ?? "" };
  if (run.endpoint) return undefined;
  // An endpoint the registry does not know (a key without limits reaches it) is still refused on another key's object.
  const below = BELOW_OWNED.exec(run.trace.path)?.groups;
  return below ? { kind: KINDS[below.collection as string] ?? "object", id: below.id as string } : undefined;
}

/**
 * After a successful answer: the creator of a new object is recorded (its id
 * from the answer), a deleted one forgotten, and a list keeps only the
 * caller's own objects. Returns the body to send when it changed, once the
 * records are written (the client may use a new object at once); the answers
 * of endpoints that store nothing pass without a promise.
 */
export function afterStoredObjectAnswer(
  run: ProxyRun,
  owners: ObjectOwners,
  status: number,
  bytes: Uint8Array<ArrayBuffer>,
): Uint8Array<ArrayBuffer> | Promise<Uint8Array<ArrayBuffer>> {
  const stores = run.endpoint?.stores;
  const auth = run.trace.auth;
  if (!stores || !auth || status < 200 || status >= 300) return bytes;
  const providerKeyId = auth.providerKey.row.id;
  if (stores.action === "delete") return owners.deleted({ providerKeyId, objectId: run.groups.id ?? "" }).then(() => bytes);
  // Batch reads are parsed too: an OpenAI batch names the files the provider made for it, an Anthropic one its results URL.
  const batch = stores.kind === "batch" || stores.kind === "message_batch";
  if (stores.action === "read" && !batch) return bytes;
  const json = parse(bytes);
  if (!json) return bytes;
  const created: CreatedObject[] = [];
  const seeBatch = (item: unknown): boolean => (batch ? afterBatch(item, stores.kind, created, auth) : false);
  if (stores.action === "list") {
    return ownedList(run, owners, json, stores.list ?? OPENAI_LIST).then(({ page, items }) => {
      for (const item of items) seeBatch(item);
      return recordCreated(owners, created, auth, encoder.encode(JSON.stringify(page)));
    });
  }
  const id = stringAt(json, stores.createdId ?? ID_FIELD);
  if (stores.action === "create" && id) created.push({ providerKeyId, objectId: id, kind: stores.kind });
  // A completed upload answers with the file it made, which belongs to the upload's owner.
  const file = json.file as { id?: unknown } | undefined;
  if (typeof file?.id === "string") created.push({ providerKeyId, objectId: file.id, kind: "file" });
  const also = run.recordCreated;
  const alsoCreated = stores.action === "create" && id && also ? (tx: Store) => also(tx, id) : undefined;
  return recordCreated(owners, created, auth, seeBatch(json) ? encoder.encode(JSON.stringify(json)) : bytes, alsoCreated);
}

/** `body`, after the caller is recorded as the creator of `created` (if any), with what else goes with it. */
function recordCreated(
  owners: ObjectOwners,
  created: CreatedObject[],
  auth: Authenticated,
  body: Uint8Array<ArrayBuffer>,
  also?: (tx: Store) => void,
): Uint8Array<ArrayBuffer> | Promise<Uint8Array<ArrayBuffer>> {
  return created.length === 0 ? body : owners.created(created, auth.proxyKey.id, also).then(() => body);
}

/** What a batch in an answer (the caller's own) implies; true when the batch object was changed for the client. */
function afterBatch(item: unknown, kind: string, created: CreatedObject[], auth: Authenticated): boolean {
  if (typeof item !== "object" || item === null) return false;
  if (kind === "batch") {
    created.push(...batchFiles(item, auth.providerKey.row.id));
    return false;
  }
  return keywardResultsUrl(item, auth.providerKey.row.baseUrl);
}

/**
 * Anthropic's `results_url` is absolute, at the provider: its SDKs fetch it
 * with the client's key, which is the proxy key. It becomes the same path
 * under keyward's `/v1`, relative, which the SDKs resolve against the base
 * URL they were given (keyward's).
 */
function keywardResultsUrl(batch: { results_url?: unknown }, baseUrl: string): boolean {
  const base = baseUrl.endsWith("/") ? baseUrl.slice(0, -1) : baseUrl;
  const url = batch.results_url;
  if (typeof url !== "string" || !url.startsWith(`${base}/`)) return false;
  batch.results_url = `/v1${url.slice(base.length)}`;
  return true;
}

/** A batch's output and error files are made by the provider when it ends; they belong to the batch's owner (the caller). */
function batchFiles(batch: object, providerKeyId: string): CreatedObject[] {
  const { output_file_id: output, error_file_id: error } = batch as { output_file_id?: unknown; error_file_id?: unknown };
  return [output, error].flatMap((fileId) => (typeof fileId === "string" && fileId !== "" ? [{ providerKeyId, objectId: fileId, kind: "file" as const }] : []));
}

/**
 * Records the object a streamed answer created (a stored response's id
 * arrives in its first event); the stream waits for it. Never rejects: a
 * record that cannot be written is logged and the stream goes on, and the
 * object then belongs to no one, so nobody can use it through keyward.
 */
export async function recordStreamedObject(run: ProxyRun, owners: ObjectOwners, objectId: string | undefined): Promise<void> {
  const stores = run.endpoint?.stores;
  const auth = run.trace.auth;
  if (!stores || stores.action !== "create" || !auth || !objectId) return;
  try {
    await owners.created([{ providerKeyId: auth.providerKey.row.id, objectId, kind: stores.kind }], auth.proxyKey.id);
  } catch (err) {
    run.deps.logger.error("Cannot record the owner of a stored object", {
      error: err instanceof Error ? err.message : String(err),
      request_id: run.trace.requestId,
    });
  }
}

const ID_FIELD = ["id"];

/** The string at `path` in an answer, if there is one. */
function stringAt(json: Record<string, unknown>, path: readonly string[]): string | undefined {
  let value: unknown = json;
  for (const key of path) value = typeof value === "object" && value !== null ? (value as Record<string, unknown>)[key] : undefined;
  return typeof value === "string" && value !== "" ? value : undefined;
}

function parse(bytes: Uint8Array): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(decoder.decode(bytes));
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The session a resumable upload names in its query (Gemini's `upload_id`):
 * the object its request acts on, checked like a path's id.
 */
export function sessionOf(run: ProxyRun, requestUrl: string): void {
  const session = run.endpoint?.stores?.session;
  if (!session) return;
  const start = requestUrl.indexOf("?");
  const ids = start < 0 ? [] : new URLSearchParams(requestUrl.slice(start + 1)).getAll(session.param);
  // Parsers differ on which of two values counts: the one checked must be the one the provider reads.
  if (ids.length > 1) throw new ProxyError("invalid_request", `Cannot forward request: ${session.param} appears more than once`, { param: session.param });
  const id = ids[0];
  if (id !== undefined && id !== "") run.groups = { ...run.groups, id };
}

/**
 * The answer to a resumable upload's start names the session's URL at the
 * provider, where the client sends the file's chunks. That URL becomes the
 * same path under keyward's `/v1` (the SDK keeps the path and puts its own
 * base URL's host in it; any other client follows it as given), and the
 * session becomes the caller's: every chunk must name a session it owns.
 * Returns the record's write when there is one to wait for.
 */
export function answerUploadSession(run: ProxyRun, owners: ObjectOwners, status: number, headers: Headers, requestUrl: string): Promise<void> | undefined {
  const session = run.endpoint?.stores?.session;
  const auth = run.trace.auth;
  if (!session || !auth || status < 200 || status >= 300) return undefined;
  const value = headers.get(session.header);
  if (value === null) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  headers.set(session.header, `${new URL(requestUrl).origin}/v1${url.pathname}${url.search}`);
  const id = url.searchParams.get(session.param);
  // A chunk's answer names its own session again: recorded at the start already.
  if (id === null || id === "" || run.groups.id !== undefined) return undefined;
  return owners.created([{ providerKeyId: auth.providerKey.row.id, objectId: id, kind: "upload" }], auth.proxyKey.id);
}
