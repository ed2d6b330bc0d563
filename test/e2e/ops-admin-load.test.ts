/**
 * Admin and background work does not stall the proxy: the compiled binary,
 * on a data dir seeded with a request log of 300,000 rows, serves proxied
 * requests (timed one at a time by a separate process, latency-probe.ts)
 * while it prunes a retention's worth of rows, answers usage and log
 * queries, mints a batch of 1,000 keys, streams 1,000 more as CSV, lists the
 * audit log and is backed up. Each operation's requests are compared with
 * an idle stretch: the issue's bounds are p99 ≤ 2 × idle and max ≤ 50 ms.
 * This test asserts the max, against 50 ms or, on a machine so busy that its
 * idle stretches (one after each operation) alone stall longer, twice their
 * max (a query on the serving thread stalls for hundreds of ms at this size
 * either way); the p99
 * ratio, a coin toss on a shared 2-core VM (test/bench/README.md), is
 * printed, and measured by `bun run bench` (scenario 8).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { openDatabase } from "../../src/db/open.ts";
import { detectRuntime } from "../../src/runtime/index.ts";
import { runKeyward } from "../helpers/binary.ts";
import { Leftovers, opsBinary, startServe, type OpsBinary, type StartedServer } from "../helpers/ops.ts";
import { during, percentile, stamp, startProbe, type Probe, type Sample } from "../helpers/probe.ts";
import { createKeyPairOver, type KeyPair } from "../helpers/proxy.ts";
import { seedLog } from "../helpers/seed-log.ts";

const DAY = 86_400_000;
/** The issue's bound on any proxied request while admin work runs. */
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
    const get = async (path: string) => {
      const res = await served.api.call<{ data: unknown[]; next_cursor: string | null }>("GET", path);
      expect(res.status).toBe(200);
      return res.body;
    };
    // Each for two seconds at least, so the probe times enough requests meanwhile.
    const forAWhile = async (round: () => Promise<void>) => {
      for (const until = performance.now() + 2_000; performance.now() < until;) await round();
    };
    await timed("usage queries", () =>
      forAWhile(async () => {
        for (const group of ["proxy_key", "provider_key", "model", "day"]) {
          expect((await get(`/api/usage?group_by=${group}`)).data.length).toBeGreaterThan(0);
        }
      }),
    );
    await timed("log queries", () =>
      forAWhile(async () => {
        for (const filter of ["", `proxy_key_id=${pair.proxyKeyId}`, "model=o3&status=429", "status=418", "provider_key_id=pk_seeded_1"]) {
          let page = await get(`/api/logs?limit=200&${filter}`);
          for (let n = 0; n < 5 && page.next_cursor !== null; n++) page = await get(`/api/logs?limit=200&${filter}&cursor=${page.next_cursor}`);
        }
      }),
    );
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
    await timed("audit and key listing", async () => {
      for (let round = 0; round < 20; round++) expect((await served.api.call("GET", "/api/audit?limit=200")).status).toBe(200);
      let cursor: string | null = "";
      for (let n = 0; n < 15 && cursor !== null; n++) {
        const res: { body: { next_cursor: string | null } } = await served.api.call("GET", `/api/proxy-keys?limit=200${cursor ? `&cursor=${cursor}` : ""}`);
        cursor = res.body.next_cursor;
      }
    });
  });

  test("while a backup is taken", async () => {
    const target = join(left.dir(), "backup.db");
    await timed("backup", async () => {
      const result = await runKeyward([binary.bin, "backup", target, "--data-dir", dataDir], { cwd: binary.dir });
      expect(result.code).toBe(0);
    });
    expect(existsSync(target)).toBe(true);
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
