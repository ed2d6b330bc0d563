/**
 * Admin and background work does not stall the proxy: the compiled binary,
 * on a data dir seeded with a request log of 300,000 rows, serves proxied
 * requests (timed one at a time by a separate process, latency-probe.ts)
 * while it prunes a retention's worth of rows, answers usage and log
 * queries, mints a batch of 1,000 keys, streams 1,000 more as CSV, lists the
 * audit log and pages through the keys, and is backed up. Reads are sent back
 * to back for two seconds by a client at nice 19 (admin-reads.ts), standing
 * for a dashboard on another machine. Each operation's requests are compared
 * with an idle stretch (one after each operation), and with a control: a
 * process that is not keyward's keeping a core busy at nice 10.
 *
 * The bounds are p99 ≤ 2 × idle and max ≤ 50 ms. This test asserts
 * the max, against 50 ms or, on a machine so busy that its idle stretches
 * alone stall longer, twice their max (a query on the serving thread stalls
 * for hundreds of ms at this size either way). The p99 ratios are printed:
 * on a shared 2-core VM one run's p99 is too noisy to assert on; their
 * medians over runs are in test/bench/README.md.
 */
import { spawn } from "bun";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { openDatabase } from "../../src/db/open.ts";
import { detectRuntime } from "../../src/runtime/index.ts";
import { runKeyward } from "../helpers/binary.ts";
import { Leftovers, opsBinary, startServe, type OpsBinary, type StartedServer } from "../helpers/ops.ts";
import { adminReadsCommand, during, percentile, stamp, startProbe, type Probe, type Sample } from "../helpers/probe.ts";
import { createKeyPairOver, type KeyPair } from "../helpers/proxy.ts";
import { seedLog } from "../helpers/seed-log.ts";

const DAY = 86_400_000;
/** The bound on any proxied request while admin work runs. */
const MAX_MS = 50;
/** Probe requests before the key and the server are warm. */
const WARM_UP = 50;

const left = new Leftovers();
let binary: OpsBinary;
let probe: Probe;
let served: StartedServer;
let pair: KeyPair;
let dataDir: string;
const marks: Array<{ name: string; from: number; to: number }> = [];
let samples: Sample[] | undefined;

async function samplesSoFar(): Promise<Sample[]> {
  samples ??= await probe.stop();
  return samples;
}

/** Admin reads of `paths` (and `pages` further by each one's cursor) back to back for two seconds, by a low-priority client. */
const readFor = (paths: string[], pages: number) => async () => {
  const reader = spawn(adminReadsCommand({ url: served.server.url, token: served.token, ms: 2_000, pages, paths }), { stdout: "pipe", stderr: "inherit" });
  const reads = Number((await new Response(reader.stdout).text()).trim());
  expect(await reader.exited).toBe(0);
  expect(reads).toBeGreaterThan(10);
};

/** How long the idle stretch after each operation lasts. */
const IDLE_MS = 1_500;

/**
 * Runs `op`, remembering when, for the probe's samples; then an idle stretch
 * of the same machine, so that what the machine does on its own (other
 * processes, the hypervisor) is sampled all along the run, not once.
 */
async function timed(name: string, op: () => Promise<void>): Promise<void> {
  const from = stamp();
  await op();
  marks.push({ name, from, to: stamp() });
  const idleFrom = stamp();
  await Bun.sleep(IDLE_MS);
  marks.push({ name: "idle", from: idleFrom, to: stamp() });
}

beforeAll(async () => {
  binary = await opsBinary(left);
  probe = await startProbe();
  dataDir = join(left.dir(), "data");
  const first = await startServe(left, binary, dataDir);
  pair = await createKeyPairOver(first.api, { base_url: probe.upstream });
  expect(await first.server.stop("SIGTERM")).toBe(0);

  // 150,000 rows over the last 80 days, and 150,000 older than the 90 days' retention.
  const opened = openDatabase(await detectRuntime(), dataDir);
  try {
    opened.client.exec("PRAGMA synchronous = OFF");
    const now = Date.now();
    const keys = [pair.proxyKeyId, ...Array.from({ length: 199 }, (_, i) => `seeded${String(i).padStart(6, "0")}`)];
    const models = ["gpt-4o-mini", "gpt-4o", "gpt-4.1", "o3", null];
    const providerKeyOf = (k: number) => (k === 0 ? pair.providerKeyId : `pk_seeded_${k % 3}`);
    seedLog(opened.client, { rows: 150_000, from: now - 130 * DAY, to: now - 95 * DAY, proxyKeyIds: keys, providerKeyOf, models, seed: 1 });
    seedLog(opened.client, { rows: 150_000, from: now - 80 * DAY, to: now, proxyKeyIds: keys, providerKeyOf, models, seed: 2 });
  } finally {
    opened.client.close();
  }

  served = await startServe(left, binary, dataDir, { token: first.token, args: ["--log-retention-days", "90", "--log-format", "json"] });
  probe.start(served.server.url, pair.proxyKey);
});

afterAll(async () => {
  await samplesSoFar();
  await left.cleanupAll();
});

