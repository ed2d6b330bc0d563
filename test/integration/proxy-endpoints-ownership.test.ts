/**
 * Issue 18, "Every endpoint known": objects a provider stores (files,
 * uploads, batches, stored responses, vector stores, Anthropic files and
 * message batches) belong to the proxy key that created them through
 * keyward. Two proxy keys share one provider key here: the owner sees and
 * uses everything it made; the other key gets keyward's 404 in the OpenAI
 * error shape for every read, update and delete (the same answer as for an
 * id that never existed, and the provider never sees the request), and its
 * lists leave the owner's objects out while keeping the provider's
 * pagination fields. `GET /api/stored-objects` shows who owns what.
 */
import Anthropic, { toFile as anthropicFile } from "@anthropic-ai/sdk";
import OpenAI, { toFile } from "openai";
import { beforeEach, describe, expect, test } from "bun:test";
import { waitSettled } from "../helpers/limits.ts";
import { MOCK_TEXT } from "../helpers/mock-provider.ts";
import { createKeyPair, expectProxyError, expectProxyKeyNeverUpstream, fetchText, useProxyHarness, type KeyPair } from "../helpers/proxy.ts";

const h = useProxyHarness();

interface Pair {
  /** The creator. */
  a: KeyPair;
  /** Another proxy key on the same provider key. */
  b: KeyPair;
}

/** Two proxy keys on one provider key. */
async function twoKeys(provider = "openai", proxy: Record<string, unknown> = {}): Promise<Pair> {
  const a = await createKeyPair(h.t, { provider, base_url: h.mock.baseUrl, proxy });
  const minted = await h.t.call("POST", "/api/proxy-keys", { name: "second", provider_key_id: a.providerKeyId, ...proxy });
  expect(minted.status).toBe(201);
  return { a, b: { ...a, proxyKey: minted.json.key, proxyKeyId: minted.json.id } };
}

const openai = (keys: KeyPair): OpenAI => new OpenAI({ apiKey: keys.proxyKey, baseURL: h.baseUrl, maxRetries: 0 });

type Answer = { status: number; headers: Headers; text: string };

