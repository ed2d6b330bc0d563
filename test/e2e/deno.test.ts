/**
 * keyward under Deno (`deno run -A src/main.ts`) serves the same admin API,
 * and the compiled Bun binary and Deno read and write the same data dir:
 * one SQLite file format, one master key check, on both runtimes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { adminApi, ADMIN_TOKEN_RE, PROXY_KEY_RE } from "../helpers/admin-api.ts";
import { buildBinary, REPO_ROOT, startKeyward, type RunningBinary } from "../helpers/binary.ts";

const deno = Bun.which("deno");
if (!deno) {
  console.warn("\n!!! deno is not on PATH: SKIPPING the Deno end-to-end tests. Install it with `npm install -g deno` (.ci/run does). !!!\n");
}

const started: RunningBinary[] = [];
let tmp = "";
let dataDir = "";
let bin = "";

// Deno may compile and cache on its first run; allow more than the default 30 s to listen.
const START_TIMEOUT_MS = 120_000;

async function startDeno(): Promise<RunningBinary> {
  const running = await startKeyward(
    [deno as string, "run", "-A", join(REPO_ROOT, "src/main.ts"), "serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", dataDir],
    { cwd: REPO_ROOT, timeoutMs: START_TIMEOUT_MS },
  );
  started.push(running);
  return running;
}

async function startBinary(): Promise<RunningBinary> {
  const running = await startKeyward([bin, "serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", dataDir], {
    cwd: tmp,
  });
  started.push(running);
  return running;
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "keyward-deno-"));
  dataDir = join(tmp, "data");
  if (deno) bin = await buildBinary();
});

afterAll(() => {
  for (const running of started) {
    if (running.proc.exitCode === null) running.proc.kill("SIGKILL");
  }
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe.skipIf(!deno)("Deno runtime and the Bun binary share one data dir", () => {
  let rootToken = "";
  let denoProviderKeyId = "";
  let denoProxyKeyId = "";
  let bunProviderKeyId = "";
  let bunProxyKeyId = "";

  test(
    "deno run -A src/main.ts serves the admin API",
    async () => {
      const server = await startDeno();
      try {
        expect(server.stderr()).toContain('"runtime":"deno"');
        const token = server.rootToken();
        expect(token).toMatch(ADMIN_TOKEN_RE);
        rootToken = token as string;
        expect(statSync(join(dataDir, "master.key")).mode & 0o777).toBe(0o600);
        expect(statSync(join(dataDir, "keyward.db")).mode & 0o777).toBe(0o600);

        expect(await (await fetch(`${server.url}/healthz`)).json()).toEqual({ status: "ok" });
        expect(await (await fetch(`${server.url}/readyz`)).json()).toEqual({ status: "ready" });
        const spec = await fetch(`${server.url}/docs/json`);
        expect(spec.status).toBe(200);
        expect(Object.keys(((await spec.json()) as { paths: object }).paths)).toContain("/api/proxy-keys");

        const api = adminApi(server.url, rootToken);
        const provider = await api.createProviderKey({ name: "openai-deno", provider: "openai", key: "sk-deno-0123456789abcd" });
        expect(provider.status).toBe(201);
        expect(provider.body.key_hint).toEndWith("abcd");
        denoProviderKeyId = provider.body.id;
        const proxy = await api.mintProxyKey({ name: "from-deno", provider_key_id: denoProviderKeyId });
        expect(proxy.status).toBe(201);
        expect(proxy.body.key).toMatch(PROXY_KEY_RE);
        denoProxyKeyId = proxy.body.id;
        expect((await api.listProxyKeys()).body.data.map((k) => k.id)).toEqual([denoProxyKeyId]);
      } finally {
        expect(await server.stop("SIGTERM")).toBe(0);
      }
    },
    START_TIMEOUT_MS + 60_000,
  );

  test("the compiled binary opens the Deno-written data dir and sees its keys", async () => {
    const server = await startBinary();
    try {
      expect(server.stderr()).toContain('"runtime":"bun"');
      // Same database, same master key (from master.key): no new root token, the old one works.
      expect(server.rootToken()).toBeUndefined();
      const api = adminApi(server.url, rootToken);
      const providers = await api.listProviderKeys();
      expect(providers.status).toBe(200);
      expect(providers.body.data).toEqual([expect.objectContaining({ id: denoProviderKeyId, name: "openai-deno", key_hint: "sk-…abcd" })]);
      const proxies = await api.listProxyKeys();
      expect(proxies.body.data).toEqual([
        expect.objectContaining({ id: denoProxyKeyId, name: "from-deno", status: "active", provider_key_id: denoProviderKeyId }),
      ]);

      // Write from Bun for the way back: a second provider key (sealed under the same master key),
      // a proxy key, and a revocation of Deno's proxy key.
      const provider = await api.createProviderKey({ name: "anthropic-bun", provider: "anthropic", key: "sk-ant-bun-0123456789wxyz" });
      expect(provider.status).toBe(201);
      bunProviderKeyId = provider.body.id;
      const proxy = await api.mintProxyKey({ name: "from-bun", provider_key_id: bunProviderKeyId });
      expect(proxy.status).toBe(201);
      bunProxyKeyId = proxy.body.id;
      expect((await api.revokeProxyKey(denoProxyKeyId, {})).status).toBe(200);
    } finally {
      expect(await server.stop("SIGTERM")).toBe(0);
    }
  });

  test(
    "Deno opens the binary-written data dir and sees its changes",
    async () => {
      const server = await startDeno();
      try {
        expect(server.rootToken()).toBeUndefined();
        const api = adminApi(server.url, rootToken);
        const providers = await api.listProviderKeys();
        expect(providers.body.data.map((k) => `${k.id} ${k.name} ${k.provider}`).sort()).toEqual(
          [`${denoProviderKeyId} openai-deno openai`, `${bunProviderKeyId} anthropic-bun anthropic`].sort(),
        );
        const proxies = await api.listProxyKeys();
        const statuses = Object.fromEntries(proxies.body.data.map((k) => [k.id, k.status]));
        expect(statuses).toEqual({ [denoProxyKeyId]: "revoked", [bunProxyKeyId]: "active" });
        const audit = await api.audit();
        const actions = audit.body.data.map((e) => e.action);
        expect(actions.filter((a) => a === "provider_key.create")).toHaveLength(2);
        expect(actions.filter((a) => a === "proxy_key.create")).toHaveLength(2);
        expect(actions).toContain("proxy_key.revoke");
        // Deno can still write under the master key the binary used.
        const more = await api.mintProxyKey({ name: "deno-again", provider_key_id: bunProviderKeyId });
        expect(more.status).toBe(201);
      } finally {
        expect(await server.stop("SIGTERM")).toBe(0);
      }
    },
    START_TIMEOUT_MS + 60_000,
  );
});