describe("proxied requests keep their latency", () => {
  test("while retention prunes 150,000 rows in batches", async () => {
    const from = stamp();
    const pruned = () => served.server.stderr().includes('"msg":"Request log retention applied"');
    for (let i = 0; i < 3_000 && !pruned(); i++) await Bun.sleep(10);
    expect(pruned()).toBe(true);
    marks.push({ name: "retention pruning", from, to: stamp() });
    // An idle stretch to compare with (timed adds one).
    await timed("idle", () => Bun.sleep(IDLE_MS));
  });

  test("while usage and log queries run", async () => {
    // Each answer checked once here; then read back to back for two seconds by a low-priority client.
    const usage = ["proxy_key", "provider_key", "model", "day"].map((group) => `/api/usage?group_by=${group}`);
    for (const path of usage) {
      const res = await served.api.call<{ data: unknown[] }>("GET", path);
      expect(res.status).toBe(200);
      expect(res.body.data.length).toBeGreaterThan(0);
    }
    const logs = ["", `proxy_key_id=${pair.proxyKeyId}`, "model=o3&status=429", "status=418", "provider_key_id=pk_seeded_1"].map(
      (filter) => `/api/logs?limit=200&${filter}`,
    );
    await timed("usage queries", readFor(usage, 0));
    // Each filter, then five pages further by its cursor.
    await timed("log queries", readFor(logs, 5));
  });

  test("while a batch of 1,000 keys is minted", async () => {
    await timed("minting 1,000 keys", async () => {
      const res = await served.api.call<{ data: unknown[] }>("POST", "/api/proxy-keys/batch", {
        count: 1000,
        name_prefix: "load",
        provider_key_id: pair.providerKeyId,
      });
      expect(res.status).toBe(201);
      expect(res.body.data.length).toBe(1000);
    });
  });

  test("while 1,000 keys are minted and streamed as CSV", async () => {
    await timed("CSV of 1,000 keys", async () => {
      const response = await fetch(`${served.server.url}/api/proxy-keys/batch`, {
        method: "POST",
        headers: { authorization: `Bearer ${served.token}`, "content-type": "application/json", accept: "text/csv" },
        body: JSON.stringify({ count: 1000, name_prefix: "csv", provider_key_id: pair.providerKeyId }),
      });
      expect(response.status).toBe(201);
      expect((await response.text()).trim().split("\r\n").length).toBe(1001);
    });
  });

  test("while the audit log is listed and the keys are paged through", async () => {
    expect((await served.api.call("GET", "/api/audit?limit=200")).status).toBe(200);
    // Each path and fourteen pages further by its cursor, over and over for two seconds.
    await timed("audit and key listing", readFor(["/api/audit?limit=200", "/api/proxy-keys?limit=200"], 14));
  });

  test("while a backup is taken", async () => {
    const target = join(left.dir(), "backup.db");
    await timed("backup", async () => {
      const result = await runKeyward([binary.bin, "backup", target, "--data-dir", dataDir], { cwd: binary.dir });
      expect(result.code).toBe(0);
    });
    expect(existsSync(target)).toBe(true);
  });

  test("control: a process of someone else's keeps a core busy at nice 10", async () => {
    // Not keyward's work: what any background CPU does to the probe's latency on this machine, to read the
    // operations' p99 against.
    await timed("control: a busy core", async () => {
      const busy = spawn(["nice", "-n", "10", "bun", "-e", "const end = performance.now() + 2000; while (performance.now() < end);"]);
      expect(await busy.exited).toBe(0);
    });
  });

  test("every operation: max ≤ 50 ms, or twice the idle stretches' max on a busier machine (p99 against idle printed)", async () => {
    const all = await samplesSoFar();
    expect(all.every(([, , status]) => status === 200)).toBe(true);
    // The probe's first requests (its key's one argon2 verification, a cold JIT) belong to no operation.
    const warm = all[WARM_UP]?.[0] ?? Infinity;
    for (const mark of marks) mark.from = Math.max(mark.from, warm);
    // Every idle stretch together, as one row.
    const latencies = (name: string) => marks.filter((m) => m.name === name).flatMap(({ from, to }) => during(all, from, to));
    const idleP99 = percentile(latencies("idle"), 99);
    const report = [...new Set(marks.map((m) => m.name))].map((name) => {
      const ms = latencies(name);
      return { name, requests: ms.length, p50: percentile(ms, 50), p99: percentile(ms, 99), max: Math.max(...ms), p99_vs_idle: percentile(ms, 99) / idleP99 };
    });
    console.log(
      report
        .map(
          (r) =>
            `${r.name.padEnd(24)} n=${String(r.requests).padStart(5)} p50=${r.p50.toFixed(2)} p99=${r.p99.toFixed(2)} max=${r.max.toFixed(2)} ms  p99/idle=${r.p99_vs_idle.toFixed(2)}`,
        )
        .join("\n"),
    );
    const bound = Math.max(MAX_MS, 2 * (report.find((r) => r.name === "idle")?.max ?? 0));
    const failing = report
      .filter((r) => r.requests < 20 || !(r.max <= bound))
      .map((r) => `${r.name}: max ${r.max.toFixed(1)} ms (bound ${bound.toFixed(1)}) over ${r.requests} requests`);
    expect(failing).toEqual([]);
  });
});
