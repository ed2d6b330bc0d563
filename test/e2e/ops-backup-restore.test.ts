/**
 * `keyward backup` while the binary serves proxy traffic, and `keyward
 * restore` into a new data dir and over an existing one: refusals first
 * (running server, wrong or missing master key, existing database), then a
 * server on the restored files where every key works.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomMasterKey } from "../helpers/admin-api.ts";
import { runKeyward } from "../helpers/binary.ts";
import { startMockProvider, type MockProvider } from "../helpers/mock-provider.ts";
import { Leftovers, opsBinary, proxyLoad, startServe, type OpsBinary, type StartedServer } from "../helpers/ops.ts";
import { chatBody, createKeyPairOver, type KeyPair } from "../helpers/proxy.ts";

const left = new Leftovers();
let binary: OpsBinary;
let mock: MockProvider;
let dataDir = "";
let backupFile = "";
let pairs: KeyPair[] = [];
let rootToken = "";
/** A proxy key minted after the backup: present in the live database, absent from the backup. */
let laterKeyId = "";

const mode = (path: string) => statSync(path).mode & 0o777;

/** Every pair's proxy key answers through `url`, and the provider saw the right provider key. */
async function expectKeysWork(url: string, keys: KeyPair[]): Promise<void> {
  for (const pair of keys) {
    const before = mock.requests.length;
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${pair.proxyKey}`, "content-type": "application/json" },
      body: chatBody(),
    });
    expect(response.status, await response.text()).toBe(200);
    expect(mock.requests[before]?.headers.authorization).toBe(`Bearer ${pair.providerSecret}`);
  }
}

beforeAll(async () => {
  binary = await opsBinary(left);
  mock = await startMockProvider();
  dataDir = join(left.dir(), "data");
  backupFile = join(left.dir(), "keyward-backup.db");
});

afterAll(async () => {
  await left.cleanupAll();
  await mock.stop();
});

describe("backup and restore through the binary", () => {
  let live: StartedServer;

  test("backup under proxy load: consistent, 0600, never overwrites, traffic unaffected", async () => {
    live = await startServe(left, binary, dataDir);
    rootToken = live.token;
    pairs = [];
    for (let i = 0; i < 4; i++) pairs.push(await createKeyPairOver(live.api, { base_url: mock.baseUrl }));

    const load = proxyLoad(
      live.server.url,
      pairs.map((p) => p.proxyKey),
      { concurrency: 8, maxRequests: 20_000 },
    );
    await Bun.sleep(300);
    const okBefore = load.stats.ok;
    const started = performance.now();
    const result = await runKeyward([binary.bin, "backup", backupFile, "--data-dir", dataDir], { cwd: binary.dir });
    const backupMs = Math.round(performance.now() - started);
    const okDuring = load.stats.ok - okBefore;
    await Bun.sleep(100);
    const stats = await load.stop();
    console.log(
      `[ops] backup under load: ${backupMs} ms wall (command's own figure: ${/in (\d+) ms/.exec(result.stdout)?.[1]} ms), ` +
        `${okDuring} proxied requests completed meanwhile, ${stats.ok} in total, ${stats.failed} failed`,
    );

    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`to ${backupFile}`);
    expect(result.stdout).toContain("4 provider keys, 4 proxy keys");
    expect(result.stdout).toMatch(/master key/i);
    expect(stats.failed).toBe(0);
    expect(okDuring).toBeGreaterThan(0);
    expect(mode(backupFile)).toBe(0o600);
    // A self-contained file: nothing beside it needs copying.
    expect(existsSync(`${backupFile}-wal`)).toBe(false);

    const size = statSync(backupFile).size;
    const again = await runKeyward([binary.bin, "backup", backupFile, "--data-dir", dataDir], { cwd: binary.dir });
    expect(again.code).toBe(1);
    expect(again.stderr.trim()).toBe(`keyward: Cannot write backup: ${backupFile} already exists`);
    expect(statSync(backupFile).size).toBe(size);

    const minted = await live.api.mintProxyKey({ name: "after-backup", provider_key_id: pairs[0]?.providerKeyId as string });
    expect(minted.status).toBe(201);
    laterKeyId = minted.body.id;
  });

  test("restore refuses a running server's data dir, even with --force", async () => {
    const result = await runKeyward([binary.bin, "restore", backupFile, "--data-dir", dataDir, "--force"], { cwd: binary.dir });
    expect(result.code).toBe(1);
    const pid = Number(readFileSync(join(dataDir, "keyward.pid"), "utf8"));
    expect(result.stderr.trim()).toBe(`keyward: Cannot restore backup: a server is running on ${dataDir} (pid ${pid}); stop it first`);
    expect((await live.api.getProxyKey(laterKeyId)).status).toBe(200);
  });

  test("restore into a new data dir checks the master key before writing anything", async () => {
    const fresh = join(left.dir(), "restored");
    const noKey = await runKeyward([binary.bin, "restore", backupFile, "--data-dir", fresh], { cwd: binary.dir });
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toContain("Cannot restore backup: Cannot find master key");
    expect(existsSync(join(fresh, "keyward.db"))).toBe(false);

    const wrong = await runKeyward([binary.bin, "restore", backupFile, "--data-dir", fresh], {
      cwd: binary.dir,
      env: { KEYWARD_MASTER_KEY: randomMasterKey() },
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("Cannot restore backup: the master key does not open");
    expect(existsSync(join(fresh, "keyward.db"))).toBe(false);

    const notABackup = join(left.dir(), "garbage.db");
    writeFileSync(notABackup, "this is not sqlite".repeat(100));
    const garbage = await runKeyward([binary.bin, "restore", notABackup, "--data-dir", fresh], {
      cwd: binary.dir,
      env: { KEYWARD_MASTER_KEY: readFileSync(join(dataDir, "master.key"), "utf8").trim() },
    });
    expect(garbage.code).toBe(1);
    expect(garbage.stderr).toMatch(/Cannot (open backup|restore backup)/);
    // Refused restores leave no trace, not even the data dir.
    expect(existsSync(fresh)).toBe(false);

    // As an operator would: the master key travels with (but apart from) the backup.
    mkdirSync(fresh, { mode: 0o700 });
    copyFileSync(join(dataDir, "master.key"), join(fresh, "master.key"));
    const restored = await runKeyward([binary.bin, "restore", backupFile, "--data-dir", fresh], { cwd: binary.dir });
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toContain("4 provider keys open with the master key");
    expect(mode(join(fresh, "keyward.db"))).toBe(0o600);
    expect(readdirSync(fresh).filter((f) => f.includes("restore"))).toEqual([]);

    const server = await startServe(left, binary, fresh, { token: rootToken });
    try {
      await expectKeysWork(server.server.url, pairs);
      const keys = await server.api.listProxyKeys();
      expect(keys.body.data.map((k) => k.id).sort()).toEqual(pairs.map((p) => p.proxyKeyId).sort());
    } finally {
      expect(await server.server.stop("SIGTERM")).toBe(0);
    }
  });

  test("restore over an existing database: needs --force, replaces it atomically; a stale pid file does not block", async () => {
    expect(await live.server.stop("SIGTERM")).toBe(0);
    expect(existsSync(join(dataDir, "keyward.pid"))).toBe(false);
    // A server killed outright leaves its pid file; the pid names a process that is gone.
    const gone = Bun.spawn(["true"]);
    await gone.exited;
    writeFileSync(join(dataDir, "keyward.pid"), `${gone.pid}\n`);

    const refused = await runKeyward([binary.bin, "restore", backupFile, "--data-dir", dataDir], { cwd: binary.dir });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("keyward.db exists; pass --force to replace it");

    const forced = await runKeyward([binary.bin, "restore", backupFile, "--data-dir", dataDir, "--force"], { cwd: binary.dir });
    expect(forced.code, forced.stderr).toBe(0);
    // The old WAL would corrupt the restored file if it were replayed onto it.
    expect(existsSync(join(dataDir, "keyward.db-wal"))).toBe(false);

    const server = await startServe(left, binary, dataDir, { token: rootToken });
    try {
      expect((await server.api.getProxyKey(laterKeyId)).status).toBe(404);
      await expectKeysWork(server.server.url, pairs);
    } finally {
      expect(await server.server.stop("SIGTERM")).toBe(0);
    }
  });
});
