/**
 * A provider key echoed by the upstream never reaches the client (issue 19,
 * point 2): in an error body, a normal body, a header, an SSE event, and a
 * stream where the key is split across chunks, it arrives as its hint. The
 * split cases use a small upstream of their own on 127.0.0.1 that writes each
 * part only when the test says so, so the chunk boundaries are real and the
 * test can see what the client got before the next part left the upstream.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { MOCK_TEXT } from "../helpers/mock-provider.ts";
import { chatAnswerText, chatBody, createKeyPair, useProxyHarness, type KeyPair } from "../helpers/proxy.ts";

const h = useProxyHarness({ keys: true });

/** What keyward's admin API shows for the suite's key, and what an echo must turn into. */
async function hintOf(keys: KeyPair): Promise<string> {
  const view = await h.t.call("GET", `/api/provider-keys/${keys.providerKeyId}`);
  return String(view.json.key_hint);
}

const post = (keys: KeyPair, body: string, path = "/chat/completions") =>
  fetch(`${h.baseUrl}${path}`, { method: "POST", headers: { authorization: `Bearer ${keys.proxyKey}`, "content-type": "application/json" }, body });

describe("the mock provider echoes the key", () => {
  test("in an error body: replaced by the hint", async () => {
    const secret = h.keys.providerSecret;
    h.mock.next({
      error: {
        status: 401,
        body: { error: { message: `Incorrect API key provided: ${secret}.`, type: "invalid_request_error", param: null, code: "invalid_api_key" } },
      },
    });
    const response = await post(h.keys, chatBody());
    const text = await response.text();
    expect(response.status).toBe(401);
    expect(text).not.toContain(secret);
    expect(JSON.parse(text)).toEqual({
      error: { message: `Incorrect API key provided: ${await hintOf(h.keys)}.`, type: "invalid_request_error", param: null, code: "invalid_api_key" },
    });
  });

  test("in a normal JSON body, twice: both replaced, usage still metered", async () => {
    const secret = h.keys.providerSecret;
    h.mock.next({ text: `key ${secret} and again ${secret}!` });
    const response = await post(h.keys, chatBody());
    const text = await response.text();
    expect(response.status).toBe(200);
    expect(text).not.toContain(secret);
    const hint = await hintOf(h.keys);
    expect(chatAnswerText(text)).toBe(`key ${hint} and again ${hint}!`);
    await h.t.flushLog();
    const logs = await h.t.call("GET", `/api/logs?proxy_key_id=${h.keys.proxyKeyId}`);
    expect(logs.json.data[0]).toMatchObject({ status: 200, input_tokens: 11, output_tokens: 7 });
  });

  test("in a response header (and inside a longer value): replaced in place, with an ASCII hint", async () => {
    const secret = h.keys.providerSecret;
    h.mock.next({ headers: { "x-debug-auth": `Bearer ${secret}`, "x-echo": secret } });
    const response = await post(h.keys, chatBody());
    expect(response.status).toBe(200);
    expect(chatAnswerText(await response.text())).toBe(MOCK_TEXT);
    // A header value is Latin-1 only, so the hint's ellipsis is written as three dots there.
    const hint = (await hintOf(h.keys)).replace("…", "...");
    expect(response.headers.get("x-debug-auth")).toBe(`Bearer ${hint}`);
    expect(response.headers.get("x-echo")).toBe(hint);
    expect(JSON.stringify([...response.headers])).not.toContain(secret);
  });

  test("in an SSE event, streamed with or without keyward's usage rewrite", async () => {
    const secret = h.keys.providerSecret;
    const plain = await createKeyPair(h.t, { base_url: h.mock.baseUrl, key: `${secret}-plain`, inject_stream_usage: false });
    for (const keys of [h.keys, plain]) {
      h.mock.next({ text: `the key is ${keys.providerSecret}.`, chunks: 1 });
      const response = await post(keys, chatBody({ stream: true }));
      const text = await response.text();
      expect(response.status).toBe(200);
      expect(text).not.toContain(keys.providerSecret);
      expect(chatAnswerText(text)).toBe(`the key is ${await hintOf(keys)}.`);
    }
  });

  test("an answer that does not echo the key is passed unchanged (control)", async () => {
    const response = await post(h.keys, chatBody({ stream: true }));
    expect(chatAnswerText(await response.text())).toBe(MOCK_TEXT);
  });
});

