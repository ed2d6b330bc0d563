/**
 * Gemini's stored objects through keyward, with `@google/genai` unchanged
 * (`httpOptions.baseUrl` at keyward's `/v1`): files uploaded by Google's
 * resumable protocol (`ai.files.upload`: a start whose answer names a session
 * URL, then the file's chunks sent there), read, listed and deleted; context
 * caches (`ai.caches`), whose creation Google bills by the hour of storage,
 * so a key with limits cannot create or extend one. Each object belongs to the
 * proxy key that created it: another key on the same provider key is told it
 * does not exist, cannot send chunks to its upload session, and cannot use it
 * by name in a prompt (`cachedContent`, `fileData.fileUri`).
 */
import { ApiError, GoogleGenAI } from "@google/genai";
import { describe, expect, test } from "bun:test";
import { getKey, waitSettled } from "../helpers/limits.ts";
import { createKeyPair, expectProxyError, expectProxyKeyNeverUpstream, fetchText, useProxyHarness, type KeyPair } from "../helpers/proxy.ts";

const h = useProxyHarness();

const LIMITS = { budget_usd: 5, allowed_models: ["gemini-2.5-flash"], unbounded_reservation_usd: 0.25 };

/** Two proxy keys (the second with `second` limits) on one Gemini provider key whose base URL is the compatible API's, as in production. */
async function twoKeys(first: Record<string, unknown> = {}, second: Record<string, unknown> = {}): Promise<{ a: KeyPair; b: KeyPair }> {
  const a = await createKeyPair(h.t, { provider: "gemini", base_url: `${h.mock.url}/v1beta/openai`, proxy: first });
  const minted = await h.t.call("POST", "/api/proxy-keys", { name: "second", provider_key_id: a.providerKeyId, ...second });
  expect(minted.status).toBe(201);
  return { a, b: { ...a, proxyKey: minted.json.key, proxyKeyId: minted.json.id } };
}

const genai = (keys: KeyPair): GoogleGenAI => new GoogleGenAI({ apiKey: keys.proxyKey, httpOptions: { baseUrl: h.baseUrl, apiVersion: "v1beta" } });

/** The SDK call's ApiError status, or 0 when it succeeded. */
async function statusOf(call: () => Promise<unknown>): Promise<number> {
  try {
    await call();
    return 0;
  } catch (err) {
    if (err instanceof ApiError) return err.status;
    throw err;
  }
}

