/**
 * argon2 verifications on keyward's own worker threads, at nice 10 on Linux:
 * right answers (also many at once), off the serving thread's priority, and
 * nothing lost when a worker cannot start or dies: the job runs on the
 * runtime's native threads instead, after one warning.
 */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { platform } from "node:os";
import type { Logger } from "../../src/telemetry/logger.ts";
import { Argon2Workers } from "../../src/vault/argon2-workers.ts";
import { generateKey } from "../../src/vault/key-format.ts";
import { hashSecret, PURGED_SECRET_HASH } from "../../src/vault/hashing.ts";
import { chatBody, createKeyPair, fetchText, startProxyHarness } from "../helpers/proxy.ts";

const FELL_BACK = "argon2 verifications move to the runtime's threads at normal priority";
const phc = await hashSecret("right-secret");

function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, debug() {}, info() {}, error() {}, warn: (msg) => void warnings.push(msg) };
}

/** Thread id → nice value, for this process. */
function threadNices(): Map<string, number> {
  const nices = new Map<string, number>();
  for (const tid of readdirSync("/proc/self/task")) {
    try {
      const fields = readFileSync(`/proc/self/task/${tid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
      nices.set(tid, Number(fields[16]));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return nices;
}

test("right, wrong and corrupt hashes; many at once through two workers", async () => {
  const logger = recordingLogger();
  const pool = new Argon2Workers(logger);
  try {
    expect(await pool.verify({ phc, secret: "right-secret" })).toBe(true);
    expect(await pool.verify({ phc, secret: "wrong-secret" })).toBe(false);
    expect(await pool.verify({ phc: "$argon2id$garbage", secret: "right-secret" })).toBe(false);
    expect(await pool.verify({ phc: PURGED_SECRET_HASH, secret: "right-secret" })).toBe(false);
    const many = await Promise.all(Array.from({ length: 6 }, (_, i) => pool.verify({ phc, secret: i % 2 ? "right-secret" : `wrong-${i}` })));
    expect(many).toEqual([false, true, false, true, false, true]);
    expect(pool.workerRuns).toBe(10);
    expect(logger.warnings).toEqual([]);
  } finally {
    pool.close();
  }
});

test.if(platform() === "linux")("the workers run at nice 10, the calling thread stays where it was", async () => {
  const before = threadNices();
  const pool = new Argon2Workers(recordingLogger());
  try {
    await Promise.all([pool.verify({ phc, secret: "right-secret" }), pool.verify({ phc, secret: "right-secret" })]);
    const after = threadNices();
    const lowered = [...after].filter(([tid, nice]) => !before.has(tid) && nice === 10);
    // Each worker lowers its own thread; Bun gives a worker some helper threads, which keep their priority.
    expect(lowered.length).toBeGreaterThanOrEqual(2);
    expect(after.get(String(process.pid))).toBe(before.get(String(process.pid)));
  } finally {
    pool.close();
  }
});

test("hashes for minting run one at a time; a verification passes queued hashes", async () => {
  // Answers after 40 ms; a hash answers with when it ran, so the test can see whether two overlapped.
  const slow = URL.createObjectURL(
    new Blob(
      [
        `onmessage = (event) => {
          const job = event.data, from = Date.now();
          setTimeout(() => postMessage(job.hash ? { id: job.id, phc: from + "-" + Date.now() } : { id: job.id, valid: true }), 40);
        };`,
      ],
      { type: "text/javascript" },
    ),
  );
  const pool = new Argon2Workers(recordingLogger(), 2, () => new Worker(slow));
  try {
    const settled: string[] = [];
    const hashes = Array.from({ length: 4 }, (_, i) => pool.hash(`secret-${i}`).then((ran) => (settled.push(`hash ${i}`), ran)));
    const verified = pool.verify({ phc, secret: "right-secret" }).then((valid) => (settled.push("verify"), valid));
    expect(await verified).toBe(true);
    const spans = (await Promise.all(hashes)).map((ran) => ran.split("-").map(Number) as [number, number]);
    for (let i = 1; i < spans.length; i++) expect((spans[i] as [number, number])[0]).toBeGreaterThanOrEqual((spans[i - 1] as [number, number])[1]);
    // The verification took the idle worker at once instead of waiting behind three hashes.
    expect(settled.indexOf("verify")).toBeLessThan(settled.indexOf("hash 1"));
  } finally {
    pool.close();
    URL.revokeObjectURL(slow);
  }
});

test("a worker starts only when a job can run and every running worker is busy", async () => {
  let started = 0;
  const pool = new Argon2Workers(recordingLogger(), 2, () => {
    started++;
    return new Worker(new URL("../../src/vault/argon2-worker.ts", import.meta.url), { type: "module" });
  });
  try {
    // One at a time, and a batch's hashes (which run one at a time): one worker.
    expect(await pool.verify({ phc, secret: "right-secret" })).toBe(true);
    await Promise.all(Array.from({ length: 3 }, (_, i) => pool.hash(`minted-${i}`)));
    expect(started).toBe(1);
    // Two verifications at once: the second worker.
    expect(await Promise.all([pool.verify({ phc, secret: "right-secret" }), pool.verify({ phc, secret: "nope" })])).toEqual([true, false]);
    expect(started).toBe(2);
  } finally {
    pool.close();
  }
});

test("a worker that cannot start: one warning, every verification still answered", async () => {
  const logger = recordingLogger();
  const pool = new Argon2Workers(logger, 2, () => {
    throw new Error("no threads here");
  });
  expect(await Promise.all([pool.verify({ phc, secret: "right-secret" }), pool.verify({ phc, secret: "nope" })])).toEqual([true, false]);
  expect(await pool.verify({ phc, secret: "right-secret" })).toBe(true);
  expect(logger.warnings).toEqual([FELL_BACK]);
});

test("a worker that dies with jobs in hand: they are answered on the native threads", async () => {
  const logger = recordingLogger();
  const crashing = URL.createObjectURL(new Blob(['onmessage = () => { throw new Error("boom"); };'], { type: "text/javascript" }));
  const pool = new Argon2Workers(logger, 2, () => new Worker(crashing));
  try {
    expect(
      await Promise.all([pool.verify({ phc, secret: "right-secret" }), pool.verify({ phc, secret: "wrong" }), pool.verify({ phc, secret: "right-secret" })]),
    ).toEqual([true, false, true]);
    expect(logger.warnings).toEqual([FELL_BACK]);
  } finally {
    pool.close();
    URL.revokeObjectURL(crashing);
  }
});

test("after close, verifications still answer (on the native threads), without a warning", async () => {
  const logger = recordingLogger();
  const pool = new Argon2Workers(logger);
  expect(await pool.verify({ phc, secret: "right-secret" })).toBe(true);
  pool.close();
  expect(await pool.verify({ phc, secret: "right-secret" })).toBe(true);
  expect(logger.warnings).toEqual([]);
});

test("the app verifies proxy keys and admin tokens on its pool, once per key", async () => {
  const h = await startProxyHarness();
  try {
    const { argon2, proxyVerifier, adminVerifier } = h.t.services;
    const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl });
    const proxyRuns = proxyVerifier.argon2Runs;
    const adminRuns = adminVerifier.argon2Runs;
    const before = argon2.workerRuns;
    const chat = (token: string) =>
      fetchText(`${h.baseUrl}/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: chatBody(),
      });
    expect((await chat(keys.proxyKey)).status).toBe(200);
    expect((await chat(keys.proxyKey)).status).toBe(200);
    // A wrong secret for an id not verified in this process runs argon2 too, and on the pool.
    const other = await createKeyPair(h.t, { base_url: h.mock.baseUrl });
    expect((await chat(generateKey("proxy", other.proxyKeyId).token)).status).toBe(401);
    expect(proxyVerifier.argon2Runs - proxyRuns).toBe(2);
    // An admin token not seen before: the admin verifier uses the same pool.
    const minted = await h.t.call("POST", "/api/admin-tokens", { name: "reader", scopes: ["read"] });
    expect((await h.t.call("GET", "/api/proxy-keys", undefined, { token: String(minted.json.token) })).status).toBe(200);
    expect(adminVerifier.argon2Runs - adminRuns).toBe(1);
    expect(argon2.workerRuns - before).toBe(3);
  } finally {
    await h.stop();
  }
});

