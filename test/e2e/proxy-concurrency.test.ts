/**
 * 300 concurrent streams through one compiled keyward all complete. Bun's
 * fetch allows 256 requests in flight per process unless
 * BUN_CONFIG_MAX_HTTP_REQUESTS is set at process start; the binary
 * re-executes itself with it (src/runtime/supervise.ts), so keyward's
 * upstream side must carry all 300 at once. The clients run in a separate
 * process with its own higher cap, since this test process has the default.
 */
import { expect, test } from "bun:test";
import { spawn } from "bun";
import { join } from "node:path";
import { useBinaryHarness } from "../helpers/proxy.ts";

const STREAMS = 300;
const CLIENT_SCRIPT = join(import.meta.dir, "fixtures", "stream-clients.ts");

// 10 deltas 150 ms apart: each stream stays open ~2 s, long enough for all 300 to overlap.
const h = useBinaryHarness({ chunks: 10, chunkDelayMs: 150 });

/** Most requests the mock had open at once, from arrival and completion times. */
function maxOverlap(intervals: Array<{ start: number; end: number }>): number {
  const points = intervals.flatMap(({ start, end }) => [
    { at: start, delta: 1 },
    { at: end, delta: -1 },
  ]);
  // Ends before starts at the same instant: touching intervals do not overlap.
  points.sort((a, b) => a.at - b.at || a.delta - b.delta);
  let open = 0;
  let max = 0;
  for (const point of points) {
    open += point.delta;
    max = Math.max(max, open);
  }
  return max;
}

test(`${STREAMS} concurrent streams through the binary all complete with [DONE]`, async () => {
  // Warm the key (one argon2 run) so the burst measures forwarding only.
  const warm = await fetch(`${h.server.url}/v1/models`, { headers: { authorization: `Bearer ${h.keys.proxyKey}` } });
  expect(warm.status).toBe(200);
  expect(((await warm.json()) as { object: string }).object).toBe("list");
  h.mock.reset();

  const client = spawn(["bun", CLIENT_SCRIPT, `${h.server.url}/v1`, h.keys.proxyKey, String(STREAMS)], {
    env: { ...process.env, BUN_CONFIG_MAX_HTTP_REQUESTS: "1000" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const killer = setTimeout(() => client.kill("SIGKILL"), 45_000);
  const [stdout, stderr, code] = await Promise.all([new Response(client.stdout).text(), new Response(client.stderr).text(), client.exited]);
  clearTimeout(killer);
  if (code !== 0) throw new Error(`client script exited ${code}: ${stderr}`);
  const summary = JSON.parse(stdout) as { requested: number; completed: number; failures: string[]; maxOpen: number };
  expect(summary.failures).toEqual([]);
  expect(summary.completed).toBe(STREAMS);

  // The provider side: every stream arrived and ran to its end, all of them open at once.
  expect(h.mock.requests).toHaveLength(STREAMS);
  const intervals = h.mock.requests.map((rec) => {
    expect(rec.streamed).toBe(true);
    expect(rec.completedAt).toBeDefined();
    expect(rec.cancelledAt).toBeUndefined();
    return { start: rec.receivedAt, end: rec.completedAt ?? rec.receivedAt };
  });
  expect(maxOverlap(intervals)).toBeGreaterThanOrEqual(STREAMS);
  expect(h.mock.cancellations).toEqual([]);
  // keyward survived it and still answers.
  expect((await fetch(`${h.server.url}/healthz`)).status).toBe(200);
}, 60_000);
