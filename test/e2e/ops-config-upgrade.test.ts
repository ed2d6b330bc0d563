/**
 * The binary's config file, `config check`, `version`, and upgrades: a newer
 * binary backs an older data dir up before migrating it; an older binary
 * refuses a newer schema and changes nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "bun";
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { JOURNAL, LATEST_MIGRATION_MILLIS } from "../../src/db/migrations.ts";
import { randomMasterKey } from "../helpers/admin-api.ts";
import { REPO_ROOT, runKeyward } from "../helpers/binary.ts";
import { startMockProvider, type MockProvider } from "../helpers/mock-provider.ts";
import { Leftovers, opsBinary, queryFile, startServe, type OpsBinary } from "../helpers/ops.ts";
import { chatBody, createKeyPairOver } from "../helpers/proxy.ts";

/** What the newest migration added, taken away again: the database as the previous release left it. */
const UNDO_LATEST_MIGRATION: Record<string, string[]> = {
  "0004_endpoints_ownership": ["DROP TABLE stored_objects", "ALTER TABLE provider_keys DROP COLUMN deployments"],
  "0005_usage_rollups": [
    "DROP TABLE usage_rollups",
    "DROP TABLE request_log_hours",
    "DROP INDEX proxy_keys_revoked_idx",
    "DROP INDEX proxy_keys_unpurged_revoked_idx",
    "DROP INDEX proxy_keys_unpurged_expiry_idx",
    "DROP INDEX proxy_keys_provider_key_idx",
    "CREATE INDEX proxy_keys_provider_key_idx ON proxy_keys (provider_key_id)",
    "DROP INDEX request_log_model_idx",
    "DROP INDEX request_log_status_idx",
    "DROP INDEX request_log_proxy_key_idx",
    "DROP INDEX request_log_provider_key_idx",
    "CREATE INDEX request_log_proxy_key_idx ON request_log (proxy_key_id, at)",
    "CREATE INDEX request_log_provider_key_idx ON request_log (provider_key_id, at)",
  ],
  "0006_provider_headers": ["ALTER TABLE provider_keys DROP COLUMN openai_organization", "ALTER TABLE provider_keys DROP COLUMN openai_project"],
  "0007_teams_webhooks": [
    "DROP INDEX proxy_keys_team_idx",
    "ALTER TABLE proxy_keys DROP COLUMN team_id",
    "ALTER TABLE proxy_keys DROP COLUMN previous_secret_hash",
    "ALTER TABLE proxy_keys DROP COLUMN previous_secret_expires_at",
    "DROP TABLE webhook_outbox",
    "DROP TABLE webhooks",
    "DROP TABLE team_budget_ceilings",
    "DROP TABLE teams",
    "DROP TABLE alerts_sent",
  ],
  "0008_batch_metering": ["DROP TABLE batch_charges", "DROP TABLE checked_batch_files"],
};

/** The tables the newest migration added. */
const NEWEST_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('batch_charges', 'checked_batch_files') ORDER BY name";

const left = new Leftovers();
let binary: OpsBinary;
let mock: MockProvider;

beforeAll(async () => {
  binary = await opsBinary(left);
  mock = await startMockProvider();
});

afterAll(async () => {
  await left.cleanupAll();
  await mock.stop();
});

const keyward = (args: string[], env: Record<string, string> = {}) => runKeyward([binary.bin, ...args], { cwd: binary.dir, env });