test("minting hashes on the pool: the hash is argon2id with keyward's parameters and verifies; a dying worker's hash is made natively", async () => {
  const logger = recordingLogger();
  const pool = new Argon2Workers(logger);
  try {
    const made = await pool.hash("minted-secret");
    expect(made).toStartWith("$argon2id$v=19$m=19456,t=2,p=1$");
    expect(await pool.verify({ phc: made, secret: "minted-secret" })).toBe(true);
    expect(await pool.verify({ phc: made, secret: "other" })).toBe(false);
    expect(pool.workerHashes).toBe(1);
    expect(pool.workerRuns).toBe(2);
  } finally {
    pool.close();
  }
  const crashing = URL.createObjectURL(new Blob(['onmessage = () => { throw new Error("boom"); };'], { type: "text/javascript" }));
  const dying = new Argon2Workers(logger, 2, () => new Worker(crashing));
  try {
    const made = await dying.hash("minted-secret");
    expect(await dying.verify({ phc: made, secret: "minted-secret" })).toBe(true);
    expect(dying.workerHashes).toBe(0);
    expect(logger.warnings).toEqual([FELL_BACK]);
  } finally {
    dying.close();
    URL.revokeObjectURL(crashing);
  }
});

test("the app mints on its pool: a batch's hashes are all made by the workers, and the keys work", async () => {
  const h = await startProxyHarness();
  try {
    const { argon2 } = h.t.services;
    const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl });
    const before = argon2.workerHashes;
    const batch = await h.t.call("POST", "/api/proxy-keys/batch", { count: 6, name_prefix: "pool", provider_key_id: keys.providerKeyId });
    expect(batch.status).toBe(201);
    expect(argon2.workerHashes - before).toBe(6);
    const chat = await fetchText(`${h.baseUrl}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${String(batch.json.data[5].key)}`, "content-type": "application/json" },
      body: chatBody(),
    });
    expect(chat.status).toBe(200);
  } finally {
    await h.stop();
  }
});
