/**
 * The command line of the compiled binary: version, help, flag/env errors,
 * precedence, and the host-side admin-token commands.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SECRET_ENV, SERVE_OPTIONS } from "../../src/config.ts";
import { parseKey } from "../../src/vault/key-format.ts";
import { adminApi, ADMIN_TOKEN_RE } from "../helpers/admin-api.ts";
import { isolatedBinary, REPO_ROOT, runKeyward, startKeyward, type RunningBinary } from "../helpers/binary.ts";

const started: RunningBinary[] = [];
const tempDirs: string[] = [];
let dir = "";
let bin = "";

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "keyward-cli-"));
  tempDirs.push(d);
  return d;
}

async function start(args: string[], env: Record<string, string> = {}): Promise<RunningBinary> {
  const running = await startKeyward([bin, ...args], { cwd: dir, env });
  started.push(running);
  return running;
}

/** Runs the binary in its own directory; asserts afterwards that a failing command wrote nothing there. */
function keyward(args: string[], env: Record<string, string> = {}) {
  return runKeyward([bin, ...args], { cwd: dir, env });
}

beforeAll(async () => {
  ({ dir, bin } = await isolatedBinary());
  tempDirs.push(dir);
});

afterAll(() => {
  for (const running of started) {
    if (running.proc.exitCode === null) running.proc.kill("SIGKILL");
  }
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

describe("keyward version and --help", () => {
  test("version prints the package version, commit and schema version", async () => {
    const result = await keyward(["version"]);
    expect(result.code).toBe(0);
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
    const journal = JSON.parse(readFileSync(join(REPO_ROOT, "drizzle/meta/_journal.json"), "utf8")) as {
      entries: { tag: string }[];
    };
    const schema = journal.entries[journal.entries.length - 1]?.tag;
    // The commit is checked against git in ops-config-upgrade.test.ts.
    expect(result.stdout).toMatch(new RegExp(`^keyward ${pkg.version.replaceAll(".", "\\.")} \\(commit (?:[0-9a-f]+|unknown), schema ${schema}\\)\n$`));
    expect((await keyward(["--version"])).stdout).toBe(result.stdout);
  });

  test("--help lists every flag next to its KEYWARD_* variable, and the env-only secrets", async () => {
    for (const args of [["--help"], ["serve", "--help"], ["help"]]) {
      const result = await keyward(args);
      expect(result.code).toBe(0);
      expect(result.stderr).toBe("");
      const lines = result.stdout.split("\n");
      for (const option of SERVE_OPTIONS) {
        const line = lines.find((l) => new RegExp(`^\\s+--${option.flag}\\b`).test(l));
        expect(line, `--${option.flag} is listed`).toBeDefined();
        expect(line).toContain(option.env);
      }
      for (const secret of SECRET_ENV) expect(result.stdout).toContain(secret.env);
      expect(result.stdout).toContain("admin-token create");
      expect(result.stdout).toContain("admin-token generate");
      expect(result.stdout).toMatch(/flags win over environment variables/i);
    }
    expect(readdirSync(dir)).toEqual(["keyward"]);
  });
});

describe("bad flag and env values: one line on stderr naming the option, exit code 2", () => {
  // DATA stands for a data dir that a refused start must never create.
  const cases: { name: string; args: string[]; env?: Record<string, string>; names: string }[] = [
    { name: "--port abc", args: ["serve", "--data-dir", "DATA", "--port", "abc"], names: "--port" },
    { name: "--port 70000", args: ["--data-dir", "DATA", "--port", "70000"], names: "--port" },
    { name: "--log-format xml", args: ["serve", "--data-dir", "DATA", "--log-format", "xml"], names: "--log-format" },
    { name: "unknown --bogus", args: ["serve", "--data-dir", "DATA", "--bogus"], names: "--bogus" },
    { name: "--port without a value", args: ["serve", "--data-dir", "DATA", "--port"], names: "--port" },
    { name: "KEYWARD_PORT=abc", args: ["serve", "--data-dir", "DATA"], env: { KEYWARD_PORT: "abc" }, names: "KEYWARD_PORT" },
    { name: "KEYWARD_LOG_LEVEL=loud", args: ["serve", "--data-dir", "DATA"], env: { KEYWARD_LOG_LEVEL: "loud" }, names: "KEYWARD_LOG_LEVEL" },
    { name: "unknown command", args: ["frobnicate"], names: "frobnicate" },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const args = c.args.map((a) => (a === "DATA" ? join(dir, "never-created") : a));
      const result = await keyward(args, c.env);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe("");
      const stderr = result.stderr.trimEnd();
      expect(stderr.split("\n")).toHaveLength(1);
      expect(stderr).toContain(c.names);
      expect(stderr).toStartWith("keyward: ");
      // A refused start writes nothing: no data dir, no database, no master key.
      expect(readdirSync(dir)).toEqual(["keyward"]);
    });
  }
});

