/**
 * `keyward rotate-master-key` on real files: refusals, the key swap of a
 * generated master.key, the old key refused afterwards, and SIGKILL at
 * stratified random moments over many runs (the test-only
 * KEYWARD_TEST_ROTATION_DELAY_MS widens the transaction): after every kill the
 * database opens with exactly one of the two keys and every provider key
 * decrypts to what was stored.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn } from "bun";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomMasterKey } from "../helpers/admin-api.ts";
import { runKeyward } from "../helpers/binary.ts";
import { startMockProvider, type MockProvider } from "../helpers/mock-provider.ts";
import { decryptAll, Leftovers, opsBinary, startServe, type OpsBinary } from "../helpers/ops.ts";
import { chatBody, createKeyPairOver, type KeyPair } from "../helpers/proxy.ts";

const left = new Leftovers();
let binary: OpsBinary;
let mock: MockProvider;

const mode = (path: string) => statSync(path).mode & 0o777;
const keyIn = (path: string) => readFileSync(path, "utf8").trim();

function keyFile(dir: string, name: string): { path: string; key: string } {
  const key = randomMasterKey();
  const path = join(dir, name);
  writeFileSync(path, `${key}\n`, { mode: 0o600 });
  return { path, key };
}

beforeAll(async () => {
  binary = await opsBinary(left);
  mock = await startMockProvider();
});

afterAll(async () => {
  await left.cleanupAll();
  await mock.stop();
});

describe("rotate-master-key", () => {
  test("re-encrypts every provider key; the generated master.key is swapped and the old one kept; the old key is refused", async () => {
    const dataDir = join(left.dir(), "data");
    const keys = left.dir();
    const live = await startServe(left, binary, dataDir);
    const pairs: KeyPair[] = [];
    for (let i = 0; i < 3; i++) pairs.push(await createKeyPairOver(live.api, { base_url: mock.baseUrl }));
    const oldKey = keyIn(join(dataDir, "master.key"));
    const next = keyFile(keys, "new.key");

    const whileRunning = await runKeyward([binary.bin, "rotate-master-key", "--new-key-file", next.path, "--data-dir", dataDir], { cwd: binary.dir });
    expect(whileRunning.code).toBe(1);
    expect(whileRunning.stderr).toMatch(new RegExp(`Cannot rotate master key: a server is running on ${dataDir} \\(pid \\d+\\)`));
    expect(await live.server.stop("SIGTERM")).toBe(0);

    const missing = await runKeyward([binary.bin, "rotate-master-key", "--data-dir", dataDir], { cwd: binary.dir });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("--new-key-file");
    const same = keyFile(keys, "same.key");
    writeFileSync(same.path, `${oldKey}\n`);
    const unchanged = await runKeyward([binary.bin, "rotate-master-key", "--new-key-file", same.path, "--data-dir", dataDir], { cwd: binary.dir });
    expect(unchanged.code).toBe(1);
    expect(unchanged.stderr).toContain("the new key is the current key");

    const result = await runKeyward([binary.bin, "rotate-master-key", "--new-key-file", next.path, "--data-dir", dataDir], { cwd: binary.dir });
    expect(result.code, result.stderr).toBe(0);
    console.log(`[ops] rotation of 3 provider keys: ${/in (\d+) ms/.exec(result.stdout)?.[1]} ms`);
    expect(result.stdout).toContain("3 provider keys re-encrypted, key version 1 → 2");
    expect(keyIn(join(dataDir, "master.key"))).toBe(next.key);
    expect(mode(join(dataDir, "master.key"))).toBe(0o600);
    const kept = readdirSync(dataDir).filter((f) => f.startsWith("master.key.old-"));
    expect(kept).toHaveLength(1);
    expect(keyIn(join(dataDir, kept[0] as string))).toBe(oldKey);
    expect(mode(join(dataDir, kept[0] as string))).toBe(0o600);
    expect(result.stdout).toContain(kept[0] as string);
    expect(readdirSync(dataDir).filter((f) => f.includes(".tmp"))).toEqual([]);

    const refused = await runKeyward([binary.bin, "serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", dataDir], {
      cwd: binary.dir,
      env: { KEYWARD_MASTER_KEY: oldKey },
    });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("master key does not match");
    expect(refused.stderr).toContain("master key version 2");
    await expect(decryptAll(dataDir, oldKey)).rejects.toThrow();

    const again = await startServe(left, binary, dataDir, { token: live.token });
    try {
      for (const pair of pairs) {
        const before = mock.requests.length;
        const response = await fetch(`${again.server.url}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${pair.proxyKey}`, "content-type": "application/json" },
          body: chatBody(),
        });
        expect(response.status).toBe(200);
        expect(mock.requests[before]?.headers.authorization).toBe(`Bearer ${pair.providerSecret}`);
      }
      const audit = await again.api.audit();
      expect(audit.body.data.some((e) => e.action === "master_key.rotate" && e.actor_id === "cli")).toBe(true);
    } finally {
      expect(await again.server.stop("SIGTERM")).toBe(0);
    }
  });

  test("with a key file (systemd credential) the files are left alone and the output says what to do", async () => {
    const dataDir = join(left.dir(), "data");
    const keys = left.dir();
    const current = keyFile(keys, "current.key");
    const live = await startServe(left, binary, dataDir, { args: ["--master-key-file", current.path] });
    await createKeyPairOver(live.api, { base_url: mock.baseUrl });
    expect(await live.server.stop("SIGTERM")).toBe(0);
    const next = keyFile(keys, "next.key");
    const result = await runKeyward([binary.bin, "rotate-master-key", "--new-key-file", next.path, "--data-dir", dataDir, "--master-key-file", current.path], {
      cwd: binary.dir,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain("no longer opens the database");
    expect(result.stdout).toContain(next.path);
    expect(keyIn(current.path)).toBe(current.key);
    expect(existsSync(join(dataDir, "master.key"))).toBe(false);
    expect((await decryptAll(dataDir, next.key)).size).toBe(1);
  });

  test("SIGKILL at random points over 15 runs: the database opens with exactly one key and loses nothing", async () => {
    const dataDir = join(left.dir(), "data");
    const keys = left.dir();
    const live = await startServe(left, binary, dataDir);
    const stored = new Map<string, string>();
    for (let i = 0; i < 20; i++) {
      const secret = `sk-rotation-${i}-${crypto.randomUUID()}`;
      const created = await live.api.createProviderKey({ name: `rot-${i}`, provider: "openai", key: secret });
      expect(created.status).toBe(201);
      stored.set(created.body.id, secret);
    }
    expect(await live.server.stop("SIGTERM")).toBe(0);

    const env = { ...process.env, KEYWARD_TEST_ROTATION_DELAY_MS: "10" };
    const rotate = (newKeyPath: string) =>
      spawn([binary.bin, "rotate-master-key", "--new-key-file", newKeyPath, "--data-dir", dataDir], {
        cwd: binary.dir,
        env,
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
      });

    // One run left alone measures how long a rotation takes here; the kills are spread over that span.
    let current = keyIn(join(dataDir, "master.key"));
    const first = keyFile(keys, "calibration.key");
    const started = performance.now();
    const calibration = rotate(first.path);
    expect(await calibration.exited, await new Response(calibration.stderr).text()).toBe(0);
    const span = performance.now() - started;
    current = first.key;
    expect(keyIn(join(dataDir, "master.key"))).toBe(current);

    const runs = 15;
    const outcomes = { oldKey: 0, newKeyAndFile: 0, newKeyFilePending: 0 };
    for (let run = 0; run < runs; run++) {
      const next = keyFile(keys, `run-${run}.key`);
      const proc = rotate(next.path);
      // Up to 1.5 × the calibrated span: process start-up varies run to run, so the late kills
      // must reach past the commit even when a run starts slower than the calibration did.
      const killAt = ((run + Math.random()) / runs) * span * 1.5;
      await Bun.sleep(killAt);
      proc.kill("SIGKILL");
      await proc.exited;

      const withOld = await decryptAll(dataDir, current).catch(() => undefined);
      const withNew = await decryptAll(dataDir, next.key).catch(() => undefined);
      // Exactly one key opens the database, and it opens every provider key to what was stored.
      expect([withOld, withNew].filter(Boolean)).toHaveLength(1);
      expect(withOld ?? withNew).toEqual(stored);

      const onDisk = keyIn(join(dataDir, "master.key"));
      if (withOld) {
        // master.key is only ever replaced after the commit.
        expect(onDisk).toBe(current);
        outcomes.oldKey++;
      } else if (onDisk === next.key) {
        outcomes.newKeyAndFile++;
        current = next.key;
      } else {
        // Killed between the commit and the key swap: the operator still has the new key file.
        expect(onDisk).toBe(current);
        writeFileSync(join(dataDir, "master.key"), `${next.key}\n`, { mode: 0o600 });
        outcomes.newKeyFilePending++;
        current = next.key;
      }
    }
    console.log(
      `[ops] rotation of 20 provider keys with a 10 ms test delay per row: ${Math.round(span)} ms; SIGKILL over ${runs} runs → ` +
        `${outcomes.oldKey} left under the old key, ${outcomes.newKeyAndFile} under the new key with master.key swapped, ` +
        `${outcomes.newKeyFilePending} under the new key before the swap`,
    );
    expect(outcomes.oldKey).toBeGreaterThan(0);
    expect(outcomes.newKeyAndFile + outcomes.newKeyFilePending).toBeGreaterThan(0);

    // And the server starts on whatever the last run left, with every key.
    const after = await startServe(left, binary, dataDir, { token: live.token });
    try {
      const list = await after.api.listProviderKeys();
      expect(list.body.data.map((k) => k.id).sort()).toEqual([...stored.keys()].sort());
    } finally {
      expect(await after.server.stop("SIGTERM")).toBe(0);
    }
  });
});