describe("version", () => {
  test("prints version, the commit it was built from and the schema version", async () => {
    const result = await keyward(["version"]);
    expect(result.code).toBe(0);
    const commit = /\(commit ([^,]+),/.exec(result.stdout)?.[1] ?? "";
    expect(result.stdout).toBe(`keyward 0.1.0 (commit ${commit}, schema ${JOURNAL[JOURNAL.length - 1]?.tag})\n`);
    // Built from a git checkout (CI's clone): a real commit of this repository, HEAD when the suite built it.
    const inGit = spawnSync(["git", "rev-parse", "--is-inside-work-tree"], { cwd: REPO_ROOT }).exitCode === 0;
    if (!inGit) {
      expect(commit).toBe("unknown");
      return;
    }
    expect(commit).toMatch(/^[0-9a-f]{7,}$/);
    expect(spawnSync(["git", "cat-file", "-e", `${commit}^{commit}`], { cwd: REPO_ROOT }).exitCode).toBe(0);
  });
});

describe("config file", () => {
  test("serve reads it; env and flags win over it", async () => {
    const dir = left.dir();
    const fromFile = join(dir, "file-data");
    const fromEnv = join(dir, "env-data");
    const config = join(dir, "keyward.toml");
    writeFileSync(config, `port = 0\nhost = "127.0.0.1"\ndata_dir = "${fromFile}"\nallow-http-upstreams = true\nlog_format = "pretty"\n`);

    const a = await startServe(left, binary, fromFile, { args: ["--config", config] });
    expect(a.server.stderr()).toMatch(/INFO  keyward listening url=http:\/\/127\.0\.0\.1:\d+/);
    expect(await a.server.stop("SIGTERM")).toBe(0);
    expect(existsSync(join(fromFile, "keyward.db"))).toBe(true);

    // KEYWARD_DATA_DIR beats the file's data_dir; the --data-dir startServe passes beats both.
    const b = await startServe(left, binary, fromEnv, {
      args: ["--config", config],
      env: { KEYWARD_DATA_DIR: join(dir, "ignored"), KEYWARD_LOG_FORMAT: "json" },
    });
    expect(b.server.stderr()).toContain('"msg":"keyward listening"');
    expect(await b.server.stop("SIGTERM")).toBe(0);
    expect(existsSync(join(fromEnv, "keyward.db"))).toBe(true);
    expect(existsSync(join(dir, "ignored"))).toBe(false);
  });

  test("config check prints each value with its source and masks secrets; a bad file exits 2 naming the key", async () => {
    const dir = left.dir();
    const config = join(dir, "keyward.toml");
    const metricsToken = `metrics-${crypto.randomUUID()}`;
    writeFileSync(config, `port = 9443\nmetrics_token = "${metricsToken}"\nlog-format = "json"\n`);
    const masterKey = randomMasterKey();
    const result = await keyward(["config", "check", "--config", config, "--log-level", "warn"], { KEYWARD_HOST: "127.0.0.1", KEYWARD_MASTER_KEY: masterKey });
    expect(result.code).toBe(0);
    const row = (name: string) =>
      result.stdout
        .split("\n")
        .find((l) => l.startsWith(`${name} `))
        ?.split(/\s{2,}/);
    expect(row("port")).toEqual(["port", "9443", `file ${config}`]);
    expect(row("host")).toEqual(["host", "127.0.0.1", "env KEYWARD_HOST"]);
    expect(row("log-level")).toEqual(["log-level", "warn", "flag"]);
    expect(row("shutdown-timeout")).toEqual(["shutdown-timeout", "30", "default"]);
    expect(row("metrics-token")).toEqual(["metrics-token", "********", `file ${config}`]);
    expect(row("master-key")).toEqual(["master-key", "********", "env KEYWARD_MASTER_KEY"]);
    expect(result.stdout).not.toContain(metricsToken);
    expect(result.stdout).not.toContain(masterKey);

    writeFileSync(config, 'port = 9443\nlisten = "0.0.0.0"\n');
    const bad = await keyward(["config", "check", "--config", config]);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe("");
    expect(bad.stderr.trim()).toBe(`keyward: Invalid config file ${config}: unknown key "listen" (see keyward --help for the options)`);
    const badValue = await keyward(["config", "check"], { KEYWARD_PORT: "eighty" });
    expect(badValue.code).toBe(2);
    expect(badValue.stderr).toContain("Invalid KEYWARD_PORT");
    // serve refuses the same way, before touching anything.
    const serve = await keyward(["serve", "--config", config, "--data-dir", join(dir, "never")]);
    expect(serve.code).toBe(2);
    expect(existsSync(join(dir, "never"))).toBe(false);
  });
});

describe("upgrades", () => {
  test("a newer binary backs an older database up, then migrates it; keys keep working", async () => {
    const dataDir = join(left.dir(), "data");
    const first = await startServe(left, binary, dataDir);
    const pair = await createKeyPairOver(first.api, { base_url: mock.baseUrl });
    const chat = (url: string) =>
      fetch(`${url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${pair.proxyKey}`, "content-type": "application/json" },
        body: chatBody(),
      });
    // A request the previous release logs: the upgrade must count it in the usage it answers from then on.
    expect((await chat(first.server.url)).status).toBe(200);
    expect(await first.server.stop("SIGTERM")).toBe(0);
    // A fresh data dir is never "upgraded".
    expect(existsSync(join(dataDir, "backups"))).toBe(false);

    // Turn the file into what the previous release left: without the newest migration.
    const dbPath = join(dataDir, "keyward.db");
    const previous = JOURNAL[JOURNAL.length - 2]?.tag as string;
    const latest = JOURNAL[JOURNAL.length - 1]?.tag as string;
    const undo = UNDO_LATEST_MIGRATION[latest];
    if (!undo) throw new Error(`Cannot simulate the previous release: add how to undo ${latest} to UNDO_LATEST_MIGRATION`);
    for (const statement of undo) await queryFile(dbPath, statement);
    await queryFile(dbPath, `DELETE FROM __drizzle_migrations WHERE created_at = ${LATEST_MIGRATION_MILLIS}`);

    const upgraded = await startServe(left, binary, dataDir, { token: first.token });
    try {
      expect(upgraded.server.stderr()).toContain("Backed up the database before migrating it");
      const backups = readdirSync(join(dataDir, "backups"));
      expect(backups).toHaveLength(1);
      expect(backups[0]).toMatch(new RegExp(`^keyward-${previous}-\\d{8}T\\d{6}Z\\.db$`));
      const backup = join(dataDir, "backups", backups[0] as string);
      expect(statSync(backup).mode & 0o777).toBe(0o600);
      expect((await queryFile(backup, "SELECT count(*) FROM __drizzle_migrations"))[0]?.[0]).toBe(JOURNAL.length - 1);
      expect(await queryFile(backup, NEWEST_TABLES)).toEqual([]);
      expect((await queryFile(dbPath, "SELECT count(*) FROM __drizzle_migrations"))[0]?.[0]).toBe(JOURNAL.length);

      // The row logged before the upgrade is still counted in the rollups, and the upgraded server adds to them.
      expect(await queryFile(dbPath, "SELECT sum(requests) FROM usage_rollups WHERE grain = 4 AND span = 86400000")).toEqual([[1]]);
      expect((await chat(upgraded.server.url)).status).toBe(200);
      const usage = await upgraded.api.call<{ data: Array<{ requests: number }> }>("GET", "/api/usage?group_by=proxy_key");
      expect(usage.body.data).toEqual([expect.objectContaining({ proxy_key_id: pair.proxyKeyId, requests: 2 })]);
      expect(await queryFile(dbPath, NEWEST_TABLES)).toEqual([["batch_charges"], ["checked_batch_files"]]);
    } finally {
      expect(await upgraded.server.stop("SIGTERM")).toBe(0);
    }
    // Current now: the next start takes no new backup.
    const again = await startServe(left, binary, dataDir, { token: first.token });
    expect(await again.server.stop("SIGTERM")).toBe(0);
    expect(readdirSync(join(dataDir, "backups"))).toHaveLength(1);
  });

  test("an older binary refuses a newer schema with a clear message and changes nothing", async () => {
    const dataDir = join(left.dir(), "data");
    const first = await startServe(left, binary, dataDir);
    expect(await first.server.stop("SIGTERM")).toBe(0);
    const copy = join(left.dir(), "copy");
    mkdirSync(copy, { mode: 0o700 });
    for (const f of ["keyward.db", "master.key"]) copyFileSync(join(dataDir, f), join(copy, f));
    await queryFile(
      join(copy, "keyward.db"),
      `INSERT INTO __drizzle_migrations (hash, created_at) VALUES ('from-the-future', ${LATEST_MIGRATION_MILLIS + 1000})`,
    );

    const result = await keyward(["serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", copy]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("Cannot open database: it was written by a newer keyward");
    expect(result.stderr).toContain(JOURNAL[JOURNAL.length - 1]?.tag as string);
    expect(result.stderr).toContain("upgrade keyward");
    expect(result.stderr).not.toContain("keyward listening");
    expect(existsSync(join(copy, "backups"))).toBe(false);
    expect((await queryFile(join(copy, "keyward.db"), "SELECT count(*) FROM __drizzle_migrations"))[0]?.[0]).toBe(JOURNAL.length + 1);
    // Host-side commands refuse it the same way.
    const restore = await keyward(["restore", join(copy, "keyward.db"), "--data-dir", join(left.dir(), "r")], {
      KEYWARD_MASTER_KEY: (await Bun.file(join(copy, "master.key")).text()).trim(),
    });
    expect(restore.code).toBe(1);
    expect(restore.stderr).toContain("written by a newer keyward");
  });
});
