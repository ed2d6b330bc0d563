/**
 * Issue 18, "Every endpoint known": one row per entry of the endpoint
 * registries (src/providers/*-endpoints.ts): the OpenAI-style list, Azure's
 * deployment paths, Anthropic's and Gemini's native API. Each row is sent
 * through keyward with a key without limits and with a key whose limits read
 * the body, and the answer's status and whether the mock provider received
 * the request are checked against what the row says. The first test fails
 * when an entry has no row, so adding an endpoint forces a row here.
 *
 * Keys, per provider:
 * - open: no limits.
 * - limited: a budget with `unbounded_reservation_usd`, so unit-priced
 *   endpoints are admitted too.
 * - unreserved: a budget without `unbounded_reservation_usd`: unit-priced
 *   endpoints → 403 cost_not_bounded.
 * - allow-listed: `allowed_models` naming none of the models below: every
 *   endpoint that bills a named model → 403 model_not_allowed; one whose
 *   request names no model keyward could check → 403 endpoint_not_allowed.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { ANTHROPIC_ENDPOINTS } from "../../src/providers/anthropic-endpoints.ts";
import { findEndpoint, type Endpoint } from "../../src/providers/endpoints.ts";
import { GEMINI_NATIVE_ENDPOINTS } from "../../src/providers/gemini-endpoints.ts";
import { AZURE_DEPLOYMENT_ENDPOINTS, openaiStyleEndpoints } from "../../src/providers/openai-endpoints.ts";
import { getKey, micros, waitSettled } from "../helpers/limits.ts";
import type { RecordedRequest } from "../helpers/mock-provider.ts";
import { createKeyPair, expectProxyError, readText, useProxyHarness, type KeyPair } from "../helpers/proxy.ts";

const h = useProxyHarness();

type Registry = "openai" | "azure" | "anthropic" | "gemini";

const REGISTRIES: Record<Registry, readonly Endpoint[]> = {
  openai: openaiStyleEndpoints({ chatCap: "max_completion_tokens" }),
  azure: AZURE_DEPLOYMENT_ENDPOINTS,
  anthropic: ANTHROPIC_ENDPOINTS,
  gemini: GEMINI_NATIVE_ENDPOINTS,
};

type Json = Record<string, unknown>;

/** What a row's request carries: a JSON body, a multipart form, or nothing. */
type Body = { json: Json } | { form: () => FormData } | undefined;

/** 200 (the mock answered), or a refusal of keyward's own (nothing forwarded), or `forwarded` with the mock's own status. */
type Outcome = { status: 200 } | { refused: number; code: string } | { forwarded: number };

interface Row {
  method: "GET" | "POST" | "PATCH" | "DELETE";
  /** The path after keyward's `/v1` (with a query where the endpoint needs one); `{id}` from the setup. */
  path: string;
  body?: (ids: Record<string, string>) => Body;
  /** Creates what the row acts on, through the same proxy key (so it owns it). */
  setup?: (via: Via) => Promise<Record<string, string>>;
  /** The limited key cannot create it (batches): the setup runs on the key without limits, whose object the limited key is told does not exist. */
  setupOnOpenKey?: true;
  /**
   * The allow-listed key cannot make what the request needs (a batch's input file naming a model it does not allow
   * is refused at upload): the open key's stands in, which the allow-listed key cannot use.
   */
  allowListedSetupOnOpenKey?: true;
  /** What the allow-listed key gets, where it is not the 403 a single request naming the model would get. */
  allowListed?: Outcome;
  /** Headers the request needs besides the key (Google's resumable upload protocol). */
  headers?: Record<string, string>;
  /** The model the request names (body, form, URL or deployment); null: the request names none. Required for billed endpoints. */
  model?: string | null;
  open: Outcome;
  limited: Outcome;
}

const OK: Outcome = { status: 200 };
const refused = (refusedStatus: number, code: string): Outcome => ({ refused: refusedStatus, code });
const REALTIME_REFUSED = refused(403, "endpoint_not_allowed");
/** Another key's object: keyward's 404, as if it did not exist. */
const HIDDEN = refused(404, "not_found");

// ---------- request bodies ----------

const PNG = Uint8Array.from(atob("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="), (c) => c.charCodeAt(0));
const WAV = (() => {
  const bytes = new Uint8Array(4_096);
  bytes.set([0x52, 0x49, 0x46, 0x46]);
  return bytes;
})();

