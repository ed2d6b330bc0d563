/**
 * Request bodies are capped at `maxBodyBytes` (413), whether the client
 * declares a length or streams chunked; a body under the cap is forwarded
 * byte for byte either way.
 */
import { describe, expect, test } from "bun:test";
import { expectProxyError, fetchText, useProxyHarness } from "../helpers/proxy.ts";

const MAX = 4096;

const h = useProxyHarness({ keys: true, config: { maxBodyBytes: MAX } });

/** A JSON chat body of exactly `size` bytes. */
function bodyOfSize(size: number): string {
  const shell = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "" }] });
  const body = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "a".repeat(size - shell.length) }] });
  if (Buffer.byteLength(body) !== size) throw new Error("bad size");
  return body;
}

/** A body sent as a stream: fetch uses chunked transfer encoding and no content-length. */
function chunked(text: string, pieces = 4): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  const size = Math.ceil(bytes.byteLength / pieces);
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i >= pieces) {
        controller.close();
        return;
      }
      controller.enqueue(bytes.slice(i * size, (i + 1) * size));
      i++;
    },
  });
}

const post = (body: BodyInit, extraHeaders: Record<string, string> = {}) =>
  fetchText(`${h.baseUrl}/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${h.keys.proxyKey}`, "content-type": "application/json", ...extraHeaders },
    body,
  });

describe("with content-length", () => {
  test("one byte over the cap: 413, nothing forwarded", async () => {
    const res = await post(bodyOfSize(MAX + 1));
    const body = expectProxyError(res, 413, "request_too_large");
    expect(body.error.type).toBe("invalid_request_error");
    expect(h.mock.requests).toHaveLength(0);
  });

  test("far over the cap: 413", async () => {
    expectProxyError(await post(bodyOfSize(MAX * 20)), 413, "request_too_large");
    expect(h.mock.requests).toHaveLength(0);
  });

  test("exactly the cap: forwarded byte for byte", async () => {
    const text = bodyOfSize(MAX);
    const res = await post(text);
    expect(res.status).toBe(200);
    expect(h.mock.requests[0]?.body).toBe(text);
  });
});

describe("chunked (no content-length)", () => {
  test("control: a stream body really goes out chunked, without content-length", async () => {
    const res = await fetchText(`${h.mock.baseUrl}/chat/completions`, { method: "POST", body: chunked(bodyOfSize(500)) });
    expect(res.status).toBe(200);
    expect(h.mock.requests[0]?.body).toBe(bodyOfSize(500));
    expect(h.mock.requests[0]?.headers["content-length"]).toBeUndefined();
    expect(h.mock.requests[0]?.headers["transfer-encoding"]).toBe("chunked");
  });

  test("over the cap: 413, nothing forwarded", async () => {
    const res = await post(chunked(bodyOfSize(MAX * 3)));
    expectProxyError(res, 413, "request_too_large");
    expect(h.mock.requests).toHaveLength(0);
  });

  test("under the cap: forwarded byte for byte", async () => {
    const text = bodyOfSize(MAX - 100);
    const res = await post(chunked(text));
    expect(res.status).toBe(200);
    expect(h.mock.requests[0]?.body).toBe(text);
  });
});

test("keyward still serves the next request on the same key", async () => {
  expect((await post(bodyOfSize(200))).status).toBe(200);
});
