/**
 * The server's idle timeout applies to a connection until the proxy has
 * authenticated its request: a half-sent request nobody authenticated is
 * closed, whatever its URL says, while an authenticated stream may stay quiet
 * for longer than the timeout. Through the compiled binary (the runtime's
 * server decides), with the idle timeout cut to 2 s by its test-only knob.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { MOCK_TEXT } from "../helpers/mock-provider.ts";
import { chatBody, createKeyPairOver, sseData, startBinaryHarness, type BinaryHarness, type KeyPair } from "../helpers/proxy.ts";
import { silentAfter } from "../helpers/raw-http.ts";

const IDLE_S = 2;
/** Bun checks idle connections every few seconds: a 2 s timeout closes within about 4 s. */
const CLOSED_WITHIN_MS = 9_000;
/** Bun closes a connection whose request head never ends by itself, after about 10-12 s, whatever the idle timeout. */
const HEAD_CLOSED_WITHIN_MS = 20_000;
/** Longer than the idle timeout plus Bun's check interval. */
const QUIET_MS = 6_000;

let h: BinaryHarness;
let keys: KeyPair;

beforeAll(async () => {
  h = await startBinaryHarness({}, { KEYWARD_TEST_IDLE_TIMEOUT_S: String(IDLE_S) });
  keys = await createKeyPairOver(h.api, { base_url: h.mock.baseUrl });
});

afterAll(() => h?.cleanup());

const port = () => Number(new URL(h.server.url).port);

/** A POST whose head is complete but whose body stops after 10 of its 100 bytes. */
const halfBody = (target: string, extra: string[] = []) =>
  [`POST ${target} HTTP/1.1`, "Host: 127.0.0.1", "Content-Type: application/json", "Content-Length: 100", ...extra, "", '{"model":"'].join("\r\n");

test("half-sent requests nobody authenticated are closed after the idle timeout, /v1/ in the URL or not", async () => {
  const cases = {
    "no key": halfBody("/v1/chat/completions"),
    "a well-formed key nobody issued": halfBody("/v1/chat/completions", [`Authorization: Bearer kwp_AAAAAAAAAAAA_${"b".repeat(38)}`]),
    "/v1/ only in the query": halfBody("/api/provider-keys?next=/v1/chat"),
    "/v1/ only in the path of an admin route": halfBody("/api/v1/x"),
    "the request head never finished": "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n",
  };
  const waited = await Promise.all(
    Object.entries(cases).map(async ([name, bytes]) => {
      const limit = name.includes("head") ? HEAD_CLOSED_WITHIN_MS : CLOSED_WITHIN_MS;
      const silence = await silentAfter(port(), bytes, limit + 1_000);
      return { name, closed: silence.closedAfterMs !== undefined && silence.closedAfterMs <= limit };
    }),
  );
  expect(waited).toEqual(Object.keys(cases).map((name) => ({ name, closed: true })));
});

test(`an authenticated stream quiet for ${QUIET_MS / 1000} s (idle timeout ${IDLE_S} s) completes, first request and cached key alike`, async () => {
  // The first request verifies the key with argon2 (the lift comes after an await); the second is verified from the cache.
  for (const round of ["argon2", "cached"]) {
    h.mock.reset();
    h.mock.next({ chunks: 3, quiet: { afterEvents: 2, ms: QUIET_MS } });
    const response = await fetch(`${h.server.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${keys.proxyKey}`, "content-type": "application/json" },
      body: chatBody({ stream: true }),
    });
    expect([round, response.status]).toEqual([round, 200]);
    const events = sseData(await response.text());
    expect([round, events.at(-1), events.length]).toEqual([round, "[DONE]", 6]);
    expect(h.mock.requests[0]?.cancelledAt).toBeUndefined();
  }
});

test("after an authenticated answer, plain or streamed, a kept-alive connection left silent is closed again", async () => {
  const body = (stream: boolean) => chatBody({ stream });
  const request = (stream: boolean) =>
    [
      "POST /v1/chat/completions HTTP/1.1",
      "Host: 127.0.0.1",
      `Authorization: Bearer ${keys.proxyKey}`,
      "Content-Type: application/json",
      `Content-Length: ${Buffer.byteLength(body(stream))}`,
      "",
      body(stream),
    ].join("\r\n");
  const [plain, streamed] = await Promise.all([false, true].map((stream) => silentAfter(port(), request(stream), CLOSED_WITHIN_MS + 1_000)));
  expect(plain?.received).toContain(MOCK_TEXT);
  expect(streamed?.received).toContain("[DONE]");
  expect([plain?.closedAfterMs, streamed?.closedAfterMs].map((ms) => ms !== undefined && ms <= CLOSED_WITHIN_MS)).toEqual([true, true]);
});

test("a client that leaves an authenticated stream still cancels it upstream at once", async () => {
  h.mock.reset();
  h.mock.next({ chunks: 40, chunkDelayMs: 100 });
  const controller = new AbortController();
  const response = await fetch(`${h.server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${keys.proxyKey}`, "content-type": "application/json" },
    body: chatBody({ stream: true }),
    signal: controller.signal,
  });
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  await reader.read();
  const left = performance.now();
  controller.abort();
  for (let waited = 0; h.mock.requests[0]?.cancelledAt === undefined && waited < 2_000; waited += 20) await Bun.sleep(20);
  const cancelledAt = h.mock.requests[0]?.cancelledAt;
  expect(cancelledAt).toBeDefined();
  expect((cancelledAt ?? Number.POSITIVE_INFINITY) - left).toBeLessThan(1_000);
});
