/**
 * Issue 18, "Every endpoint known": request bodies other than plain JSON.
 * - Multipart for a key whose limits read the body: the form is parsed once,
 *   its `model` checked (one field, no look-alikes) against the allow-list,
 *   and keyward's own encoding of what it read goes upstream; a budget needs
 *   `unbounded_reservation_usd`; the charge is the answer's usage when it
 *   reports tokens, else the reservation.
 * - Uploads larger than the proxy's JSON cap are streamed through intact.
 * - gzip/deflate request bodies are decoded (with the cap on the decoded
 *   size) and forwarded decoded; other encodings are refused.
 * - Realtime client secrets are never handed to a key with limits.
 * The harness runs with a 1 MiB JSON cap.
 */
import OpenAI, { toFile } from "openai";
import { beforeAll, describe, expect, test } from "bun:test";
import { deflateSync, gzipSync } from "node:zlib";
import { BUILTIN_PRICES } from "../../src/limits/prices-builtin.ts";
import { allLogs, getKey, micros, waitSettled } from "../helpers/limits.ts";
import { MOCK_TEXT, type RecordedFile, type RecordedRequest } from "../helpers/mock-provider.ts";
import { createKeyPair, expectProxyError, fetchText, useProxyHarness, type KeyPair } from "../helpers/proxy.ts";

const JSON_CAP = 1024 * 1024;
const h = useProxyHarness({ config: { maxBodyBytes: JSON_CAP } });

const USAGE = { input: 100, output: 40 };
/** What a budgeted key here reserves for a request keyward cannot bound. */
const RESERVATION_USD = 0.25;
/** The price an admin gives gpt-4o-transcribe (not in the built-in table), USD per million tokens. */
const TRANSCRIBE_PRICE = { input_per_million_usd: 2.5, output_per_million_usd: 10 };

beforeAll(async () => {
  const priced = await h.t.call("PUT", "/api/prices/gpt-4o-transcribe", TRANSCRIBE_PRICE);
  expect(priced.status).toBe(200);
});

const key = (proxy: Record<string, unknown> = {}): Promise<KeyPair> => createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy });

async function spendMicros(keys: KeyPair): Promise<number> {
  await waitSettled(h.t);
  const money = await getKey(h.t, keys.proxyKeyId);
  expect(money.reserved_usd).toBe(0);
  return micros(money.spend_usd);
}

/** Deterministic bytes that are not text (every byte value, CR LF and dashes included). */
function bytesOf(length: number, seed = 7): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (x * 1_103_515_245 + 12_345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

type Part = { name: string; value: string } | { name: string; filename: string; type: string; bytes: Uint8Array };

/** A multipart/form-data body written by hand, with the client's own boundary. */
function multipart(boundary: string, parts: Part[]): Uint8Array<ArrayBuffer> {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const head =
      "value" in part
        ? `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"\r\n\r\n`
        : `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"; filename="${part.filename}"\r\nContent-Type: ${part.type}\r\n\r\n`;
    chunks.push(Buffer.from(head, "utf8"), "value" in part ? Buffer.from(part.value, "utf8") : Buffer.from(part.bytes), Buffer.from("\r\n"));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return new Uint8Array(Buffer.concat(chunks));
}

const BOUNDARY = "----client-boundary-7f3a";
const AUDIO = bytesOf(64 * 1024);

function transcriptionParts(model: string | string[], extra: Part[] = []): Part[] {
  const models = (Array.isArray(model) ? model : [model]).map((value) => ({ name: "model", value }));
  return [...models, ...extra, { name: "file", filename: "speech.wav", type: "audio/wav", bytes: AUDIO }];
}

function postForm(keys: KeyPair, path: string, body: Uint8Array<ArrayBuffer>, boundary = BOUNDARY, headers: Record<string, string> = {}) {
  return fetchText(`${h.baseUrl}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${keys.proxyKey}`, "content-type": `multipart/form-data; boundary=${boundary}`, ...headers },
    body,
  });
}

