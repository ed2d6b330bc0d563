/**
 * A client that goes away stops the upstream request: the
 * provider must see its connection cancelled, mid-stream, while still waiting
 * for headers, or mid-way through a JSON answer, so nobody keeps paying for
 * tokens no one reads. A stream is cancelled at once through its body; an
 * exchange without one is cancelled when its client is first watched, at the
 * latest CLIENT_WATCH_AFTER_MS in (src/README.md, design notes).
 */
import { beforeEach, describe, expect, test } from "bun:test";
import { CLIENT_WATCH_AFTER_MS } from "../../src/proxy/upstream-guard.ts";
import { MOCK_TEXT } from "../helpers/mock-provider.ts";
import { chatAnswerText, chatBody, useProxyHarness } from "../helpers/proxy.ts";

const h = useProxyHarness({ keys: true });

const init = (signal: AbortSignal, stream: boolean): RequestInit => ({
  method: "POST",
  headers: { authorization: `Bearer ${h.keys.proxyKey}`, "content-type": "application/json" },
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

test("client aborts while keyward reads a JSON answer that stalled after its headers: cancelled", async () => {
  h.mock.next({ hang: true });
  const controller = new AbortController();
  const pending = fetch(`${h.baseUrl}/chat/completions`, init(controller.signal, false)).catch((e: unknown) => e);
  while ((h.mock.requests[0]?.chunksWritten.length ?? 0) === 0) await Bun.sleep(5);
  controller.abort();
  expect(await pending).toBeInstanceOf(Error);
  const cancellation = await h.mock.waitForCancellation(1000);
  expect(cancellation.path).toBe("/v1/chat/completions");
});

test("keyward keeps serving after aborted streams", async () => {
  const response = await fetch(`${h.baseUrl}/chat/completions`, init(new AbortController().signal, true));
  expect(response.status).toBe(200);
  expect(await response.text()).toContain("data: [DONE]");
});

describe("the client is watched only once an exchange is slow (UpstreamGuard)", () => {
  let asked: Request[] = [];
  const w = useProxyHarness({
    keys: true,
    disconnectSignal: (request) => {
      asked.push(request);
      return request.signal;
    },
  });
  beforeEach(() => {
    asked = [];
  });

  const chat = (extra: Record<string, unknown> = {}) =>
    fetch(`${w.baseUrl}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${w.keys.proxyKey}`, "content-type": "application/json" },
      body: chatBody(extra),
    });

  test("answers back before the watch point never ask for the client's signal", async () => {
    for (const stream of [false, true]) {
      const response = await chat({ stream });
      expect(response.status).toBe(200);
      expect(chatAnswerText(await response.text())).toBe(MOCK_TEXT);
    }
    await Bun.sleep(CLIENT_WATCH_AFTER_MS + 100);
    expect(asked).toHaveLength(0);
  });

  test("an answer slower than the watch point asks once, and still arrives whole", async () => {
    w.mock.next({ headersDelayMs: CLIENT_WATCH_AFTER_MS + 150 });
    const response = await chat();
    expect(response.status).toBe(200);
    expect(((await response.json()) as { object: string }).object).toBe("chat.completion");
    expect(asked).toHaveLength(1);
  });
});
