/**
 * A quiet but live stream is not cut by the server's idle timeout (DESIGN
 * §5, §11): Bun.serve closes a connection after `idleTimeout` of silence
 * (default 10 s), mid-stream included. Through the compiled binary, a
 * provider that pauses 12 s mid-stream must still deliver the whole stream.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";

// Real processes on 2 cores: well past bun's 5 s default (bunfig has no timeout setting).
setDefaultTimeout(60_000);
import { chatBody, createKeyPairOver, sseData, startBinaryHarness, type BinaryHarness, type KeyPair } from "../helpers/proxy.ts";

const QUIET_MS = 12_000;

let h: BinaryHarness;
let keys: KeyPair;

beforeAll(async () => {
  h = await startBinaryHarness();
  keys = await createKeyPairOver(h.api, { base_url: h.mock.baseUrl });
}, 30_000);
afterAll(() => h?.cleanup(), 30_000);

test(`a stream silent for ${QUIET_MS / 1000} s mid-way completes through the binary`, async () => {
  h.mock.next({ chunks: 3, quiet: { afterEvents: 2, ms: QUIET_MS } });
  const response = await fetch(`${h.server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${keys.proxyKey}`, "content-type": "application/json" },
    body: chatBody({ stream: true }),
  });
  expect(response.status).toBe(200);
  const text = await response.text();
  const events = sseData(text);
  expect(events.at(-1)).toBe("[DONE]");
  // role + 3 deltas + finish + [DONE]: nothing lost across the pause.
  expect(events).toHaveLength(6);
  const content = events
    .slice(0, -1)
    .map((e) => (JSON.parse(e) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ?? "")
    .join("");
  expect(content).toBe("Hello from the mock provider!");

  const rec = h.mock.requests[0];
  expect(rec?.completedAt).toBeDefined();
  expect(rec?.cancelledAt).toBeUndefined();
}, 20_000);