function form(fields: Record<string, string | { bytes: Uint8Array<ArrayBuffer>; name: string; type: string }>): () => FormData {
  return () => {
    const data = new FormData();
    for (const [name, value] of Object.entries(fields)) {
      if (typeof value === "string") data.append(name, value);
      else data.append(name, new File([value.bytes], value.name, { type: value.type }));
    }
    return data;
  };
}

const messages = [{ role: "user", content: "hi" }];
const json = (body: Json) => (): Body => ({ json: body });

// ---------- talking to keyward ----------

/** One proxy key on one provider key, with how its clients authenticate and what the provider expects besides. */
interface Via {
  keys: KeyPair;
  registry: Registry;
  /** Sends a request through keyward with this key. */
  send(method: string, path: string, body?: Body, extra?: Record<string, string>): Promise<{ status: number; headers: Headers; text: string }>;
  /** Sends a setup request and returns its JSON answer (which must be a 200). */
  call(method: string, path: string, body?: Body): Promise<Json>;
}

function via(registry: Registry, keys: KeyPair): Via {
  const headers: Record<string, string> = {
    // Each provider's clients send the key where their SDK does.
    ...(registry === "anthropic" ? { "x-api-key": keys.proxyKey, "anthropic-version": "2023-06-01" } : {}),
    ...(registry === "gemini" ? { "x-goog-api-key": keys.proxyKey } : {}),
    ...(registry === "azure" ? { "api-key": keys.proxyKey } : {}),
    ...(registry === "openai" ? { authorization: `Bearer ${keys.proxyKey}` } : {}),
  };
  const send = async (method: string, path: string, body?: Body, extra: Record<string, string> = {}) => {
    const init: RequestInit = { method, headers: { ...headers, ...extra } };
    if (body && "json" in body) {
      init.body = JSON.stringify(body.json);
      (init.headers as Record<string, string>)["content-type"] = "application/json";
    } else if (body) init.body = body.form();
    return readText(await fetch(`${h.baseUrl}${path}`, init));
  };
  return {
    keys,
    registry,
    send,
    async call(method, path, body) {
      const res = await send(method, path, body);
      if (res.status !== 200) throw new Error(`setup ${method} ${path}: ${res.status} ${res.text}`);
      return JSON.parse(res.text) as Json;
    },
  };
}

/** Where the mock receives a keyward path: after the provider key's base URL (or origin, for Gemini). */
function upstreamPath(registry: Registry, path: string): string {
  const bare = path.split("?", 1)[0] as string;
  if (registry === "gemini") return bare;
  if (registry === "azure") return `/openai${bare}`;
  return `/v1${bare}`;
}

// ---------- the table ----------

async function uploadFile(
  v: Via,
  purpose = "user_data",
  bytes: Uint8Array<ArrayBuffer> = new TextEncoder().encode("hello\n"),
  name = "a.txt",
): Promise<string> {
  const fields: Record<string, string | { bytes: Uint8Array<ArrayBuffer>; name: string; type: string }> = { file: { bytes, name, type: "text/plain" } };
  if (v.registry !== "anthropic") fields.purpose = purpose;
  return (await v.call("POST", "/files", { form: form(fields) })).id as string;
}

// Capped: a key with limits uploads only batch lines keyward can bound as they are.
const batchLines = new TextEncoder().encode(
  `${JSON.stringify({ custom_id: "a", method: "POST", url: "/v1/chat/completions", body: { model: "gpt-4o-mini", messages, max_completion_tokens: 20 } })}\n`,
);

async function createBatch(v: Via): Promise<string> {
  const file = await uploadFile(v, "batch", batchLines, "batch.jsonl");
  return (await v.call("POST", "/batches", { json: { input_file_id: file, endpoint: "/v1/chat/completions", completion_window: "24h" } })).id as string;
}

async function createUpload(v: Via, bytes = 4): Promise<string> {
  return (await v.call("POST", "/uploads", { json: { filename: "u.txt", mime_type: "text/plain", purpose: "user_data", bytes } })).id as string;
}

/** Google's resumable upload: the start names a session URL (keyward's), where the file's one chunk goes. */
const UPLOAD_START = {
  "x-goog-upload-protocol": "resumable",
  "x-goog-upload-command": "start",
  "x-goog-upload-header-content-length": "6",
  "x-goog-upload-header-content-type": "text/plain",
};

