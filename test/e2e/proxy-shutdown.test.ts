/**
 * Graceful shutdown of the compiled binary, so a restart or deploy does not
 * cut an answer mid-way: on SIGTERM keyward
 * stops accepting connections, lets an in-flight stream finish, then exits 0.
 * The signal goes to the supervising parent, which forwards it to the child
 * that actually serves (src/runtime/supervise.ts), as in production.
 */
import { expect, test } from "bun:test";
import { connect } from "node:net";
import { chatBody, sseData, useBinaryHarness } from "../helpers/proxy.ts";

const h = useBinaryHarness();

/** Opens a fresh TCP connection: "connected" or the error code (ECONNREFUSED once keyward stopped listening). */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve("connected");
    });
    socket.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  for (let waited = 0; !condition(); waited += 10) {
    if (waited >= timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

test("SIGTERM during a stream: the stream completes, new connections are refused, exit code 0", async () => {
  const port = Number(new URL(h.server.url).port);
  expect(await tryConnect(port)).toBe("connected");

  // 10 deltas 200 ms apart: about 2.4 s of stream, most of it after the signal.
  h.mock.next({ chunks: 10, chunkDelayMs: 200 });
  const response = await fetch(`${h.server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${h.keys.proxyKey}`, "content-type": "application/json" },
    body: chatBody({ stream: true }),
  });
  expect(response.status).toBe(200);
  const reader = response.body?.getReader();
  if (!reader) throw new Error("no body");
  const decoder = new TextDecoder();
  let text = "";
  const first = await reader.read();
  expect(first.done).toBe(false);
  text += decoder.decode(first.value, { stream: true });

  h.server.proc.kill("SIGTERM");
  await waitFor(() => h.server.stderr().includes("Shutting down"), "the shutdown log line");
  // The stream is still running when keyward stops accepting.
  expect(h.mock.requests[0]?.completedAt).toBeUndefined();
  expect(await tryConnect(port)).toBe("ECONNREFUSED");

  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  const events = sseData(text);
  expect(events.at(-1)).toBe("[DONE]");
  expect(events).toHaveLength(1 + 10 + 1 + 1); // role, 10 deltas, finish, [DONE]
  const content = events
    .slice(0, -1)
    .map((e) => (JSON.parse(e) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ?? "")
    .join("");
  expect(content).toBe("Hello from the mock provider!");
  expect(h.mock.requests[0]?.completedAt).toBeDefined();
  expect(h.mock.cancellations).toEqual([]);

  expect(await h.server.proc.exited).toBe(0);
  expect(h.server.stderr()).toContain('"msg":"Stopped"');
}, 30_000);
