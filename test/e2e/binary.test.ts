/**
 * The compiled binary on a "clean VM": copied alone into an empty directory,
 * started on port 0, driven over real HTTP.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { adminApi, ADMIN_TOKEN_RE, PROXY_KEY_RE, randomMasterKey } from "../helpers/admin-api.ts";
import { isolatedBinary, runKeyward, startKeyward, type RunningBinary } from "../helpers/binary.ts";

const started: RunningBinary[] = [];
const tempDirs: string[] = [];
let dir = "";
let bin = "";
let dataDir = "";

async function start(data: string, env: Record<string, string> = {}): Promise<RunningBinary> {
  const running = await startKeyward([bin, "serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", data], {
    cwd: dir,
    env,
  });
  started.push(running);
  return running;
}

const mode = (path: string) => statSync(path).mode & 0o777;
const tokensIn = (text: string) => text.match(/kwa_[0-9A-Za-z_]+/g) ?? [];

beforeAll(async () => {
  ({ dir, bin } = await isolatedBinary());
  tempDirs.push(dir);
  dataDir = join(dir, "data");
});

afterAll(() => {
  for (const running of started) {
    if (running.proc.exitCode === null) running.proc.kill("SIGKILL");
  }
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

describe("compiled binary, alone in an empty directory", () => {
  let rootToken = "";
  let providerKeyId = "";
  let proxyKeyId = "";

  test("first start creates a private data dir, prints the root token once and serves probes and docs", async () => {
    expect(readdirSync(dir)).toEqual(["keyward"]);
    const server = await start(dataDir);

    // Data dir 0700, database and generated master key 0600.
    expect(mode(dataDir)).toBe(0o700);
    expect(existsSync(join(dataDir, "keyward.db"))).toBe(true);
    expect(mode(join(dataDir, "keyward.db"))).toBe(0o600);
    expect(mode(join(dataDir, "master.key"))).toBe(0o600);
    for (const sidecar of ["keyward.db-wal", "keyward.db-shm"]) {
      if (existsSync(join(dataDir, sidecar))) expect(mode(join(dataDir, sidecar))).toBe(0o600);
    }
    // Nothing is written next to the binary but the data dir it was given.
    expect(readdirSync(dir).sort()).toEqual(["data", "keyward"]);

    // The banner goes to stdout exactly once; logs (stderr) never carry the token.
    const token = server.rootToken();
    expect(token).toMatch(ADMIN_TOKEN_RE);
    rootToken = token as string;
    expect(tokensIn(server.stdout())).toEqual([rootToken]);
    expect(server.stderr()).not.toContain(rootToken);
    expect(server.stderr()).toContain("master.key");

    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok" });
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ready" });

    const docs = await fetch(`${server.url}/docs`);
    expect(docs.status).toBe(200);
    expect(docs.headers.get("content-type")).toContain("text/html");
    const html = await docs.text();
    expect(html).toContain('id="swagger-ui"');
    expect(html).toContain("/docs/assets/swagger-ui-bundle.js");
    expect(html).not.toMatch(/https?:\/\/(?!127\.0\.0\.1)/);

    const bundle = await fetch(`${server.url}/docs/assets/swagger-ui-bundle.js`);
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get("content-type")).toContain("javascript");
    const bundleText = await bundle.text();
    expect(bundleText.length).toBeGreaterThan(100_000);
    expect(bundleText).toContain("SwaggerUIBundle");
    const css = await fetch(`${server.url}/docs/assets/swagger-ui.css`);
    expect(css.status).toBe(200);
    expect(css.headers.get("content-type")).toContain("text/css");
    expect(await css.text()).toContain(".swagger-ui");

    const spec = await fetch(`${server.url}/docs/json`);
    expect(spec.status).toBe(200);
    const openapi = (await spec.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(openapi.openapi).toMatch(/^3\./);
    expect(Object.keys(openapi.paths)).toEqual(expect.arrayContaining(["/api/provider-keys", "/api/proxy-keys", "/api/proxy-keys/{id}/revoke", "/api/audit"]));

    expect(await server.stop("SIGTERM")).toBe(0);
  });

  test("full admin flow over HTTP: provider key, proxy key, list, revoke, audit", async () => {
    const server = await start(dataDir);
    // Second start on the same data dir: no new root token.
    expect(tokensIn(server.stdout())).toEqual([]);
    expect(server.rootToken()).toBeUndefined();

    const api = adminApi(server.url, rootToken);
    expect((await api.listProviderKeys()).status).toBe(200);
    const anonymous = await api.call("GET", "/api/provider-keys", undefined, { token: null });
    expect(anonymous.status).toBe(401);

    const secret = "sk-e2e-binary-0123456789abcdefWXYZ";
    const created = await api.createProviderKey({ name: "openai-e2e", provider: "openai", key: secret });
    expect(created.status).toBe(201);
    expect(created.body.provider).toBe("openai");
    expect(created.body.base_url).toBe("https://api.openai.com/v1");
    expect(created.body.key_hint).toEndWith("WXYZ");
    expect(created.text).not.toContain(secret);
    providerKeyId = created.body.id;

    const minted = await api.mintProxyKey({ name: "alice-laptop", provider_key_id: providerKeyId, metadata: { team: "e2e" } });
    expect(minted.status).toBe(201);
    expect(minted.body.key).toMatch(PROXY_KEY_RE);
    expect(minted.body.status).toBe("active");
    expect(minted.body.key).toStartWith(`kwp_${minted.body.id}_`);
    proxyKeyId = minted.body.id;

    const providers = await api.listProviderKeys();
    expect(providers.status).toBe(200);
    expect(providers.body.data.map((k) => k.id)).toEqual([providerKeyId]);
    expect(providers.text).not.toContain(secret);

    const proxies = await api.listProxyKeys();
    expect(proxies.status).toBe(200);
    expect(proxies.body.data.map((k) => k.id)).toEqual([proxyKeyId]);
    expect(proxies.text).not.toContain(minted.body.key);

    // `{}`: bodyless POST/DELETE under /api are refused today, see the test.failing below.
    const revoked = await api.revokeProxyKey(proxyKeyId, {});
    expect(revoked.status).toBe(200);
    expect(revoked.body.status).toBe("revoked");
    expect(revoked.body.revoked_at).not.toBeNull();
    expect((await api.getProxyKey(proxyKeyId)).body.status).toBe("revoked");
    // The unfiltered list shows every key; `status` narrows it.
    const afterRevoke = await api.listProxyKeys();
    expect(afterRevoke.body.data.map((k) => `${k.id}:${k.status}`)).toEqual([`${proxyKeyId}:revoked`]);
    const activeOnly = await api.call<{ data: unknown[] }>("GET", "/api/proxy-keys?status=active");
    expect(activeOnly.status).toBe(200);
    expect(activeOnly.body.data).toEqual([]);

    const audit = await api.audit();
    expect(audit.status).toBe(200);
    const actions = audit.body.data.map((e) => `${e.action} ${e.target_id ?? ""}`);
    expect(actions).toEqual(
      expect.arrayContaining([`provider_key.create ${providerKeyId}`, `proxy_key.create ${proxyKeyId}`, `proxy_key.revoke ${proxyKeyId}`]),
    );
    expect(audit.body.data.some((e) => e.action === "admin_token.create")).toBe(true);
    expect(audit.text).not.toContain(secret);
    expect(audit.text).not.toContain(minted.body.key);
    expect(audit.text).not.toContain(rootToken);

    expect(await server.stop("SIGTERM")).toBe(0);
  });

  // KNOWN BUG (src/app.ts, not editable here): the `/api` group forces `parse: "application/json"`,
  // so a POST/DELETE with no body (curl -X POST …/revoke, Swagger UI's "Try it out" on revoke
  // and delete) gets 400 "Cannot parse request body". test/integration covers it in-process too.
  // A todo (run with `bun test --todo`) so the suite neither fails now nor when the fix lands:
  // turn it into a plain `test` once app.ts is fixed.
  test("bodyless POST …/revoke and DELETE are accepted, as curl and Swagger UI send them", async () => {
    const server = await start(dataDir);
    try {
      const api = adminApi(server.url, rootToken);
      const minted = await api.mintProxyKey({ name: "bodyless", provider_key_id: providerKeyId });
      expect(minted.status).toBe(201);
      const revoked = await api.revokeProxyKey(minted.body.id);
      const removed = await api.call<{ deleted: boolean }>("DELETE", `/api/proxy-keys/${minted.body.id}`);
      // Clean up whatever the bodyless calls could not do, so later tests see one proxy key.
      if (removed.status !== 200) await api.call("DELETE", `/api/proxy-keys/${minted.body.id}`, {});
      expect(revoked.status).toBe(200);
      expect(removed.status).toBe(200);
    } finally {
      expect(await server.stop("SIGTERM")).toBe(0);
    }
  });

  test("data survives a restart", async () => {
    const server = await start(dataDir);
    const api = adminApi(server.url, rootToken);
    const proxies = await api.listProxyKeys();
    expect(proxies.body.data).toEqual([expect.objectContaining({ id: proxyKeyId, status: "revoked", provider_key_id: providerKeyId })]);
    expect(await server.stop("SIGTERM")).toBe(0);
  });

  test("a different KEYWARD_MASTER_KEY on the same data dir is refused", async () => {
    const result = await runKeyward([bin, "serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", dataDir], {
      cwd: dir,
      env: { KEYWARD_MASTER_KEY: randomMasterKey() },
    });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/master key/i);
    expect(result.stderr).toContain("does not match");
    expect(result.stderr).not.toContain("keyward listening");
    expect(result.stdout).toBe("");
    // The refusal changed nothing: the real key still opens the database.
    const server = await start(dataDir);
    expect((await adminApi(server.url, rootToken).listProviderKeys()).body.data).toHaveLength(1);
    expect(await server.stop("SIGTERM")).toBe(0);
  });

  test("KEYWARD_ADMIN_TOKEN is registered on first start instead of a banner, and works", async () => {
    const generated = await runKeyward([bin, "admin-token", "generate"], { cwd: dir });
    expect(generated.code).toBe(0);
    const token = generated.stdout.trim();
    expect(token).toMatch(ADMIN_TOKEN_RE);

    const freshData = join(mkdtempSync(join(tmpdir(), "keyward-e2e-")), "data");
    tempDirs.push(join(freshData, ".."));
    const server = await start(freshData, { KEYWARD_ADMIN_TOKEN: token });
    expect(server.stdout()).toBe("");
    expect(server.rootToken()).toBeUndefined();
    expect(server.stderr()).toContain("Registered KEYWARD_ADMIN_TOKEN");
    expect(server.stderr()).not.toContain(token);

    const api = adminApi(server.url, token);
    expect((await api.listProviderKeys()).status).toBe(200);
    const created = await api.createProviderKey({ name: "anthropic-e2e", provider: "anthropic", key: "sk-ant-e2e-0123456789" });
    expect(created.status).toBe(201);
    const wrong = await api.call("GET", "/api/provider-keys", undefined, { token: rootToken });
    expect(wrong.status).toBe(401);
    expect(await server.stop("SIGTERM")).toBe(0);

    // Restarting with the same variable neither re-registers nor prints anything.
    const again = await start(freshData, { KEYWARD_ADMIN_TOKEN: token });
    expect(again.stdout()).toBe("");
    expect(again.stderr()).not.toContain("Registered KEYWARD_ADMIN_TOKEN");
    expect((await adminApi(again.url, token).listProviderKeys()).body.data).toHaveLength(1);
    expect(await again.stop("SIGTERM")).toBe(0);
  });

  test("SIGTERM stops the server cleanly with exit code 0", async () => {
    const server = await start(dataDir);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const code = await server.stop("SIGTERM");
    expect(code).toBe(0);
    expect(server.stderr()).toContain("Shutting down");
    expect(server.stderr()).toContain('"msg":"Stopped"');
    // The port is released.
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  });
});