async function send(keys: KeyPair, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  return fetchText(`${h.baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${keys.proxyKey}`, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/**
 * The other key is told the object does not exist: keyward's own 404 (OpenAI's
 * shape), nothing forwarded, and the same answer as for a made-up id of the
 * same length.
 */
async function expectHidden(
  keys: KeyPair,
  method: string,
  path: string,
  objectId: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<void> {
  const before = h.mock.requests.length;
  const res = await send(keys, method, path, body, headers);
  const error = expectProxyError(res, 404, "not_found").error;
  expect(error.type).toBe("not_found_error");
  expect(error.message).toContain(objectId);
  const madeUp = `${objectId.slice(0, -4)}zzzz`;
  const other = await send(keys, method, path.replace(objectId, madeUp), body, headers);
  const otherError = expectProxyError(other, 404, "not_found").error;
  expect(otherError.message.replace(madeUp, objectId)).toBe(error.message);
  expect(h.mock.requests.length).toBe(before);
}

async function listIds(keys: KeyPair, path: string, headers: Record<string, string> = {}): Promise<{ ids: string[]; body: Record<string, unknown> }> {
  const res = await send(keys, "GET", path, undefined, headers);
  expect(res.status).toBe(200);
  const body = JSON.parse(res.text) as { data: { id: string }[] };
  return { ids: body.data.map((item) => item.id), body };
}

interface StoredObjectView {
  object_id: string;
  kind: string;
  provider_key_id: string;
  proxy_key_id: string;
  created_at: string;
}

async function storedObjects(query: string): Promise<StoredObjectView[]> {
  await waitSettled(h.t);
  const res = await h.t.call("GET", `/api/stored-objects?${query}`);
  expect(res.status).toBe(200);
  return res.json.data as StoredObjectView[];
}

const fileOf = (text: string, name = "notes.txt") => toFile(new TextEncoder().encode(text), name, { type: "text/plain" });

describe("OpenAI files", () => {
  test("create (multipart), list, retrieve, content, delete: all the owner's; the other key is told none exists", async () => {
    const { a, b } = await twoKeys();
    const client = openai(a);
    const created = await client.files.create({ file: await fileOf("alpha\n"), purpose: "user_data" });
    expect(created.filename).toBe("notes.txt");
    expect(new TextDecoder().decode(h.mock.store.files.get(created.id)?.bytes)).toBe("alpha\n");

    // The owner: list, retrieve, content.
    const owned: string[] = [];
    for await (const file of client.files.list()) owned.push(file.id);
    expect(owned).toEqual([created.id]);
    expect((await client.files.retrieve(created.id)).id).toBe(created.id);
    expect(await (await client.files.content(created.id)).text()).toBe("alpha\n");

    // The other key: every read and the delete are 404, and its list (forwarded) leaves the file out.
    await expectHidden(b, "GET", `/files/${created.id}`, created.id);
    await expectHidden(b, "GET", `/files/${created.id}/content`, created.id);
    await expectHidden(b, "DELETE", `/files/${created.id}`, created.id);
    const before = h.mock.requests.length;
    expect((await listIds(b, "/files")).ids).toEqual([]);
    expect(h.mock.requests.length).toBe(before + 1);
    expect(h.mock.store.files.has(created.id)).toBe(true);

    // The other key's own file is its own, and not in the owner's list.
    const theirs = await openai(b).files.create({ file: await fileOf("beta\n", "b.txt"), purpose: "user_data" });
    expect((await listIds(b, "/files")).ids).toEqual([theirs.id]);
    expect((await listIds(a, "/files")).ids).toEqual([created.id]);
    await expectHidden(a, "GET", `/files/${theirs.id}`, theirs.id);

    // The owner deletes; then the id belongs to no one.
    expect(await client.files.delete(created.id)).toMatchObject({ id: created.id, deleted: true });
    expect(h.mock.store.files.has(created.id)).toBe(false);
    await expectHidden(a, "GET", `/files/${created.id}`, created.id);
    expect((await storedObjects(`proxy_key_id=${a.proxyKeyId}`)).map((o) => o.object_id)).toEqual([]);
  });

  test("lists keep the provider's has_more, first_id and last_id while leaving other keys' items out", async () => {
    const { a, b } = await twoKeys();
    const make = async (keys: KeyPair, name: string) => (await openai(keys).files.create({ file: await fileOf(name, `${name}.txt`), purpose: "user_data" })).id;
    const a1 = await make(a, "a1");
    const a2 = await make(a, "a2");
    const b1 = await make(b, "b1");
    const a3 = await make(a, "a3");
    // The provider's page, newest first, is [a3, b1]; more follow.
    const bPage = await listIds(b, "/files?limit=2");
    expect(bPage.body).toMatchObject({ object: "list", first_id: a3, last_id: b1, has_more: true });
    expect(bPage.ids).toEqual([b1]);
    const aPage = await listIds(a, "/files?limit=2");
    expect(aPage.body).toMatchObject({ first_id: a3, last_id: b1, has_more: true });
    expect(aPage.ids).toEqual([a3]);
    // Following the provider's cursor reaches the rest.
    const next = await listIds(a, `/files?limit=2&after=${b1}`);
    expect(next.body).toMatchObject({ first_id: a2, last_id: a1, has_more: false });
    expect(next.ids).toEqual([a2, a1]);
    // The SDK's auto-pagination (cursor = last item it got) finds all of the owner's files.
    const all: string[] = [];
    for await (const file of openai(a).files.list({ limit: 2 })) all.push(file.id);
    expect(all).toEqual([a3, a2, a1]);
  });

  test("a page holding only other keys' items is not answered: keyward reads on to the caller's, keeping the first page's first_id", async () => {
    const { a, b } = await twoKeys();
    const make = async (keys: KeyPair, name: string) => (await openai(keys).files.create({ file: await fileOf(name, `${name}.txt`), purpose: "user_data" })).id;
    const a1 = await make(a, "a1");
    const b1 = await make(b, "b1");
    const b2 = await make(b, "b2");
    const before = h.mock.requests.length;
    const page = await listIds(a, "/files?limit=2");
    expect(page.ids).toEqual([a1]);
    expect(page.body).toMatchObject({ first_id: b2, last_id: a1, has_more: false });
    // The provider's first page ([b2, b1]), then the one after its cursor.
    expect(h.mock.requests.slice(before).map((r) => r.query)).toEqual([{ limit: "2" }, { limit: "2", after: b1 }]);
  });
});

describe("OpenAI uploads", () => {
  test("create → parts → complete: the upload and the file it makes are the creator's; the other key cannot add, complete, cancel or read", async () => {
    const { a, b } = await twoKeys();
    const client = openai(a);
    const upload = await client.uploads.create({ bytes: 8, filename: "big.txt", mime_type: "text/plain", purpose: "user_data" });
    const part = await client.uploads.parts.create(upload.id, { data: await toFile(new TextEncoder().encode("abcd"), "part") });

    const form = new FormData();
    form.append("data", new File([new TextEncoder().encode("EVIL")], "part"));
    const beforeParts = h.mock.requests.length;
    const injected = await fetchText(`${h.baseUrl}/uploads/${upload.id}/parts`, {
      method: "POST",
      headers: { authorization: `Bearer ${b.proxyKey}` },
      body: form,
    });
    expectProxyError(injected, 404, "not_found");
    expect(h.mock.requests.length).toBe(beforeParts);
    await expectHidden(b, "POST", `/uploads/${upload.id}/complete`, upload.id, { part_ids: [part.id] });
    await expectHidden(b, "POST", `/uploads/${upload.id}/cancel`, upload.id);

    const part2 = await client.uploads.parts.create(upload.id, { data: await toFile(new TextEncoder().encode("efgh"), "part") });
    const completed = await client.uploads.complete(upload.id, { part_ids: [part.id, part2.id] });
    expect(completed.status).toBe("completed");
    const fileId = completed.file?.id as string;
    expect(new TextDecoder().decode(h.mock.store.files.get(fileId)?.bytes)).toBe("abcdefgh");

    // The completed upload's file belongs to the upload's creator.
    expect(await (await client.files.content(fileId)).text()).toBe("abcdefgh");
    await expectHidden(b, "GET", `/files/${fileId}`, fileId);
    await expectHidden(b, "GET", `/files/${fileId}/content`, fileId);
    expect((await listIds(b, "/files")).ids).toEqual([]);
    expect((await listIds(a, "/files")).ids).toEqual([fileId]);

    const owners = await storedObjects(`proxy_key_id=${a.proxyKeyId}`);
    expect(owners.map((o) => `${o.kind} ${o.object_id}`).sort()).toEqual([`file ${fileId}`, `upload ${upload.id}`].sort());
    expect(await storedObjects(`proxy_key_id=${b.proxyKeyId}`)).toEqual([]);
  });
});

describe("OpenAI batches", () => {
  const lines = `${JSON.stringify({ custom_id: "1", method: "POST", url: "/v1/chat/completions", body: { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] } })}\n`;

  test("create, list, retrieve, cancel are the creator's; the other key is told none exists and cannot cancel", async () => {
    const { a, b } = await twoKeys();
    const client = openai(a);
    const input = await client.files.create({ file: await toFile(new TextEncoder().encode(lines), "in.jsonl"), purpose: "batch" });
    const batch = await client.batches.create({ input_file_id: input.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    expect(batch.status).toBe("validating");

    const listed: string[] = [];
    for await (const item of client.batches.list()) listed.push(item.id);
    expect(listed).toEqual([batch.id]);
    expect((await client.batches.retrieve(batch.id)).id).toBe(batch.id);

    await expectHidden(b, "GET", `/batches/${batch.id}`, batch.id);
    await expectHidden(b, "POST", `/batches/${batch.id}/cancel`, batch.id);
    expect((await listIds(b, "/batches")).ids).toEqual([]);
    expect(h.mock.store.batches.get(batch.id)?.status).toBe("validating");

    expect((await client.batches.cancel(batch.id)).status).toBe("cancelling");
    expect((await client.batches.retrieve(batch.id)).status).toBe("cancelled");
  });

  test("a completed batch's output file, which the provider made, can be downloaded by the batch's owner only", async () => {
    const { a, b } = await twoKeys();
    const client = openai(a);
    const input = await client.files.create({ file: await toFile(new TextEncoder().encode(lines), "in.jsonl"), purpose: "batch" });
    const batch = await client.batches.create({ input_file_id: input.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    h.mock.completeBatch(batch.id);
    const done = await client.batches.retrieve(batch.id);
    expect(done.status).toBe("completed");
    const output = done.output_file_id as string;
    const content = await (await client.files.content(output)).text();
    expect(JSON.parse(content.trim()).response.body.choices[0].message.content).toBe(MOCK_TEXT);
    await expectHidden(b, "GET", `/files/${output}/content`, output);
  });
});

describe("stored responses", () => {
  test("create, retrieve, input_items, cancel, delete are the creator's; the other key gets 404 for each", async () => {
    const { a, b } = await twoKeys();
    const client = openai(a);
    const response = await client.responses.create({ model: "gpt-4o-mini", input: "remember this" });
    expect(response.output_text).toBe(MOCK_TEXT);
    const background = await client.responses.create({ model: "gpt-4o-mini", input: "later", background: true });
    expect(background.status).toBe("queued");

    await expectHidden(b, "GET", `/responses/${response.id}`, response.id);
    await expectHidden(b, "GET", `/responses/${response.id}/input_items`, response.id);
    await expectHidden(b, "POST", `/responses/${background.id}/cancel`, background.id);
    await expectHidden(b, "DELETE", `/responses/${response.id}`, response.id);

    expect((await client.responses.retrieve(response.id)).output_text).toBe(MOCK_TEXT);
    const items = [];
    for await (const item of client.responses.inputItems.list(response.id)) items.push(item);
    expect(items).toHaveLength(1);
    expect((await client.responses.cancel(background.id)).status).toBe("cancelled");
    await client.responses.delete(response.id);
    expect(h.mock.store.responses.has(response.id)).toBe(false);
    // Deleted: the id is now no one's, the creator's included, and never reaches the provider.
    await expectHidden(a, "GET", `/responses/${response.id}`, response.id);

    const owners = await storedObjects(`proxy_key_id=${a.proxyKeyId}&kind=response`);
    expect(owners.map((o) => o.object_id)).toEqual([background.id]);
    expect(owners[0]).toMatchObject({ kind: "response", provider_key_id: a.providerKeyId, proxy_key_id: a.proxyKeyId });
  });

  test("a streamed create (stream: true): the id from response.created is the creator's", async () => {
    const { a, b } = await twoKeys();
    const stream = await openai(a).responses.create({ model: "gpt-4o-mini", input: "hi", stream: true });
    let id: string | undefined;
    for await (const event of stream) if (event.type === "response.created") id = event.response.id;
    expect(id).toMatch(/^resp_/);
    await waitSettled(h.t);
    expect((await openai(a).responses.retrieve(id as string)).id).toBe(id as string);
    await expectHidden(b, "GET", `/responses/${id}`, id as string);
    expect((await storedObjects(`proxy_key_id=${a.proxyKeyId}`)).map((o) => [o.kind, o.object_id])).toEqual([["response", id as string]]);
  });

  test("a streamed create's id is the creator's as soon as response.created arrives, while the stream still runs", async () => {
    const { a, b } = await twoKeys();
    h.mock.set({ chunkDelayMs: 100, chunks: 2 });
    const stream = await openai(a).responses.create({ model: "gpt-4o-mini", input: "hi", stream: true });
    let id: string | undefined;
    let readDuring: string | undefined;
    for await (const event of stream) {
      if (event.type === "response.created") {
        id = event.response.id;
        expect(h.mock.requests.find((r) => r.method === "POST" && r.path === "/v1/responses")?.completedAt).toBeUndefined();
        // The stream is still open: the next events are 100 ms apart.
        readDuring = (await send(a, "GET", `/responses/${id}`)).status.toString();
        await expectHidden(b, "GET", `/responses/${id}`, id);
      }
    }
    expect(readDuring).toBe("200");
  });
});

describe("vector stores", () => {
  test("create, list, retrieve, update, delete are the creator's; the other key gets 404 and an empty list", async () => {
    const { a, b } = await twoKeys();
    const client = openai(a);
    const store = await client.vectorStores.create({ name: "docs" });
    const listed: string[] = [];
    for await (const item of client.vectorStores.list()) listed.push(item.id);
    expect(listed).toEqual([store.id]);

    await expectHidden(b, "GET", `/vector_stores/${store.id}`, store.id);
    await expectHidden(b, "POST", `/vector_stores/${store.id}`, store.id, { name: "stolen" });
    await expectHidden(b, "DELETE", `/vector_stores/${store.id}`, store.id);
    expect((await listIds(b, "/vector_stores")).ids).toEqual([]);
    expect(h.mock.store.vectorStores.get(store.id)?.name).toBe("docs");

    expect((await client.vectorStores.update(store.id, { name: "renamed" })).name).toBe("renamed");
    expect((await client.vectorStores.retrieve(store.id)).name).toBe("renamed");
    expect(await client.vectorStores.delete(store.id)).toMatchObject({ id: store.id, deleted: true });
    expect(h.mock.store.vectorStores.size).toBe(0);
  });
});

describe("Anthropic files and message batches", () => {
  const HEADERS = { "anthropic-version": "2023-06-01" };

  test("files: upload, list, metadata, download, delete are the creator's; the other key is told none exists", async () => {
    const { a, b } = await twoKeys("anthropic");
    const client = new Anthropic({ apiKey: a.proxyKey, baseURL: h.url, maxRetries: 0 });
    const file = await client.beta.files.upload({ file: await anthropicFile(new TextEncoder().encode("secret"), "s.txt", { type: "text/plain" }) });
    const listed: string[] = [];
    for await (const item of client.beta.files.list()) listed.push(item.id);
    expect(listed).toEqual([file.id]);

    await expectHidden(b, "GET", `/files/${file.id}`, file.id, undefined, HEADERS);
    await expectHidden(b, "GET", `/files/${file.id}/content`, file.id, undefined, HEADERS);
    await expectHidden(b, "DELETE", `/files/${file.id}`, file.id, undefined, HEADERS);
    const other = await listIds(b, "/files", HEADERS);
    expect(other.ids).toEqual([]);
    // Anthropic's own pagination fields come back as the provider sent them.
    expect(other.body).toMatchObject({ has_more: false, first_id: file.id, last_id: file.id });

    expect((await client.beta.files.retrieveMetadata(file.id)).id).toBe(file.id);
    expect(await (await client.beta.files.download(file.id)).text()).toBe("secret");
    await client.beta.files.delete(file.id);
    expect(h.mock.store.anthropicFiles.size).toBe(0);
  });

  test("message batches: create, list, retrieve, results, cancel, delete are the creator's; the other key gets 404", async () => {
    const { a, b } = await twoKeys("anthropic");
    const client = new Anthropic({ apiKey: a.proxyKey, baseURL: h.url, maxRetries: 0 });
    const params = { model: "claude-haiku-4-5", max_tokens: 20, messages: [{ role: "user" as const, content: "hi" }] };
    const batch = await client.messages.batches.create({ requests: [{ custom_id: "one", params }] });
    const running = await client.messages.batches.create({ requests: [{ custom_id: "two", params }] });
    const listed: string[] = [];
    for await (const item of client.messages.batches.list()) listed.push(item.id);
    expect(listed.sort()).toEqual([batch.id, running.id].sort());
    h.mock.endMessageBatch(batch.id);

    await expectHidden(b, "GET", `/messages/batches/${batch.id}`, batch.id, undefined, HEADERS);
    await expectHidden(b, "GET", `/messages/batches/${batch.id}/results`, batch.id, undefined, HEADERS);
    await expectHidden(b, "POST", `/messages/batches/${running.id}/cancel`, running.id, undefined, HEADERS);
    await expectHidden(b, "DELETE", `/messages/batches/${batch.id}`, batch.id, undefined, HEADERS);
    expect((await listIds(b, "/messages/batches", HEADERS)).ids).toEqual([]);

    const ended = await client.messages.batches.retrieve(batch.id);
    expect(ended.processing_status).toBe("ended");
    // The provider's absolute results_url (at the provider, where the SDK would send the proxy key) becomes keyward's path.
    expect(ended.results_url).toBe(`/v1/messages/batches/${batch.id}/results`);
    const results = [];
    for await (const result of await client.messages.batches.results(batch.id)) results.push(result);
    expect(results).toMatchObject([{ custom_id: "one", result: { type: "succeeded" } }]);
    // The SDK fetches the batch's results_url: it points at keyward, so the results came through it with the provider key.
    const fetched = h.mock.requests.filter((r) => r.path === `/v1/messages/batches/${batch.id}/results`);
    expect(fetched).toHaveLength(1);
    expect(fetched[0]?.headers["x-api-key"]).toBe(a.providerSecret);
    expect((await client.messages.batches.cancel(running.id)).processing_status).toBe("canceling");
    await client.messages.batches.delete(batch.id);
    expect(h.mock.store.messageBatches.has(batch.id)).toBe(false);

    const owners = await storedObjects(`proxy_key_id=${a.proxyKeyId}&kind=message_batch`);
    expect(owners.map((o) => o.object_id)).toEqual([running.id]);
    expectProxyKeyNeverUpstream(h.mock, a.proxyKey);
  });
});

describe("paths below a stored object that the registry does not list", () => {
  test("a key without limits reaching /vector_stores/{id}/files, /search, /files/{id}/… of another key's object → 404, nothing forwarded; the owner's go through", async () => {
    const { a, b } = await twoKeys();
    const store = await openai(a).vectorStores.create({ name: "docs" });
    const file = await openai(a).files.create({ file: await fileOf("private"), purpose: "assistants" });
    const below: [string, string, unknown][] = [
      ["GET", `/vector_stores/${store.id}/files`, undefined],
      ["POST", `/vector_stores/${store.id}/files`, { file_id: file.id }],
      ["POST", `/vector_stores/${store.id}/search`, { query: "secret" }],
      ["POST", `/vector_stores/${store.id}/file_batches`, { file_ids: [file.id] }],
    ];
    for (const [method, path, body] of below) await expectHidden(b, method, path, store.id, body);
    await expectHidden(b, "GET", `/batches/batch_unknown1/whatever`, "batch_unknown1");
    // The owner's requests below its own object are forwarded (the mock has no such routes: its 404 comes back).
    const before = h.mock.requests.length;
    for (const [method, path, body] of below) expect((await send(a, method, path, body)).status).toBe(404);
    expect(h.mock.requests.slice(before).map((r) => `${r.method} ${r.path}`)).toEqual(below.map(([method, path]) => `${method} /v1${path}`));
  });
});

describe("objects referenced inside a request body", () => {
  test("previous_response_id, input_file_id and a message's file_id of another key's object → 404 naming the field, nothing forwarded; the owner's go through", async () => {
    const { a, b } = await twoKeys();
    const created = await send(a, "POST", "/responses", { model: "gpt-4o-mini", input: "remember 42" });
    expect(created.status).toBe(200);
    const responseId = (JSON.parse(created.text) as { id: string }).id;
    const file = await openai(a).files.create({ file: await toFile(Buffer.from('{"custom_id":"1"}\n'), "in.jsonl"), purpose: "batch" });

    const before = h.mock.requests.length;
    const continued = await send(b, "POST", "/responses", { model: "gpt-4o-mini", input: "what was it?", previous_response_id: responseId });
    expect(expectProxyError(continued, 404, "not_found").error.param).toBe("previous_response_id");
    const batch = await send(b, "POST", "/batches", { input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    expect(expectProxyError(batch, 404, "not_found").error.param).toBe("input_file_id");
    const message = await send(b, "POST", "/chat/completions", {
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: [{ type: "file", file: { file_id: file.id } }] }],
    });
    expect(expectProxyError(message, 404, "not_found").error.param).toBe("file_id");
    expect(h.mock.requests.length).toBe(before);

    expect((await send(a, "POST", "/responses", { model: "gpt-4o-mini", input: "what was it?", previous_response_id: responseId })).status).toBe(200);
    expect(h.mock.requests.length).toBe(before + 1);
  });
});

describe("GET /api/stored-objects", () => {
  let pair: Pair;
  beforeEach(async () => {
    pair = await twoKeys();
  });

  test("lists each key's objects with their kind and owner, filtered by proxy_key_id, provider_key_id and kind", async () => {
    const { a, b } = pair;
    const file = await openai(a).files.create({ file: await fileOf("x"), purpose: "user_data" });
    const store = await openai(a).vectorStores.create({ name: "v" });
    const response = await openai(b).responses.create({ model: "gpt-4o-mini", input: "hi" });

    const ofA = await storedObjects(`proxy_key_id=${a.proxyKeyId}`);
    expect(ofA.map((o) => `${o.kind} ${o.object_id}`).sort()).toEqual([`file ${file.id}`, `vector_store ${store.id}`].sort());
    for (const o of ofA) {
      expect(o).toMatchObject({ provider_key_id: a.providerKeyId, proxy_key_id: a.proxyKeyId });
      expect(Number.isNaN(Date.parse(o.created_at))).toBe(false);
    }
    expect((await storedObjects(`proxy_key_id=${b.proxyKeyId}`)).map((o) => [o.kind, o.object_id])).toEqual([["response", response.id]]);
    expect((await storedObjects(`provider_key_id=${a.providerKeyId}`)).map((o) => o.object_id).sort()).toEqual([file.id, store.id, response.id].sort());
    expect((await storedObjects(`provider_key_id=${a.providerKeyId}&kind=vector_store`)).map((o) => o.object_id)).toEqual([store.id]);
  });

  test("pages with next_cursor: every object once (vector store ids: `vs_…`)", async () => {
    const { a } = pair;
    const ids = [];
    for (const name of ["p1", "p2", "p3"]) ids.push((await openai(a).vectorStores.create({ name })).id);
    await waitSettled(h.t);
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 10; page++) {
      const query: string = `proxy_key_id=${a.proxyKeyId}&limit=1${cursor === null ? "" : `&cursor=${cursor}`}`;
      const res = await h.t.call("GET", `/api/stored-objects?${query}`);
      expect(res.status).toBe(200);
      expect(res.json.data).toHaveLength(1);
      seen.push(...(res.json.data as StoredObjectView[]).map((o) => o.object_id));
      cursor = res.json.next_cursor;
      if (cursor === null) break;
    }
    expect(seen.sort()).toEqual(ids.sort());
  });

  // Known bug, outside this file's reach: decodeCursor (src/db/cursor.ts) reads back only ids of [A-Za-z0-9_], and
  // OpenAI file ids have a "-" (`file-…`), so the cursor this route writes after one is refused (422). Make it test() once fixed.
  test("pages with next_cursor: every object once (OpenAI file ids: `file-…`)", async () => {
    const { a } = pair;
    const ids = [];
    for (const name of ["p1", "p2", "p3"]) ids.push((await openai(a).files.create({ file: await fileOf(name), purpose: "user_data" })).id);
    await waitSettled(h.t);
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 10; page++) {
      const query: string = `proxy_key_id=${a.proxyKeyId}&limit=1${cursor === null ? "" : `&cursor=${cursor}`}`;
      const res = await h.t.call("GET", `/api/stored-objects?${query}`);
      expect(res.status).toBe(200);
      expect(res.json.data.length).toBeLessThanOrEqual(1);
      seen.push(...(res.json.data as StoredObjectView[]).map((o) => o.object_id));
      cursor = res.json.next_cursor;
      if (cursor === null) break;
    }
    expect(seen.sort()).toEqual(ids.sort());
  });

  test("a proxy key cannot call it, and a read-scoped admin token can", async () => {
    const res = await fetchText(`${h.url}/api/stored-objects`, { headers: { authorization: `Bearer ${pair.a.proxyKey}` } });
    expect(res.status).toBe(401);
    const token = await h.t.call("POST", "/api/admin-tokens", { name: "reader", scopes: ["read"] });
    expect(token.status).toBe(201);
    const read = await h.t.call("GET", `/api/stored-objects?proxy_key_id=${pair.a.proxyKeyId}`, undefined, { token: token.json.token });
    expect(read.status).toBe(200);
  });
});