const fileField = (rec: RecordedRequest | undefined, name: string): RecordedFile | undefined => {
  const value = rec?.form?.[name];
  return typeof value === "object" ? value : undefined;
};

describe("multipart on a key whose limits read the body (budget, unbounded_reservation_usd, allowed_models)", () => {
  const LIMITED = { budget_usd: 5, unbounded_reservation_usd: RESERVATION_USD, allowed_models: ["gpt-4o-transcribe", "whisper-1"] };

  test("admitted; the provider receives keyward's own encoding of the same fields and the same file bytes", async () => {
    h.mock.set({ usage: USAGE });
    const keys = await key(LIMITED);
    const body = multipart(
      BOUNDARY,
      transcriptionParts("gpt-4o-transcribe", [
        { name: "language", value: "en" },
        { name: "response_format", value: "json" },
        { name: "prompt", value: "héllo ✓ --boundary-ish\r\nline" },
      ]),
    );
    const res = await postForm(keys, "/audio/transcriptions", body);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({ text: MOCK_TEXT, usage: { type: "tokens", input_tokens: 100, output_tokens: 40 } });
    expect(h.mock.requests).toHaveLength(1);
    const rec = h.mock.requests[0];
    // Encoded again: a boundary of keyward's own, in the header and the body alike.
    const contentType = rec?.headers["content-type"] ?? "";
    expect(contentType).toStartWith("multipart/form-data; boundary=");
    expect(contentType).not.toContain(BOUNDARY);
    expect(rec?.body).not.toContain(BOUNDARY);
    // The same fields, the same file name and bytes.
    expect(Object.keys(rec?.form ?? {}).sort()).toEqual(["file", "language", "model", "prompt", "response_format"]);
    expect(rec?.form).toMatchObject({ model: "gpt-4o-transcribe", language: "en", response_format: "json", prompt: "héllo ✓ --boundary-ish\r\nline" });
    const file = fileField(rec, "file");
    expect(file?.filename).toBe("speech.wav");
    expect(Buffer.from(file?.bytes ?? []).equals(Buffer.from(AUDIO))).toBe(true);
    // Bun's form reader names WAV audio `audio/x-wav`, an alias of the client's `audio/wav`.
    expect(["audio/wav", "audio/x-wav"]).toContain(file?.type ?? "");
  });

  test("a gpt-4o-transcribe answer reports tokens: settled from that usage at the model's price", async () => {
    h.mock.set({ usage: USAGE });
    const keys = await key(LIMITED);
    const res = await postForm(keys, "/audio/transcriptions", multipart(BOUNDARY, transcriptionParts("gpt-4o-transcribe")));
    expect(res.status).toBe(200);
    const expected = USAGE.input * TRANSCRIBE_PRICE.input_per_million_usd + USAGE.output * TRANSCRIBE_PRICE.output_per_million_usd;
    expect(await spendMicros(keys)).toBe(expected);
    const [row] = await allLogs(h.t, `proxy_key_id=${keys.proxyKeyId}`);
    expect(row).toMatchObject({ model: "gpt-4o-transcribe", status: 200, input_tokens: 100, output_tokens: 40 });
    expect(micros(row?.cost_usd ?? 0)).toBe(expected);
  });

  test("a streamed gpt-4o-transcribe answer (stream=true): settled from the usage in transcript.text.done", async () => {
    h.mock.set({ usage: USAGE });
    const keys = await key(LIMITED);
    const res = await postForm(
      keys,
      "/audio/transcriptions",
      multipart(BOUNDARY, transcriptionParts("gpt-4o-transcribe", [{ name: "stream", value: "true" }])),
    );
    expect(res.status).toBe(200);
    expect(res.text).toContain("transcript.text.done");
    expect(h.mock.requests[0]?.streamed).toBe(true);
    expect(await spendMicros(keys)).toBe(USAGE.input * TRANSCRIBE_PRICE.input_per_million_usd + USAGE.output * TRANSCRIBE_PRICE.output_per_million_usd);
  });

  test("a whisper-1 answer reports seconds, not tokens: charged the reservation", async () => {
    const keys = await key(LIMITED);
    const res = await postForm(keys, "/audio/transcriptions", multipart(BOUNDARY, transcriptionParts("whisper-1")));
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({ usage: { type: "duration", seconds: 3 } });
    expect(await spendMicros(keys)).toBe(micros(RESERVATION_USD));
  });

  test("the form's model is checked against the allow-list: 403 model_not_allowed naming it, nothing forwarded", async () => {
    const keys = await key(LIMITED);
    const res = await postForm(keys, "/audio/transcriptions", multipart(BOUNDARY, transcriptionParts("gpt-4o-mini-transcribe")));
    expect(expectProxyError(res, 403, "model_not_allowed").error.message).toContain("gpt-4o-mini-transcribe");
    expect(h.mock.requests).toHaveLength(0);
    expect(await spendMicros(keys)).toBe(0);
  });

  test("a repeated model field → 400 naming model, nothing forwarded (either value could be the one the provider reads)", async () => {
    const keys = await key(LIMITED);
    for (const models of [
      ["whisper-1", "gpt-4o-mini-transcribe"],
      ["whisper-1", "whisper-1"],
    ]) {
      const res = await postForm(keys, "/audio/transcriptions", multipart(BOUNDARY, transcriptionParts(models)));
      expect(expectProxyError(res, 400, "invalid_request").error.param).toBe("model");
    }
    expect(h.mock.requests).toHaveLength(0);
  });

  test("a field that differs from model only in case or separators → 400 naming it, nothing forwarded", async () => {
    const keys = await key(LIMITED);
    for (const name of ["Model", "MODEL", "mo_del", "mo-del"]) {
      const res = await postForm(
        keys,
        "/audio/transcriptions",
        multipart(BOUNDARY, transcriptionParts("whisper-1", [{ name, value: "gpt-4o-mini-transcribe" }])),
      );
      expect(expectProxyError(res, 400, "invalid_request").error.param).toBe(name);
    }
    expect(h.mock.requests).toHaveLength(0);
  });

  test("no model field, an empty one, or a file where the model should be → 400 naming model, nothing forwarded", async () => {
    const keys = await key(LIMITED);
    const noModel = await postForm(keys, "/audio/transcriptions", multipart(BOUNDARY, [{ name: "file", filename: "a.wav", type: "audio/wav", bytes: AUDIO }]));
    expect(expectProxyError(noModel, 400, "invalid_request").error.param).toBe("model");
    const empty = await postForm(keys, "/audio/transcriptions", multipart(BOUNDARY, transcriptionParts("")));
    expect(expectProxyError(empty, 400, "invalid_request").error.param).toBe("model");
    const asFile = await postForm(
      keys,
      "/audio/transcriptions",
      multipart(BOUNDARY, [
        { name: "model", filename: "m.txt", type: "text/plain", bytes: new TextEncoder().encode("whisper-1") },
        { name: "file", filename: "a.wav", type: "audio/wav", bytes: AUDIO },
      ]),
    );
    expect(expectProxyError(asFile, 400, "invalid_request").error.param).toBe("model");
    expect(h.mock.requests).toHaveLength(0);
  });

  test("a body that is not multipart, or a broken one → 400, nothing forwarded", async () => {
    const keys = await key(LIMITED);
    const asJson = await fetchText(`${h.baseUrl}/audio/transcriptions`, {
      method: "POST",
      headers: { authorization: `Bearer ${keys.proxyKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "whisper-1" }),
    });
    expectProxyError(asJson, 400, "invalid_request");
    const broken = await postForm(
      keys,
      "/audio/transcriptions",
      new TextEncoder().encode(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1`),
    );
    expectProxyError(broken, 400, "invalid_request");
    expect(h.mock.requests).toHaveLength(0);
  });

  test("a budget without unbounded_reservation_usd → 403 cost_not_bounded, nothing forwarded", async () => {
    const keys = await key({ budget_usd: 5, allowed_models: ["whisper-1"] });
    const res = await postForm(keys, "/audio/transcriptions", multipart(BOUNDARY, transcriptionParts("whisper-1")));
    expect(expectProxyError(res, 403, "cost_not_bounded").error.message).toContain("unbounded_reservation_usd");
    expect(h.mock.requests).toHaveLength(0);
  });

  test("the official SDK's transcription works on the limited key", async () => {
    const keys = await key(LIMITED);
    const client = new OpenAI({ apiKey: keys.proxyKey, baseURL: h.baseUrl, maxRetries: 0 });
    const result = await client.audio.transcriptions.create({ model: "whisper-1", file: await toFile(AUDIO, "speech.wav", { type: "audio/wav" }) });
    expect(result.text).toBe(MOCK_TEXT);
    expect(Buffer.from(fileField(h.mock.requests[0], "file")?.bytes ?? []).equals(Buffer.from(AUDIO))).toBe(true);
  });

  test("contrast: a key without limits forwards the client's bytes exactly, boundary and all", async () => {
    const keys = await key();
    const body = multipart(BOUNDARY, transcriptionParts(["whisper-1", "whisper-1"]));
    const res = await postForm(keys, "/audio/transcriptions", body);
    expect(res.status).toBe(200);
    const rec = h.mock.requests[0];
    expect(rec?.headers["content-type"]).toBe(`multipart/form-data; boundary=${BOUNDARY}`);
    expect(rec?.bodyBytes).toBe(body.byteLength);
    expect(fileField(rec, "file")?.type).toBe("audio/wav");
  });
});

describe("uploads larger than the proxy's JSON cap (1 MiB) are streamed through", () => {
  const FIVE_MB = bytesOf(5 * 1024 * 1024, 11);

  for (const limited of [false, true]) {
    const label = limited ? "a limited key" : "a key without limits";

    test(`files.create, 5 MB, ${label}: the provider stores exactly the bytes sent, and they come back`, async () => {
      const keys = await key(limited ? { budget_usd: 5, allowed_models: ["gpt-4o-mini"] } : {});
      const client = new OpenAI({ apiKey: keys.proxyKey, baseURL: h.baseUrl, maxRetries: 0 });
      const file = await client.files.create({ file: await toFile(FIVE_MB, "big.bin", { type: "application/octet-stream" }), purpose: "user_data" });
      expect(file.bytes).toBe(FIVE_MB.byteLength);
      const stored = h.mock.store.files.get(file.id)?.bytes ?? new Uint8Array();
      expect(Buffer.from(stored).equals(Buffer.from(FIVE_MB))).toBe(true);
      const back = new Uint8Array(await (await client.files.content(file.id)).arrayBuffer());
      expect(Buffer.from(back).equals(Buffer.from(FIVE_MB))).toBe(true);
      if (limited) expect(await spendMicros(keys)).toBe(0);
    });

    test(`uploads.parts, a 5 MB part, ${label}: intact at the provider`, async () => {
      const keys = await key(limited ? { budget_usd: 5 } : {});
      const client = new OpenAI({ apiKey: keys.proxyKey, baseURL: h.baseUrl, maxRetries: 0 });
      const upload = await client.uploads.create({
        bytes: FIVE_MB.byteLength,
        filename: "big.bin",
        mime_type: "application/octet-stream",
        purpose: "user_data",
      });
      const part = await client.uploads.parts.create(upload.id, { data: await toFile(FIVE_MB, "part") });
      const done = await client.uploads.complete(upload.id, { part_ids: [part.id] });
      const stored = h.mock.store.files.get(done.file?.id ?? "")?.bytes ?? new Uint8Array();
      expect(Buffer.from(stored).equals(Buffer.from(FIVE_MB))).toBe(true);
    });
  }

  test("a 5 MB transcription on a limited key is read whole (its model is in the form), under the audio cap, and arrives intact", async () => {
    const keys = await key({ budget_usd: 5, unbounded_reservation_usd: RESERVATION_USD, allowed_models: ["whisper-1"] });
    const res = await postForm(
      keys,
      "/audio/transcriptions",
      multipart(BOUNDARY, [
        { name: "model", value: "whisper-1" },
        { name: "file", filename: "long.wav", type: "audio/wav", bytes: FIVE_MB },
      ]),
    );
    expect(res.status).toBe(200);
    expect(Buffer.from(fileField(h.mock.requests[0], "file")?.bytes ?? []).equals(Buffer.from(FIVE_MB))).toBe(true);
  });

  test("past the endpoint's own cap (25 MiB for audio) → 413, nothing forwarded, with or without limits", async () => {
    const big = multipart(BOUNDARY, [
      { name: "model", value: "whisper-1" },
      { name: "file", filename: "huge.wav", type: "audio/wav", bytes: new Uint8Array(26 * 1024 * 1024) },
    ]);
    for (const proxy of [{ budget_usd: 5, unbounded_reservation_usd: RESERVATION_USD }, {}]) {
      const keys = await key(proxy);
      expectProxyError(await postForm(keys, "/audio/transcriptions", big), 413, "request_too_large");
    }
    expect(h.mock.requests).toHaveLength(0);
  });

  test("a JSON body over the JSON cap is still refused 413, nothing forwarded", async () => {
    const keys = await key();
    const res = await fetchText(`${h.baseUrl}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${keys.proxyKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "x".repeat(JSON_CAP + 10) }] }),
    });
    expectProxyError(res, 413, "request_too_large");
    expect(h.mock.requests).toHaveLength(0);
  });
});

describe("compressed request bodies", () => {
  const CHAT = { model: "gpt-4o-mini", messages: [{ role: "user", content: "Say hello, compressed." }] };
  const chatText = JSON.stringify(CHAT);

  function postEncoded(keys: KeyPair, body: Uint8Array<ArrayBuffer>, encoding: string, path = "/chat/completions", contentType = "application/json") {
    return fetchText(`${h.baseUrl}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${keys.proxyKey}`, "content-type": contentType, "content-encoding": encoding },
      body,
    });
  }

  for (const [encoding, encode] of [
    ["gzip", gzipSync],
    ["deflate", deflateSync],
  ] as const) {
    test(`${encoding} JSON on a limited key: decoded, metered, and the provider gets plain JSON with the cap written in`, async () => {
      h.mock.set({ usage: USAGE });
      const keys = await key({ budget_usd: 5, allowed_models: ["gpt-4o-mini"] });
      const res = await postEncoded(keys, new Uint8Array(encode(chatText)), encoding);
      expect(res.status).toBe(200);
      expect(JSON.parse(res.text).choices[0].message.content).toBe(MOCK_TEXT);
      const rec = h.mock.requests[0];
      expect(rec?.contentEncoding).toBeUndefined();
      expect(rec?.headers["content-encoding"]).toBeUndefined();
      expect(rec?.json).toEqual({ ...CHAT, max_completion_tokens: 4096 });
      const price = BUILTIN_PRICES["gpt-4o-mini"] as { input: number; output: number };
      expect(await spendMicros(keys)).toBe(Math.ceil(USAGE.input * price.input) + Math.ceil(USAGE.output * price.output));
    });
  }

  test("gzip on a key without limits: forwarded decoded, the client's JSON bytes exactly", async () => {
    const keys = await key();
    const res = await postEncoded(keys, new Uint8Array(gzipSync(chatText)), "gzip");
    expect(res.status).toBe(200);
    expect(h.mock.requests[0]?.body).toBe(chatText);
    expect(h.mock.requests[0]?.headers["content-encoding"]).toBeUndefined();
  });

  test("a gzip bomb (10 MB that compresses to a few KB) → 413 on the decoded size, nothing forwarded, with or without limits", async () => {
    const bomb = new Uint8Array(gzipSync(Buffer.alloc(10 * 1024 * 1024)));
    expect(bomb.byteLength).toBeLessThan(64 * 1024);
    const jsonBomb = new Uint8Array(gzipSync(JSON.stringify({ ...CHAT, messages: [{ role: "user", content: "a".repeat(10 * 1024 * 1024) }] })));
    for (const proxy of [{ budget_usd: 5 }, {}]) {
      const keys = await key(proxy);
      for (const body of [bomb, jsonBomb]) expectProxyError(await postEncoded(keys, body, "gzip"), 413, "request_too_large");
    }
    expect(h.mock.requests).toHaveLength(0);
  });

  test("Content-Encoding: br (or any other) → 400, nothing forwarded; a corrupt gzip body → 400", async () => {
    for (const proxy of [{ budget_usd: 5 }, {}]) {
      const keys = await key(proxy);
      const br = expectProxyError(await postEncoded(keys, new TextEncoder().encode(chatText), "br"), 400, "invalid_request");
      expect(br.error.message).toContain("br");
      expectProxyError(await postEncoded(keys, new TextEncoder().encode(chatText), "zstd"), 400, "invalid_request");
      expectProxyError(await postEncoded(keys, new TextEncoder().encode("not gzip at all"), "gzip"), 400, "invalid_request");
    }
    expect(h.mock.requests).toHaveLength(0);
  });

  test("a gzip-encoded 3 MB file upload (streamed through) arrives decoded", async () => {
    const keys = await key({ budget_usd: 5 });
    const bytes = bytesOf(3 * 1024 * 1024, 3);
    const boundary = "gz-boundary";
    const body = multipart(boundary, [
      { name: "purpose", value: "user_data" },
      { name: "file", filename: "g.bin", type: "application/octet-stream", bytes },
    ]);
    const res = await postEncoded(keys, new Uint8Array(gzipSync(body)), "gzip", "/files", `multipart/form-data; boundary=${boundary}`);
    expect(res.status).toBe(200);
    const rec = h.mock.requests[0];
    expect(rec?.contentEncoding).toBeUndefined();
    // A key with limits has its upload's form read and encoded again (keyward's own boundary): the file's bytes are what count.
    expect(rec?.headers["content-type"]).toStartWith("multipart/form-data; boundary=keyward-");
    const stored = h.mock.store.files.get(JSON.parse(res.text).id)?.bytes ?? new Uint8Array();
    expect(Buffer.from(stored).equals(Buffer.from(bytes))).toBe(true);
  });
});

describe("realtime client secrets", () => {
  test("a key without limits gets one: forwarded with the provider key", async () => {
    const keys = await key();
    const client = new OpenAI({ apiKey: keys.proxyKey, baseURL: h.baseUrl, maxRetries: 0 });
    const secret = await client.realtime.clientSecrets.create({ session: { type: "realtime", model: "gpt-realtime" } });
    expect(secret.value).toMatch(/^ek_/);
    expect(h.mock.requests).toHaveLength(1);
    expect(h.mock.requests[0]).toMatchObject({ method: "POST", path: "/v1/realtime/client_secrets" });
    expect(h.mock.requests[0]?.headers.authorization).toBe(`Bearer ${keys.providerSecret}`);
  });

  for (const [label, proxy] of [
    ["a budget", { budget_usd: 5, unbounded_reservation_usd: 1 }],
    ["allowed_models", { allowed_models: ["gpt-realtime"] }],
    ["tpm", { tpm: 100_000 }],
  ] as const) {
    test(`a key with ${label} → 403 endpoint_not_allowed for client_secrets and sessions, nothing forwarded`, async () => {
      const keys = await key(proxy);
      const client = new OpenAI({ apiKey: keys.proxyKey, baseURL: h.baseUrl, maxRetries: 0 });
      const error = await client.realtime.clientSecrets.create({ session: { type: "realtime", model: "gpt-realtime" } }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(OpenAI.PermissionDeniedError);
      expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe("endpoint_not_allowed");
      const sessions = await fetchText(`${h.baseUrl}/realtime/sessions`, {
        method: "POST",
        headers: { authorization: `Bearer ${keys.proxyKey}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "gpt-realtime" }),
      });
      expectProxyError(sessions, 403, "endpoint_not_allowed");
      expect(h.mock.requests).toHaveLength(0);
    });
  }
});