const send = (keys: KeyPair, method: string, path: string, body?: unknown) =>
  fetchText(`${h.baseUrl}${path}`, {
    method,
    headers: { "x-goog-api-key": keys.proxyKey, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

describe("files", () => {
  for (const limited of [false, true]) {
    test(`${limited ? "limited key" : "key without limits"}: upload (9 MB, two chunks), get, list, delete; recorded as the key's, never charged`, async () => {
      const { a } = await twoKeys(limited ? LIMITS : {});
      const ai = genai(a);
      const bytes = new Uint8Array(9 * 1024 * 1024).map((_, i) => i % 251);
      const file = await ai.files.upload({ file: new Blob([bytes], { type: "application/pdf" }), config: { displayName: "report.pdf" } });
      expect(file).toMatchObject({ displayName: "report.pdf", mimeType: "application/pdf", sizeBytes: String(bytes.byteLength), state: "ACTIVE" });
      const name = file.name ?? "";
      expect(h.mock.store.geminiFiles.get(name)?.bytes).toEqual(bytes);
      // The start, then one 8 MB chunk and the last one, each at the session the start named.
      const upload = h.mock.requests.filter((r) => r.path === "/upload/v1beta/files");
      expect(upload.map((r) => [r.headers["x-goog-upload-command"], r.headers["x-goog-upload-offset"]])).toEqual([
        ["start", undefined],
        ["upload", "0"],
        ["upload, finalize", String(8 * 1024 * 1024)],
      ]);
      expect(upload[0]?.headers["x-goog-upload-header-content-length"]).toBe(String(bytes.byteLength));
      expect(new Set(upload.slice(1).map((r) => r.query.upload_id)).size).toBe(1);

      expect((await ai.files.get({ name })).name).toBe(name);
      const listed: (string | undefined)[] = [];
      for await (const f of await ai.files.list()) listed.push(f.name);
      expect(listed).toEqual([name]);
      await ai.files.delete({ name });
      expect(h.mock.store.geminiFiles.has(name)).toBe(false);

      for (const rec of h.mock.requests) expect(rec.headers["x-goog-api-key"]).toBe(a.providerSecret);
      expectProxyKeyNeverUpstream(h.mock, a.proxyKey);
      await waitSettled(h.t);
      const key = await getKey(h.t, a.proxyKeyId);
      expect(key.spend_usd).toBe(0);
      expect(key.reserved_usd).toBe(0);
    });
  }

  test("the start's session URL is keyward's (same path under /v1), and the session is the starter's alone", async () => {
    const { a, b } = await twoKeys();
    const start = await fetchText(`${h.baseUrl}/upload/v1beta/files`, {
      method: "POST",
      headers: {
        "x-goog-api-key": a.proxyKey,
        "content-type": "application/json",
        "x-goog-upload-protocol": "resumable",
        "x-goog-upload-command": "start",
        "x-goog-upload-header-content-length": "5",
        "x-goog-upload-header-content-type": "text/plain",
      },
      body: JSON.stringify({ file: { displayName: "x" } }),
    });
    expect(start.status).toBe(200);
    const session = start.headers.get("x-goog-upload-url") ?? "";
    const uploadId = new URL(session).searchParams.get("upload_id") ?? "";
    expect(session).toBe(`${h.baseUrl}/upload/v1beta/files?upload_id=${uploadId}&upload_protocol=resumable`);
    const chunk = (keys: KeyPair) =>
      fetchText(session, {
        method: "POST",
        headers: { "x-goog-api-key": keys.proxyKey, "x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "0" },
        body: "hello",
      });
    // Another key sending the file's bytes to it is told no such upload exists; nothing reaches the provider.
    const before = h.mock.requests.length;
    expect(expectProxyError(await chunk(b), 404, "not_found").error.message).toContain(uploadId);
    // Nor can a second upload_id (which a parser might take instead of the first) carry the bytes past the check.
    const twice = await fetchText(`${h.baseUrl}/upload/v1beta/files?upload_id=mine&upload_id=${uploadId}`, {
      method: "POST",
      headers: { "x-goog-api-key": b.proxyKey, "x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "0" },
      body: "hello",
    });
    expect(expectProxyError(twice, 400, "invalid_request").error.param).toBe("upload_id");
    expect(h.mock.requests.length).toBe(before);
    const done = await chunk(a);
    expect(done.status).toBe(200);
    expect(done.headers.get("x-goog-upload-status")).toBe("final");
    const name = (JSON.parse(done.text) as { file: { name: string } }).file.name;
    // The file is the starter's: the other key gets 404 for it (Google's own answer would be 403), and an empty list.
    expectProxyError(await send(b, "GET", `/v1beta/${name}`), 404, "not_found");
    expectProxyError(await send(b, "DELETE", `/v1beta/${name}`), 404, "not_found");
    expect(JSON.parse((await send(b, "GET", "/v1beta/files")).text)).toEqual({ files: [] });
    expect(JSON.parse((await send(a, "GET", "/v1beta/files")).text).files.map((f: { name: string }) => f.name)).toEqual([name]);
    await waitSettled(h.t);
    const owned = await h.t.call("GET", `/api/stored-objects?proxy_key_id=${a.proxyKeyId}`);
    expect(owned.json.data.map((o: { object_id: string; kind: string }) => [o.kind, o.object_id]).sort()).toEqual([
      ["file", name],
      ["upload", uploadId],
    ]);
  });

  test("another key's file in a prompt's fileData.fileUri → 404 naming it, nothing forwarded; the owner's goes through", async () => {
    const { a, b } = await twoKeys();
    const file = await genai(a).files.upload({ file: new Blob(["notes"], { type: "text/plain" }) });
    const uri = file.uri ?? "";
    const prompt = (fileUri: string) => ({ contents: [{ role: "user", parts: [{ fileData: { fileUri, mimeType: "text/plain" } }, { text: "summarise" }] }] });
    const before = h.mock.requests.length;
    // Spellings the provider might resolve to the same file are the same file.
    for (const spelling of [uri, uri.replace("/v1beta/", "//v1beta/"), `${uri}:download`, uri.replace("files/", "files%2F"), `${uri}?alt=media`]) {
      const refused = await send(b, "POST", "/v1beta/models/gemini-2.5-flash:generateContent", prompt(spelling));
      expect(expectProxyError(refused, 404, "not_found").error.param).toBe("fileUri");
    }
    expect(h.mock.requests.length).toBe(before);
    expect((await send(a, "POST", "/v1beta/models/gemini-2.5-flash:generateContent", prompt(uri))).status).toBe(200);
    // A URI elsewhere (a video, a bucket) is no stored object of the provider's.
    const elsewhere = { contents: [{ parts: [{ fileData: { fileUri: "https://www.youtube.com/watch?v=x", mimeType: "video/mp4" } }] }] };
    expect((await send(b, "POST", "/v1beta/models/gemini-2.5-flash:generateContent", elsewhere)).status).toBe(200);
  });
});

describe("context caches", () => {
  test("a key without limits creates, reads, extends, lists and deletes its cache; another key is told none exists", async () => {
    const { a, b } = await twoKeys();
    const ai = genai(a);
    const cache = await ai.caches.create({ model: "gemini-2.5-flash", config: { contents: "a long document", ttl: "300s", displayName: "doc" } });
    const name = cache.name ?? "";
    expect(name.startsWith("cachedContents/")).toBe(true);
    expect(h.mock.requests.at(-1)?.json).toMatchObject({ model: "models/gemini-2.5-flash", ttl: "300s" });
    expect((await ai.caches.get({ name })).displayName).toBe("doc");
    const extended = await ai.caches.update({ name, config: { ttl: "600s" } });
    expect(h.mock.requests.at(-1)).toMatchObject({ method: "PATCH", path: `/v1beta/${name}` });
    expect(extended.expireTime).not.toBe(cache.expireTime);
    const listed: (string | undefined)[] = [];
    for await (const c of await ai.caches.list()) listed.push(c.name);
    expect(listed).toEqual([name]);

    const other = genai(b);
    const before = h.mock.requests.length;
    expect(await statusOf(() => other.caches.get({ name }))).toBe(404);
    expect(await statusOf(() => other.caches.update({ name, config: { ttl: "60s" } }))).toBe(404);
    expect(await statusOf(() => other.caches.delete({ name }))).toBe(404);
    expect(h.mock.requests.length).toBe(before);
    const theirs: (string | undefined)[] = [];
    for await (const c of await other.caches.list()) theirs.push(c.name);
    expect(theirs).toEqual([]);
    // Using the cache by name in a prompt is using the cache.
    const prompt = { cachedContent: name, contents: [{ parts: [{ text: "and then?" }] }] };
    expect(expectProxyError(await send(b, "POST", "/v1beta/models/gemini-2.5-flash:generateContent", prompt), 404, "not_found").error.param).toBe(
      "cachedContent",
    );
    expect((await send(a, "POST", "/v1beta/models/gemini-2.5-flash:generateContent", prompt)).status).toBe(200);

    await ai.caches.delete({ name });
    expect(h.mock.store.cachedContents.size).toBe(0);
  });

  test("a key with limits cannot create or extend a cache (storage billed by the hour): 403 endpoint_not_allowed saying why, nothing forwarded", async () => {
    const { a, b } = await twoKeys({}, LIMITS);
    const limited = genai(b);
    expect(await statusOf(() => limited.caches.create({ model: "gemini-2.5-flash", config: { contents: "doc", ttl: "60s" } }))).toBe(403);
    const raw = await send(b, "POST", "/v1beta/cachedContents", { model: "models/gemini-2.5-flash", contents: [{ parts: [{ text: "doc" }] }] });
    const error = expectProxyError(raw, 403, "endpoint_not_allowed").error;
    expect(error.message).toContain("gemini.cachedContents.create");
    expect(error.message).toContain("every hour");
    // Its own listing and reads are free and allowed (it owns nothing); another key's cache stays hidden, and extending is refused first.
    const name = (await genai(a).caches.create({ model: "gemini-2.5-flash", config: { contents: "doc" } })).name ?? "";
    const before = h.mock.requests.length;
    expect(expectProxyError(await send(b, "PATCH", `/v1beta/${name}`, { ttl: "60s" }), 403, "endpoint_not_allowed").error.message).toContain("every hour");
    expectProxyError(await send(b, "GET", `/v1beta/${name}`), 404, "not_found");
    expect(h.mock.requests.length).toBe(before);
    expect(JSON.parse((await send(b, "GET", "/v1beta/cachedContents")).text)).toEqual({ cachedContents: [] });
    await waitSettled(h.t);
    expect((await getKey(h.t, b.proxyKeyId)).spend_usd).toBe(0);
  });
});