describe("precedence", () => {
  test("flags win over KEYWARD_* variables", async () => {
    const flagData = join(tempDir(), "flag-data");
    const envData = join(tempDir(), "env-data");
    const server = await start(["serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", flagData, "--log-format", "json"], {
      // Each of these would fail or land elsewhere if it were used.
      KEYWARD_PORT: "abc",
      KEYWARD_HOST: "256.0.0.1",
      KEYWARD_DATA_DIR: envData,
      KEYWARD_LOG_FORMAT: "pretty",
    });
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.stderr()).toContain('"msg":"keyward listening"');
    expect(existsSync(join(flagData, "keyward.db"))).toBe(true);
    expect(existsSync(envData)).toBe(false);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect(await server.stop("SIGTERM")).toBe(0);
  });

  test("KEYWARD_* variables apply when no flag is given", async () => {
    const envData = join(tempDir(), "env-data");
    const server = await start(["serve"], {
      KEYWARD_PORT: "0",
      KEYWARD_HOST: "127.0.0.1",
      KEYWARD_DATA_DIR: envData,
      KEYWARD_LOG_FORMAT: "pretty",
    });
    expect(server.stderr()).toMatch(/keyward listening url=http:\/\/127\.0\.0\.1:\d+/);
    expect(existsSync(join(envData, "keyward.db"))).toBe(true);
    expect(await server.stop("SIGTERM")).toBe(0);
  });
});

describe("keyward admin-token", () => {
  test("create prints only the token, with no server running", async () => {
    const dataDir = join(tempDir(), "data");
    const result = await keyward(["admin-token", "create", "--data-dir", dataDir, "--name", "ci", "--scopes", "read"]);
    expect(result.code).toBe(0);
    expect(result.stdout.endsWith("\n")).toBe(true);
    expect(result.stdout.split("\n")).toEqual([expect.stringMatching(ADMIN_TOKEN_RE), ""]);
    const token = result.stdout.trim();
    expect(parseKey("admin", token)).not.toBeNull();
    expect(result.stderr).not.toContain(token);
    expect(existsSync(join(dataDir, "keyward.db"))).toBe(true);
    // A host-side command never invents a master key the server does not know.
    expect(existsSync(join(dataDir, "master.key"))).toBe(false);

    // The server started on that data dir later accepts the token with its scopes.
    const server = await start(["serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", dataDir]);
    try {
      const api = adminApi(server.url, token);
      expect((await api.listProviderKeys()).status).toBe(200);
      const write = await api.createProviderKey({ name: "nope", provider: "openai", key: "sk-nope-0123456789" });
      expect(write.status).toBe(403);
    } finally {
      expect(await server.stop("SIGTERM")).toBe(0);
    }
  });

  test("create works while a server runs on the same data dir, and the server accepts the token at once", async () => {
    const dataDir = join(tempDir(), "data");
    const server = await start(["serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", dataDir]);
    try {
      const root = server.rootToken();
      expect(root).toMatch(ADMIN_TOKEN_RE);

      const created = await keyward(["admin-token", "create", "--data-dir", dataDir, "--name", "ci", "--scopes", "read"]);
      expect(created.code).toBe(0);
      expect(created.stdout).toMatch(/^kwa_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}\n$/);
      const readToken = created.stdout.trim();

      const reader = adminApi(server.url, readToken);
      const list = await reader.listProviderKeys();
      expect(list.status).toBe(200);
      expect(list.body.data).toEqual([]);
      const write = await reader.createProviderKey({ name: "nope", provider: "openai", key: "sk-nope-0123456789" });
      expect(write.status).toBe(403);
      expect((write.body as unknown as { error: { code: string } }).error.code).toBe("forbidden");

      const admin = await keyward(["admin-token", "create", "--data-dir", dataDir, "--name", "ops", "--scopes", "admin"]);
      expect(admin.code).toBe(0);
      const writer = adminApi(server.url, admin.stdout.trim());
      const ok = await writer.createProviderKey({ name: "openai-cli", provider: "openai", key: "sk-cli-0123456789" });
      expect(ok.status).toBe(201);

      // The audit log names the CLI as the actor.
      const audit = await adminApi(server.url, root).audit();
      const cliCreates = audit.body.data.filter((e) => e.action === "admin_token.create" && e.actor_id === "cli");
      expect(cliCreates).toHaveLength(2);
      expect(audit.text).not.toContain(readToken);
    } finally {
      expect(await server.stop("SIGTERM")).toBe(0);
    }
  });

  test("bad scopes exit 2 naming --scopes and write no token", async () => {
    const dataDir = join(tempDir(), "data");
    for (const scopes of ["read,bogus", "everything"]) {
      const result = await keyward(["admin-token", "create", "--data-dir", dataDir, "--name", "ci", "--scopes", scopes]);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe("");
      const stderr = result.stderr.trimEnd();
      expect(stderr.split("\n")).toHaveLength(1);
      expect(stderr).toContain("--scopes");
    }
    const missing = await keyward(["admin-token", "create", "--data-dir", dataDir, "--name", "ci"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("--scopes");
  });

  test("generate prints a valid token and creates no files", async () => {
    const cwd = tempDir();
    const before = readdirSync(cwd);
    const result = await runKeyward([bin, "admin-token", "generate"], { cwd });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^kwa_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}\n$/);
    expect(parseKey("admin", result.stdout.trim())).not.toBeNull();
    expect(result.stderr).toBe("");
    expect(readdirSync(cwd)).toEqual(before);
    expect(readdirSync(dir)).toEqual(["keyward"]);
    const second = await runKeyward([bin, "admin-token", "generate"], { cwd });
    expect(second.stdout).not.toBe(result.stdout);
  });
});
