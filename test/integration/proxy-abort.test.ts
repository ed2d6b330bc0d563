/**
 * A client that goes away stops the upstream request at once (DESIGN §5):
 * the provider must see its connection cancelled, mid-stream or while still
 * waiting for headers, so nobody keeps paying for tokens no one reads.
 */
import { afterAll, beforeAll, beforeEach, expect, test } from "bun:test";
import { chatBody, createKeyPair, startProxyHarness, type KeyPair, type ProxyHarness } from "../helpers/proxy.ts";

let h: ProxyHarness;
let keys: KeyPair;

beforeAll(async () => {
  h = await startProxyHarness();
  keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl });
});
afterAll(() => h.stop());
beforeEach(() => h.mock.reset());

const init = (signal: AbortSignal, stream: boolean): RequestInit => ({
  method: "POST",
  headers: { authorization: `Bearer ${keys.proxyKey}`, "content-type": "application/json" },
  body: chatBody({ stream }),
  signal,
});

test("client aborts mid-stream: the provider sees the request cancelled", async () => {
  h.mock.next({ chunks: 100, chunkDelayMs: 30 });
  const controller = new AbortController();
  const response = await fetch(`${h.baseUrl}/chat/completions`, init(controller.signal, true));
  expect(response.status).toBe(200);
  const reader = response.body?.getReader();
  const first = await reader?.read();
  expect(first?.done).toBe(false);
  controller.abort();

  const cancellation = await h.mock.waitForCancellation(1000);
  expect(cancellation.path).toBe("/v1/chat/completions");
  expect(h.mock.requests[0]?.completedAt).toBeUndefined();
});

test("client aborts while keyward waits for the provider's headers: cancelled too", async () => {
  h.mock.next({ headersDelayMs: 3_000 });
  const controller = new AbortController();
  const pending = fetch(`${h.baseUrl}/chat/completions`, init(controller.signal, false)).catch((e: unknown) => e);
  while (h.mock.requests.length === 0) await Bun.sleep(5);
  controller.abort();
  expect(await pending).toBeInstanceOf(Error);
  const cancellation = await h.mock.waitForCancellation(1000);
  expect(cancellation.path).toBe("/v1/chat/completions");
});

test("client aborts a stream that went silent after its headers: cancelled", async () => {
  h.mock.next({ hang: true });
  const controller = new AbortController();
  const pending = fetch(`${h.baseUrl}/chat/completions`, init(controller.signal, true)).catch((e: unknown) => e);
  // Abort once the provider has answered and gone quiet (whether or not keyward has sent headers yet).
  while ((h.mock.requests[0]?.chunksWritten.length ?? 0) === 0) await Bun.sleep(5);
  await Bun.sleep(20);
  controller.abort();
  await pending;
  const cancellation = await h.mock.waitForCancellation(1000);
  expect(cancellation.path).toBe("/v1/chat/completions");
});

test("keyward keeps serving after aborted streams", async () => {
  const response = await fetch(`${h.baseUrl}/chat/completions`, init(new AbortController().signal, true));
  expect(response.status).toBe(200);
  expect(await response.text()).toContain("data: [DONE]");
});