/**
 * An upstream that answers every request with `parts`, one chunk each, and
 * writes part n+1 only once `release()` was called n times: the test reads
 * what the client got in between.
 */
let upstream: ReturnType<typeof Bun.serve>;
let parts: string[] = [];
let contentType = "text/event-stream";
let released = 0;
let wake: (() => void) | undefined;

function release(): void {
  released++;
  wake?.();
}

beforeAll(() => {
  upstream = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    idleTimeout: 0,
    async fetch(request) {
      await request.arrayBuffer();
      const queue = [...parts];
      released = 0;
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const next = queue.shift();
          if (next === undefined) {
            controller.close();
            return;
          }
          while (sent > released) await new Promise<void>((resolve) => (wake = resolve));
          controller.enqueue(new TextEncoder().encode(next));
          sent++;
        },
      });
      return new Response(body, { headers: { "content-type": contentType } });
    },
  });
});
afterAll(() => upstream.stop(true));

/** Reads the next chunk the client gets, as text. */
async function nextText(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<string> {
  const chunk = await reader.read();
  return chunk.done ? "" : new TextDecoder().decode(chunk.value);
}

async function rest(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<string> {
  let text = "";
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += new TextDecoder().decode(chunk.value);
  return text;
}

describe("the key split across chunks", () => {
  let keys: KeyPair;
  let hint: string;
  beforeAll(async () => {
    keys = await createKeyPair(h.t, { base_url: `http://127.0.0.1:${upstream.port}/v1`, inject_stream_usage: false });
    hint = await hintOf(keys);
  });

  test("SSE: the bytes before the key's start go on at once; the key arrives as its hint", async () => {
    contentType = "text/event-stream";
    const secret = keys.providerSecret;
    const cut = 9;
    const first = `data: {"n":1}\n\ndata: {"k":"`;
    parts = [first + secret.slice(0, cut), `${secret.slice(cut)}"}\n\ndata: [DONE]\n\n`];
    const response = await post(keys, chatBody({ stream: true }));
    expect(response.status).toBe(200);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    // Before the upstream sends its second part, the client already has the first, less the key's start.
    expect(await nextText(reader)).toBe(first);
    release();
    const after = await rest(reader);
    expect(after).toBe(`${hint}"}\n\ndata: [DONE]\n\n`);
  });

  test("a plain streamed body, the key cut into three chunks: replaced, and a false start is sent as it was", async () => {
    contentType = "application/octet-stream";
    const secret = keys.providerSecret;
    // "sk-up" looks like the key's start but is not followed by the rest of it: it must reach the client unchanged.
    parts = ["head sk-up", `date ${secret.slice(0, 5)}`, secret.slice(5, 20), `${secret.slice(20)} tail`];
    const response = await fetch(`${h.baseUrl}/raw`, { headers: { authorization: `Bearer ${keys.proxyKey}` } });
    expect(response.status).toBe(200);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    expect(await nextText(reader)).toBe("head ");
    release();
    expect(await nextText(reader)).toBe("sk-update ");
    release();
    release();
    expect(await rest(reader)).toBe(`${hint} tail`);
  });

  test("a stream that ends on what looked like the key's start: those bytes are sent at the end", async () => {
    contentType = "application/octet-stream";
    parts = [`text ${keys.providerSecret.slice(0, 12)}`];
    const response = await fetch(`${h.baseUrl}/raw`, { headers: { authorization: `Bearer ${keys.proxyKey}` } });
    expect(await response.text()).toBe(`text ${keys.providerSecret.slice(0, 12)}`);
  });
});
