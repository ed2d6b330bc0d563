/**
 * A quiet but live stream is not cut by the server's idle timeout (a model
 * that thinks for a while must not lose its answer): Bun.serve closes a connection after `idleTimeout` of silence
 * (default 10 s), mid-stream included. Through the compiled binary, a
 * provider that pauses 12 s mid-stream must still deliver the whole stream.
 */
import { expect, test } from "bun:test";
import { chatBody, sseData, useBinaryHarness } from "../helpers/proxy.ts";

const QUIET_MS = 12_000;

const h = useBinaryHarness();

test(`a stream silent for ${QUIET_MS / 1000} s mid-way completes through the binary`, async () => {
  h.mock.next({ chunks: 3, quiet: { afterEvents: 2, ms: QUIET_MS } });
  const response = await fetch(`${h.server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${h.keys.proxyKey}`, "content-type": "application/json" },
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