async function uploadGeminiFile(v: Via): Promise<string> {
  const start = await v.send("POST", "/upload/v1beta/files", { json: { file: { displayName: "a.txt" } } }, UPLOAD_START);
  const session = start.headers.get("x-goog-upload-url") ?? "";
  expect(session.startsWith(`${h.baseUrl}/upload/v1beta/files?upload_id=`)).toBe(true);
  const chunk = await fetch(session, {
    method: "POST",
    headers: { "x-goog-api-key": v.keys.proxyKey, "x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "0" },
    body: "hello\n",
  });
  const answer = (await chunk.json()) as { file: { name: string } };
  return answer.file.name.slice("files/".length);
}

async function createCache(v: Via): Promise<string> {
  const cache = await v.call("POST", "/v1beta/cachedContents", { json: { model: "models/gemini-2.5-flash", contents, ttl: "60s" } });
  return (cache.name as string).slice("cachedContents/".length);
}

const MESSAGE_BATCH = { requests: [{ custom_id: "a", params: { model: "claude-haiku-4-5", max_tokens: 20, messages } }] };

async function createMessageBatch(v: Via, ended: boolean): Promise<string> {
  const batch = (await v.call("POST", "/messages/batches", { json: MESSAGE_BATCH })).id as string;
  if (ended) h.mock.endMessageBatch(batch);
  return batch;
}

const OPENAI_ROWS: Record<string, Row> = {
  "chat.completions": {
    method: "POST",
    path: "/chat/completions",
    body: json({ model: "gpt-4o-mini", messages }),
    model: "gpt-4o-mini",
    open: OK,
    limited: OK,
  },
  responses: { method: "POST", path: "/responses", body: json({ model: "gpt-4o-mini", input: "hi" }), model: "gpt-4o-mini", open: OK, limited: OK },
  completions: {
    method: "POST",
    path: "/completions",
    body: json({ model: "gpt-3.5-turbo-instruct", prompt: "hi" }),
    model: "gpt-3.5-turbo-instruct",
    open: OK,
    limited: OK,
  },
  embeddings: {
    method: "POST",
    path: "/embeddings",
    body: json({ model: "text-embedding-3-small", input: "hi" }),
    model: "text-embedding-3-small",
    open: OK,
    limited: OK,
  },
  moderations: { method: "POST", path: "/moderations", body: json({ model: "omni-moderation-latest", input: "hi" }), open: OK, limited: OK },
  "models.list": { method: "GET", path: "/models", open: OK, limited: OK },
  "models.retrieve": { method: "GET", path: "/models/gpt-4o-mini", open: OK, limited: OK },
  "responses.retrieve": {
    method: "GET",
    path: "/responses/{id}",
    setup: async (v) => ({ id: (await v.call("POST", "/responses", { json: { model: "gpt-4o-mini", input: "hi" } })).id as string }),
    open: OK,
    limited: OK,
  },
  "responses.input_items": {
    method: "GET",
    path: "/responses/{id}/input_items",
    setup: async (v) => ({ id: (await v.call("POST", "/responses", { json: { model: "gpt-4o-mini", input: "hi" } })).id as string }),
    open: OK,
    limited: OK,
  },
  "responses.cancel": {
    method: "POST",
    path: "/responses/{id}/cancel",
    // Only a background response can be cancelled (a budgeted key reserves its unbounded_reservation_usd for it).
    setup: async (v) => ({ id: (await v.call("POST", "/responses", { json: { model: "gpt-4o-mini", input: "hi", background: true } })).id as string }),
    open: OK,
    limited: OK,
  },
  "responses.delete": {
    method: "DELETE",
    path: "/responses/{id}",
    setup: async (v) => ({ id: (await v.call("POST", "/responses", { json: { model: "gpt-4o-mini", input: "hi" } })).id as string }),
    open: OK,
    limited: OK,
  },
  "images.generations": {
    method: "POST",
    path: "/images/generations",
    body: json({ model: "dall-e-2", prompt: "a cat" }),
    model: "dall-e-2",
    open: OK,
    limited: OK,
  },
  "images.edits": {
    method: "POST",
    path: "/images/edits",
    body: () => ({ form: form({ model: "gpt-image-1", prompt: "a hat", image: { bytes: PNG, name: "cat.png", type: "image/png" } }) }),
    model: "gpt-image-1",
    open: OK,
    limited: OK,
  },
  "audio.speech": { method: "POST", path: "/audio/speech", body: json({ model: "tts-1", input: "hi", voice: "alloy" }), model: "tts-1", open: OK, limited: OK },
  "audio.transcriptions": {
    method: "POST",
    path: "/audio/transcriptions",
    body: () => ({ form: form({ model: "whisper-1", file: { bytes: WAV, name: "a.wav", type: "audio/wav" } }) }),
    model: "whisper-1",
    open: OK,
    limited: OK,
  },
  "audio.translations": {
    method: "POST",
    path: "/audio/translations",
    body: () => ({ form: form({ model: "whisper-1", file: { bytes: WAV, name: "a.wav", type: "audio/wav" } }) }),
    model: "whisper-1",
    open: OK,
    limited: OK,
  },
  "files.create": {
    method: "POST",
    path: "/files",
    body: () => ({ form: form({ purpose: "user_data", file: { bytes: new TextEncoder().encode("hi"), name: "a.txt", type: "text/plain" } }) }),
    open: OK,
    limited: OK,
  },
  "files.list": { method: "GET", path: "/files", open: OK, limited: OK },
  "files.retrieve": { method: "GET", path: "/files/{id}", setup: async (v) => ({ id: await uploadFile(v) }), open: OK, limited: OK },
  "files.delete": { method: "DELETE", path: "/files/{id}", setup: async (v) => ({ id: await uploadFile(v) }), open: OK, limited: OK },
  "files.content": { method: "GET", path: "/files/{id}/content", setup: async (v) => ({ id: await uploadFile(v) }), open: OK, limited: OK },
  "uploads.create": {
    method: "POST",
    path: "/uploads",
    body: json({ filename: "u.txt", mime_type: "text/plain", purpose: "user_data", bytes: 4 }),
    open: OK,
    limited: OK,
  },
  "uploads.parts": {
    method: "POST",
    path: "/uploads/{id}/parts",
    setup: async (v) => ({ id: await createUpload(v) }),
    body: () => ({ form: form({ data: { bytes: new TextEncoder().encode("abcd"), name: "part", type: "application/octet-stream" } }) }),
    open: OK,
    limited: OK,
  },
  "uploads.complete": {
    method: "POST",
    path: "/uploads/{id}/complete",
    setup: async (v) => {
      const upload = await createUpload(v);
      const part = await v.call("POST", `/uploads/${upload}/parts`, {
        form: form({ data: { bytes: new TextEncoder().encode("abcd"), name: "part", type: "application/octet-stream" } }),
      });
      return { id: upload, part: part.id as string };
    },
    body: (ids) => ({ json: { part_ids: [ids.part] } }),
    open: OK,
    limited: OK,
  },
  "uploads.cancel": { method: "POST", path: "/uploads/{id}/cancel", setup: async (v) => ({ id: await createUpload(v) }), open: OK, limited: OK },
  "batches.create": {
    method: "POST",
    path: "/batches",
    setup: async (v) => ({ file: await uploadFile(v, "batch", batchLines, "batch.jsonl") }),
    body: (ids) => ({ json: { input_file_id: ids.file, endpoint: "/v1/chat/completions", completion_window: "24h" } }),
    // The model is the input file's, which keyward checked when the same key uploaded it.
    model: null,
    allowListedSetupOnOpenKey: true,
    open: OK,
    limited: OK,
  },
  "batches.list": { method: "GET", path: "/batches", open: OK, limited: OK },
  "batches.retrieve": {
    method: "GET",
    path: "/batches/{id}",
    setup: async (v) => ({ id: await createBatch(v) }),
    setupOnOpenKey: true,
    open: OK,
    limited: HIDDEN,
  },
  "batches.cancel": {
    method: "POST",
    path: "/batches/{id}/cancel",
    setup: async (v) => ({ id: await createBatch(v) }),
    setupOnOpenKey: true,
    open: OK,
    limited: HIDDEN,
  },
  "vector_stores.create": { method: "POST", path: "/vector_stores", body: json({ name: "docs" }), model: null, open: OK, limited: OK },
  "vector_stores.list": { method: "GET", path: "/vector_stores", open: OK, limited: OK },
  "vector_stores.retrieve": {
    method: "GET",
    path: "/vector_stores/{id}",
    setup: async (v) => ({ id: (await v.call("POST", "/vector_stores", { json: { name: "docs" } })).id as string }),
    open: OK,
    limited: OK,
  },
  "vector_stores.update": {
    method: "POST",
    path: "/vector_stores/{id}",
    setup: async (v) => ({ id: (await v.call("POST", "/vector_stores", { json: { name: "docs" } })).id as string }),
    body: json({ name: "renamed" }),
    open: OK,
    limited: OK,
  },
  "vector_stores.delete": {
    method: "DELETE",
    path: "/vector_stores/{id}",
    setup: async (v) => ({ id: (await v.call("POST", "/vector_stores", { json: { name: "docs" } })).id as string }),
    open: OK,
    limited: OK,
  },
  "realtime.client_secrets": {
    method: "POST",
    path: "/realtime/client_secrets",
    body: json({ session: { type: "realtime", model: "gpt-realtime" } }),
    open: OK,
    limited: REALTIME_REFUSED,
  },
  // The mock has no route for the older sessions endpoint: forwarded, its 404 comes back.
  "realtime.sessions": {
    method: "POST",
    path: "/realtime/sessions",
    body: json({ model: "gpt-realtime" }),
    open: { forwarded: 404 },
    limited: REALTIME_REFUSED,
  },
};

const AZURE_VERSION = "api-version=2024-10-21";

const AZURE_ROWS: Record<string, Row> = {
  "deployments.chat.completions": {
    method: "POST",
    path: "/deployments/chat-mini/chat/completions?api-version=2024-10-21",
    body: json({ messages }),
    model: "gpt-4o-mini",
    open: OK,
    limited: OK,
  },
  "deployments.completions": {
    method: "POST",
    path: "/deployments/instruct/completions?api-version=2024-10-21",
    body: json({ prompt: "hi" }),
    model: "gpt-3.5-turbo-instruct",
    open: OK,
    limited: OK,
  },
  "deployments.embeddings": {
    method: "POST",
    path: "/deployments/emb/embeddings?api-version=2024-10-21",
    body: json({ input: "hi" }),
    model: "text-embedding-3-small",
    open: OK,
    limited: OK,
  },
  // The body's model is what the SDK sends; the deployment's is what runs, is allowed and is priced.
  "deployments.images.generations": {
    method: "POST",
    path: `/deployments/img/images/generations?${AZURE_VERSION}`,
    body: json({ model: "dall-e-3", prompt: "a cat" }),
    model: "dall-e-2",
    open: OK,
    limited: OK,
  },
  "deployments.images.edits": {
    method: "POST",
    path: `/deployments/img-edit/images/edits?${AZURE_VERSION}`,
    body: () => ({ form: form({ model: "gpt-image-1", prompt: "a hat", image: { bytes: PNG, name: "cat.png", type: "image/png" } }) }),
    model: "gpt-image-1",
    open: OK,
    limited: OK,
  },
  "deployments.audio.speech": {
    method: "POST",
    path: `/deployments/tts/audio/speech?${AZURE_VERSION}`,
    body: json({ model: "tts-1", input: "hi", voice: "alloy" }),
    model: "tts-1",
    open: OK,
    limited: OK,
  },
  "deployments.audio.transcriptions": {
    method: "POST",
    path: `/deployments/whisper/audio/transcriptions?${AZURE_VERSION}`,
    body: () => ({ form: form({ model: "whisper-1", file: { bytes: WAV, name: "a.wav", type: "audio/wav" } }) }),
    model: "whisper-1",
    open: OK,
    limited: OK,
  },
  "deployments.audio.translations": {
    method: "POST",
    path: `/deployments/whisper/audio/translations?${AZURE_VERSION}`,
    body: () => ({ form: form({ model: "whisper-1", file: { bytes: WAV, name: "a.wav", type: "audio/wav" } }) }),
    model: "whisper-1",
    open: OK,
    limited: OK,
  },
  "deployments.batches.create": {
    method: "POST",
    path: `/deployments/chat-mini/batches?${AZURE_VERSION}`,
    setup: async (v) => ({ file: await uploadFile(v, "batch", batchLines, "batch.jsonl") }),
    body: (ids) => ({ json: { input_file_id: ids.file, endpoint: "/v1/chat/completions", completion_window: "24h" } }),
    model: null,
    allowListedSetupOnOpenKey: true,
    open: OK,
    limited: OK,
  },
};

const ANTHROPIC_ROWS: Record<string, Row> = {
  messages: {
    method: "POST",
    path: "/messages",
    body: json({ model: "claude-haiku-4-5", max_tokens: 20, messages }),
    model: "claude-haiku-4-5",
    open: OK,
    limited: OK,
  },
  "messages.count_tokens": { method: "POST", path: "/messages/count_tokens", body: json({ model: "claude-haiku-4-5", messages }), open: OK, limited: OK },
  "messages.batches.create": {
    method: "POST",
    path: "/messages/batches",
    body: json(MESSAGE_BATCH),
    model: "claude-haiku-4-5",
    open: OK,
    limited: OK,
    // Each of a batch's requests is checked: a refused one names itself (requests[0].params.model) in a 400.
    allowListed: refused(400, "invalid_request"),
  },
  "messages.batches.list": { method: "GET", path: "/messages/batches", open: OK, limited: OK },
  "messages.batches.retrieve": {
    method: "GET",
    path: "/messages/batches/{id}",
    setup: async (v) => ({ id: await createMessageBatch(v, false) }),
    setupOnOpenKey: true,
    open: OK,
    limited: HIDDEN,
  },
  "messages.batches.results": {
    method: "GET",
    path: "/messages/batches/{id}/results",
    setup: async (v) => ({ id: await createMessageBatch(v, true) }),
    setupOnOpenKey: true,
    open: OK,
    limited: HIDDEN,
  },
  "messages.batches.cancel": {
    method: "POST",
    path: "/messages/batches/{id}/cancel",
    setup: async (v) => ({ id: await createMessageBatch(v, false) }),
    setupOnOpenKey: true,
    open: OK,
    limited: HIDDEN,
  },
  "messages.batches.delete": {
    method: "DELETE",
    path: "/messages/batches/{id}",
    setup: async (v) => ({ id: await createMessageBatch(v, true) }),
    setupOnOpenKey: true,
    open: OK,
    limited: HIDDEN,
  },
  "files.create": {
    method: "POST",
    path: "/files",
    body: () => ({ form: form({ file: { bytes: new TextEncoder().encode("hi"), name: "a.txt", type: "text/plain" } }) }),
    open: OK,
    limited: OK,
  },
  "files.list": { method: "GET", path: "/files", open: OK, limited: OK },
  "files.retrieve": { method: "GET", path: "/files/{id}", setup: async (v) => ({ id: await uploadFile(v) }), open: OK, limited: OK },
  "files.delete": { method: "DELETE", path: "/files/{id}", setup: async (v) => ({ id: await uploadFile(v) }), open: OK, limited: OK },
  "files.content": { method: "GET", path: "/files/{id}/content", setup: async (v) => ({ id: await uploadFile(v) }), open: OK, limited: OK },
  "models.list": { method: "GET", path: "/models", open: OK, limited: OK },
  "models.retrieve": { method: "GET", path: "/models/claude-sonnet-4-6", open: OK, limited: OK },
};

const contents = [{ role: "user", parts: [{ text: "hi" }] }];

const GEMINI_ROWS: Record<string, Row> = {
  "gemini.generateContent": {
    method: "POST",
    path: "/v1beta/models/gemini-2.5-flash:generateContent",
    body: json({ contents }),
    model: "gemini-2.5-flash",
    open: OK,
    limited: OK,
  },
  "gemini.streamGenerateContent": {
    method: "POST",
    path: "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
    body: json({ contents }),
    model: "gemini-2.5-flash",
    open: OK,
    limited: OK,
  },
  "gemini.embedContent": {
    method: "POST",
    path: "/v1beta/models/text-embedding-004:embedContent",
    body: json({ content: { parts: [{ text: "hi" }] } }),
    model: "text-embedding-004",
    open: OK,
    limited: OK,
  },
  "gemini.batchEmbedContents": {
    method: "POST",
    path: "/v1/models/text-embedding-004:batchEmbedContents",
    body: json({ requests: [{ model: "models/text-embedding-004", content: { parts: [{ text: "hi" }] } }] }),
    model: "text-embedding-004",
    open: OK,
    limited: OK,
  },
  "gemini.countTokens": { method: "POST", path: "/v1beta/models/gemini-2.5-flash:countTokens", body: json({ contents }), open: OK, limited: OK },
  "gemini.models.list": { method: "GET", path: "/v1beta/models", open: OK, limited: OK },
  "gemini.models.get": { method: "GET", path: "/v1/models/gemini-2.5-flash", open: OK, limited: OK },
  "gemini.files.upload": {
    method: "POST",
    path: "/upload/v1beta/files",
    headers: UPLOAD_START,
    body: json({ file: { displayName: "a.txt" } }),
    open: OK,
    limited: OK,
  },
  "gemini.files.list": { method: "GET", path: "/v1beta/files", open: OK, limited: OK },
  "gemini.files.get": { method: "GET", path: "/v1beta/files/{id}", setup: async (v) => ({ id: await uploadGeminiFile(v) }), open: OK, limited: OK },
  "gemini.files.delete": { method: "DELETE", path: "/v1/files/{id}", setup: async (v) => ({ id: await uploadGeminiFile(v) }), open: OK, limited: OK },
  // Storage billed by the hour: refused to a key with limits, which therefore owns no cache to read.
  "gemini.cachedContents.create": {
    method: "POST",
    path: "/v1beta/cachedContents",
    body: json({ model: "models/gemini-2.5-flash", contents, ttl: "60s" }),
    model: "gemini-2.5-flash",
    open: OK,
    limited: refused(403, "endpoint_not_allowed"),
  },
  "gemini.cachedContents.list": { method: "GET", path: "/v1beta/cachedContents", open: OK, limited: OK },
  "gemini.cachedContents.get": {
    method: "GET",
    path: "/v1beta/cachedContents/{id}",
    setup: async (v) => ({ id: await createCache(v) }),
    setupOnOpenKey: true,
    open: OK,
    limited: HIDDEN,
  },
  "gemini.cachedContents.update": {
    method: "PATCH",
    path: "/v1beta/cachedContents/{id}",
    setup: async (v) => ({ id: await createCache(v) }),
    setupOnOpenKey: true,
    body: json({ ttl: "120s" }),
    model: null,
    open: OK,
    limited: refused(403, "endpoint_not_allowed"),
  },
  "gemini.cachedContents.delete": {
    method: "DELETE",
    path: "/v1beta/cachedContents/{id}",
    setup: async (v) => ({ id: await createCache(v) }),
    setupOnOpenKey: true,
    open: OK,
    limited: HIDDEN,
  },
};

const TABLE: Record<Registry, Record<string, Row>> = { openai: OPENAI_ROWS, azure: AZURE_ROWS, anthropic: ANTHROPIC_ROWS, gemini: GEMINI_ROWS };

// ---------- keys ----------

type KeyKind = "open" | "limited" | "unreserved" | "allowListed";

const LIMITS: Record<KeyKind, Record<string, unknown>> = {
  open: {},
  limited: { budget_usd: 5, unbounded_reservation_usd: 0.25 },
  unreserved: { budget_usd: 5 },
  // None of the models the rows name.
  allowListed: { allowed_models: ["gpt-4.1", "claude-opus-4-5", "gemini-2.0-flash"], budget_usd: 5, unbounded_reservation_usd: 0.25 },
};

const PROVIDER: Record<Registry, { provider: string; base: (mockUrl: string) => string }> = {
  openai: { provider: "openai", base: (u) => `${u}/v1` },
  azure: { provider: "azure-openai", base: (u) => `${u}/openai/v1` },
  anthropic: { provider: "anthropic", base: (u) => `${u}/v1` },
  gemini: { provider: "gemini", base: (u) => `${u}/v1beta/openai` },
};

const vias = {} as Record<Registry, Record<KeyKind, Via>>;

beforeAll(async () => {
  // Legacy completions' model is not in the built-in table: an admin prices it, as for any model keyward does not know.
  const priced = await h.t.call("PUT", "/api/prices/gpt-3.5-turbo-instruct", { input_per_million_usd: 1.5, output_per_million_usd: 2 });
  expect(priced.status).toBe(200);
  for (const registry of Object.keys(TABLE) as Registry[]) {
    vias[registry] = {} as Record<KeyKind, Via>;
    for (const kind of Object.keys(LIMITS) as KeyKind[]) {
      const { provider, base } = PROVIDER[registry];
      const keys = await createKeyPair(h.t, { provider, base_url: base(h.mock.url), proxy: LIMITS[kind] });
      if (registry === "azure") {
        const deployments = {
          "chat-mini": "gpt-4o-mini",
          instruct: "gpt-3.5-turbo-instruct",
          emb: "text-embedding-3-small",
          img: "dall-e-2",
          "img-edit": "gpt-image-1",
          tts: "tts-1",
          whisper: "whisper-1",
        };
        expect((await h.t.call("PATCH", `/api/provider-keys/${keys.providerKeyId}`, { deployments })).status).toBe(200);
      }
      vias[registry][kind] = via(registry, keys);
    }
  }
});

// ---------- the tests ----------

describe("the table covers every registry entry", () => {
  for (const registry of Object.keys(TABLE) as Registry[]) {
    test(`${registry}: one row per entry, and each row's request is the entry it names`, () => {
      const names = REGISTRIES[registry].map((e) => e.name);
      expect(new Set(names).size).toBe(names.length);
      expect(Object.keys(TABLE[registry]).sort()).toEqual([...names].sort());
      for (const [name, row] of Object.entries(TABLE[registry])) {
        const path = row.path.replace("{id}", "x_1").split("?", 1)[0] as string;
        expect(findEndpoint(REGISTRIES[registry], row.method, path)?.endpoint.name).toBe(name);
        const endpoint = REGISTRIES[registry].find((e) => e.name === name) as Endpoint;
        // A billed endpoint's row says which model its request names (null: none), for the allow-list pass below.
        if (endpoint.billing !== "free") expect(row.model).not.toBeUndefined();
      }
    });
  }
});

/** Runs a row's setup and request with one key; checks the outcome and what reached the mock. Returns what the request added to the key's spend, in µ$. */
async function runRow(v: Via, row: Row, outcome: Outcome, setupVia: Via = v): Promise<number> {
  const ids = row.setup ? await row.setup(setupVia) : {};
  await waitSettled(h.t);
  const spentBefore = micros((await getKey(h.t, v.keys.proxyKeyId)).spend_usd);
  const before = h.mock.requests.length;
  const path = row.path.replace("{id}", ids.id ?? "");
  const res = await v.send(row.method, path, row.body?.(ids), row.headers);
  const arrived: RecordedRequest[] = h.mock.requests.slice(before);
  if ("refused" in outcome) {
    expectProxyError(res, outcome.refused, outcome.code);
    expect(arrived).toHaveLength(0);
  } else {
    const status = "status" in outcome ? outcome.status : outcome.forwarded;
    if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${res.text.slice(0, 300)}`);
    expect(arrived).toHaveLength(1);
    const rec = arrived[0] as RecordedRequest;
    expect(rec.method).toBe(row.method);
    expect(rec.path).toBe(upstreamPath(v.registry, path));
    expect(rec.status).toBe(status);
    // The mock answered it as the route it is (a 200 from a real route, not its catch-all 404).
    if ("status" in outcome) expect(rec.route).toBeDefined();
    const secret = v.keys.providerSecret;
    expect(Object.values(rec.headers)).toContain(v.registry === "openai" ? `Bearer ${secret}` : secret);
    expect(JSON.stringify(rec.headers)).not.toContain(v.keys.proxyKey);
  }
  await waitSettled(h.t);
  const money = await getKey(h.t, v.keys.proxyKeyId);
  expect(money.reserved_usd).toBe(0);
  return micros(money.spend_usd) - spentBefore;
}

for (const registry of Object.keys(TABLE) as Registry[]) {
  describe(`${registry} registry`, () => {
    for (const [name, row] of Object.entries(TABLE[registry])) {
      const endpoint = REGISTRIES[registry].find((e) => e.name === name);
      const label = `${row.method} /v1${row.path.split("?", 1)[0]}`;

      test(`${name} (${label}), key without limits`, async () => {
        h.mock.set({ models: ["gpt-4o-mini", "claude-sonnet-4-6", "gemini-2.5-flash"] });
        await runRow(vias[registry].open, row, row.open);
      });

      test(`${name} (${label}), limited key (budget, unbounded_reservation_usd)`, async () => {
        h.mock.set({ models: ["gpt-4o-mini", "claude-sonnet-4-6", "gemini-2.5-flash"] });
        const spent = await runRow(vias[registry].limited, row, row.limited, row.setupOnOpenKey ? vias[registry].open : undefined);
        // Free endpoints cost nothing; a unit-priced one, whose answer reports no tokens keyward has a price for, costs the reservation.
        if (endpoint?.billing === "free" || "refused" in row.limited) expect(spent).toBe(0);
        else if (endpoint?.billing === "units") expect(spent).toBe(micros(LIMITS.limited.unbounded_reservation_usd as number));
      });

      if (endpoint?.billing === "units" && endpoint.refuseLimited === undefined) {
        test(`${name}: a budget without unbounded_reservation_usd → 403 cost_not_bounded, nothing forwarded`, async () => {
          await runRow(vias[registry].unreserved, row, refused(403, "cost_not_bounded"));
        });
      }

      if (endpoint?.billing !== "free" && row.model !== undefined && endpoint?.refuseLimited === undefined) {
        const expected = row.allowListed ?? (row.model === null ? refused(403, "endpoint_not_allowed") : refused(403, "model_not_allowed"));
        test(`${name}: a key allowed other models → 403 ${"code" in expected ? expected.code : ""}, nothing forwarded`, async () => {
          await runRow(vias[registry].allowListed, row, expected, row.allowListedSetupOnOpenKey ? vias[registry].open : undefined);
        });
      }
    }
  });
}
