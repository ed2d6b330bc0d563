/**
 * Streaming through keyward: bytes reach the client as they arrive, no
 * buffering and no coalescing, so a client sees each token as soon as the
 * provider sends it. The mock and the client run in
 * this process, so the mock's `chunksWritten` and the client's read times
 * share one `performance.now()` clock.
 */
import { expect, test } from "bun:test";
import { chatBody, createKeyPair, sseData, useProxyHarness } from "../helpers/proxy.ts";

const h = useProxyHarness({ keys: true });

interface Read {
  at: number;
  text: string;
}

/** Streams a request through keyward, recording when each read returned and what it held. */
async function streamReads(path: string, body: string, headers: Record<string, string> = {}): Promise<Read[]> {
  const response = await fetch(`${h.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${h.keys.proxyKey}`, "content-type": "application/json", ...headers },
    body,
  });
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toContain("text/event-stream");
  const reader = response.body?.getReader();
  if (!reader) throw new Error("no body");
  const decoder = new TextDecoder();
  const reads: Read[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    reads.push({ at: performance.now(), text: decoder.decode(value, { stream: true }) });
  }
  return reads;
}

test("the first chunk reaches the client before the provider has written its last one", async () => {
  h.mock.next({ chunks: 10, chunkDelayMs: 50 });
  // The client asks for usage itself, so the wire stream is the mock's, event for event.
  const reads = await streamReads("/v1/chat/completions", chatBody({ stream: true, stream_options: { include_usage: true } }));
  const written = h.mock.requests[0]?.chunksWritten ?? [];
  expect(written.length).toBe(1 + 10 + 1 + 1 + 1); // role, deltas, finish, usage, [DONE]
  const firstRead = reads[0]?.at ?? Number.POSITIVE_INFINITY;
  const lastWrite = written.at(-1) ?? 0;
  expect(firstRead).toBeLessThan(lastWrite);
  // And the whole stream arrived.
  expect(sseData(reads.map((r) => r.text).join("")).at(-1)).toBe("[DONE]");
});

test("chat stream: one client read per provider event (no coalescing)", async () => {
  h.mock.next({ chunks: 8, chunkDelayMs: 25 });
  const reads = await streamReads("/v1/chat/completions", chatBody({ stream: true, stream_options: { include_usage: true } }));
  const written = h.mock.requests[0]?.chunksWritten ?? [];
  expect(written.length).toBe(1 + 8 + 1 + 1 + 1);
  // ≈: allow one pair to merge on a busy machine, never a buffered stream.
  expect(reads.length).toBeGreaterThanOrEqual(written.length - 1);
  expect(reads.length).toBeLessThanOrEqual(written.length);
  // Every read ends on an event boundary: keyward did not split or glue events.
  for (const read of reads) expect(read.text.endsWith("\n\n")).toBe(true);
  expect(sseData(reads.map((r) => r.text).join("")).at(-1)).toBe("[DONE]");
});

test("Anthropic stream: one client read per provider event (no coalescing)", async () => {
  const anthropic = await createKeyPair(h.t, { provider: "anthropic", base_url: h.mock.baseUrl });
  h.mock.next({ chunks: 6, chunkDelayMs: 25 });
  const response = await fetch(`${h.url}/v1/messages`, {
    method: "POST",
    headers: { "x-api-key": anthropic.proxyKey, "anthropic-version": "2023-06-01", "content-type": "application/json" },
    body: JSON.stringify({ model: "claude-sonnet-4-6", max_tokens: 50, stream: true, messages: [{ role: "user", content: "hi" }] }),
  });
  expect(response.status).toBe(200);
  const reader = response.body?.getReader();
  if (!reader) throw new Error("no body");
  const firstAt: number[] = [];
  let reads = 0;
  let text = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (reads === 0) firstAt.push(performance.now());
    reads++;
    text += new TextDecoder().decode(value);
  }
  const written = h.mock.requests[0]?.chunksWritten ?? [];
  // message_start, content_block_start, ping, 6 deltas, content_block_stop, message_delta, message_stop
  expect(written.length).toBe(12);
  expect(reads).toBeGreaterThanOrEqual(written.length - 1);
  expect(reads).toBeLessThanOrEqual(written.length);
  expect(firstAt[0] ?? Number.POSITIVE_INFINITY).toBeLessThan(written.at(-1) ?? 0);
  expect(text).toContain("event: message_stop");
});

test("an injected usage request never changes what a client without include_usage receives", async () => {
  h.mock.next({ chunks: 4, chunkDelayMs: 20 });
  const reads = await streamReads("/v1/chat/completions", chatBody({ stream: true }));
  const events = sseData(reads.map((r) => r.text).join(""));
  expect(events.at(-1)).toBe("[DONE]");
  // role + 4 deltas + finish + [DONE]; no usage chunk, no `usage` field.
  expect(events).toHaveLength(7);
  for (const event of events.slice(0, -1)) {
    const chunk = JSON.parse(event) as Record<string, unknown>;
    expect("usage" in chunk).toBe(false);
  }
});
