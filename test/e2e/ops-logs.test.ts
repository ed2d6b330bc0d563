/**
 * Logs of the real binary: one access line per request (admin, docs, probes,
 * metrics and proxy) with request id, method, path without query, status,
 * latency, key id and client; `x-keyward-request-id` on every response (and
 * `x-request-id`, unless a provider answered with its own); the level and
 * format flags; and a run that exercises everything (provider keys, proxy
 * keys in every header, admin tokens from the API and the CLI, an OIDC
 * exchange, metrics, streams, mistakes) whose logs hold no secret at all.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn } from "bun";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseKey } from "../../src/vault/key-format.ts";
import { runKeyward } from "../helpers/binary.ts";
import { startMockProvider, type MockProvider } from "../helpers/mock-provider.ts";
import { startOidcIssuer, type OidcIssuer } from "../helpers/oidc-issuer.ts";
import { jsonLines, Leftovers, opsBinary, startServe, type OpsBinary } from "../helpers/ops.ts";
import { chatBody, closedPort } from "../helpers/proxy.ts";

const left = new Leftovers();
let binary: OpsBinary;
let mock: MockProvider;
let idp: OidcIssuer;

beforeAll(async () => {
  binary = await opsBinary(left);
  mock = await startMockProvider({ chunks: 3 });
  idp = await startOidcIssuer();
});

afterAll(async () => {
  await left.cleanupAll();
  await mock.stop();
  await idp.stop();
});

interface Sent {
  id: string;
  method: string;
  /** What the access line must show: the path without its query string. */
  path: string;
  status: number;
  keyId: string | null;
  echoed: string | null;
}

describe("access log and request ids", () => {
  test("everything exercised: one access line per request, x-keyward-request-id everywhere, no secret in any log", async () => {
    const dataDir = join(left.dir(), "data");
    const rootToken = (await runKeyward([binary.bin, "admin-token", "generate"], { cwd: binary.dir })).stdout.trim();
    const metricsToken = `metrics-${crypto.randomUUID()}`;
    const { server } = await startServe(left, binary, dataDir, {
      token: rootToken,
      env: { KEYWARD_ADMIN_TOKEN: rootToken, KEYWARD_METRICS_TOKEN: metricsToken, KEYWARD_LOG_LEVEL: "debug" },
    });
    const rootId = parseKey("admin", rootToken)?.id ?? "";
    const secrets: Record<string, string> = { "root admin token": rootToken, "metrics token": metricsToken };
    const addKey = (label: string, token: string) => {
      secrets[label] = token;
      secrets[`${label} (secret part)`] = token.slice(token.lastIndexOf("_") + 1);
    };
    addKey("root admin token", rootToken);

    const sent: Sent[] = [];
    let n = 0;
    const call = async (
      method: string,
      path: string,
      opts: { token?: string | null; body?: unknown; headers?: Record<string, string>; keyId?: string | null; requestId?: string } = {},
    ) => {
      const id = opts.requestId ?? `t-${++n}`;
      const headers: Record<string, string> = { "x-request-id": id, ...opts.headers };
      const token = opts.token === undefined ? rootToken : opts.token;
      if (token !== null) headers.authorization = `Bearer ${token}`;
      if (opts.body !== undefined) headers["content-type"] = "application/json";
      const response = await fetch(`${server.url}${path}`, {
        method,
        headers,
        body: opts.body === undefined ? undefined : typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body),
      });
      const text = await response.text();
      sent.push({
        id,
        method,
        path: path.split("?")[0] as string,
        status: response.status,
        keyId: opts.keyId === undefined ? (token === rootToken ? rootId : null) : opts.keyId,
        // keyward's own id; a forwarded answer's x-request-id is the provider's.
        echoed: response.headers.get("x-keyward-request-id"),
      });
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(text) as Record<string, unknown>;
      } catch {
        // Not JSON (docs, metrics, streams).
      }
      return { status: response.status, json, text };
    };

    // Probes, docs, metrics.
    expect((await call("GET", "/healthz", { token: null })).status).toBe(200);
    expect((await call("GET", "/readyz", { token: null })).status).toBe(200);
    expect((await call("GET", "/docs", { token: null })).status).toBe(200);
    expect((await call("GET", "/docs/json", { token: null })).status).toBe(200);
    expect((await call("GET", "/metrics", { token: null })).status).toBe(401);
    expect((await call("GET", "/metrics", { token: metricsToken, keyId: null })).status).toBe(200);

    // Provider keys (one replaced in place), proxy keys, admin tokens.
    const openaiSecret = `sk-proj-LOGSCAN-${crypto.randomUUID()}`;
    secrets["openai provider key"] = openaiSecret;
    const provider = await call("POST", "/api/provider-keys", {
      body: { name: "logscan-openai", provider: "openai", key: openaiSecret, base_url: mock.baseUrl },
    });
    expect(provider.status).toBe(201);
    const providerKeyId = String(provider.json.id);
    const anthropicSecret = `sk-ant-LOGSCAN-${crypto.randomUUID()}`;
    secrets["anthropic provider key"] = anthropicSecret;
    const anthropic = await call("POST", "/api/provider-keys", {
      body: { name: "logscan-anthropic", provider: "anthropic", key: anthropicSecret, base_url: mock.baseUrl },
    });
    expect(anthropic.status).toBe(201);
    const replacement = `sk-proj-LOGSCAN-NEW-${crypto.randomUUID()}`;
    secrets["replaced provider key"] = replacement;
    expect((await call("PATCH", `/api/provider-keys/${providerKeyId}`, { body: { key: replacement } })).status).toBe(200);

    const minted = await call("POST", "/api/proxy-keys", { body: { name: "alice", provider_key_id: providerKeyId } });
    expect(minted.status).toBe(201);
    const alice = String(minted.json.key);
    const aliceId = String(minted.json.id);
    addKey("proxy key alice", alice);
    const claude = await call("POST", "/api/proxy-keys", { body: { name: "claude", provider_key_id: String(anthropic.json.id) } });
    const claudeKey = String(claude.json.key);
    addKey("proxy key claude", claudeKey);

    const reader = await call("POST", "/api/admin-tokens", { body: { name: "reader", scopes: ["read"] } });
    expect(reader.status).toBe(201);
    const readerToken = String(reader.json.token);
    addKey("reader admin token", readerToken);
    expect((await call("GET", "/api/proxy-keys", { token: readerToken, keyId: String(reader.json.id) })).status).toBe(200);
    expect(
      (
        await call("POST", "/api/provider-keys", {
          token: readerToken,
          keyId: String(reader.json.id),
          body: { name: "x", provider: "openai", key: "sk-x-0123456789" },
        })
      ).status,
    ).toBe(403);
    const cli = await runKeyward([binary.bin, "admin-token", "create", "--data-dir", dataDir, "--name", "cli", "--scopes", "read"], { cwd: binary.dir });
    const cliToken = cli.stdout.trim();
    addKey("CLI admin token", cliToken);
    expect((await call("GET", "/api/audit", { token: cliToken, keyId: parseKey("admin", cliToken)?.id ?? "" })).status).toBe(200);
    // A wrong token is refused and named by nobody; a full key pasted into a path is cut to its id.
    expect((await call("GET", "/api/proxy-keys", { token: `${readerToken.slice(0, -3)}AAA`, keyId: null })).status).toBe(401);
    expect((await call("GET", `/api/proxy-keys/${alice}`)).status).toBe(404);

    // Proxy traffic: every credential header, a stream, the query string, mistakes, a revoked key.
    const ok = await call("POST", "/v1/chat/completions?trace=abc", { token: alice, keyId: aliceId, body: chatBody() });
    expect(ok.status).toBe(200);
    expect((await call("POST", "/v1/chat/completions", { token: null, keyId: aliceId, headers: { "x-api-key": alice }, body: chatBody() })).status).toBe(200);
    expect(
      (await call("POST", "/v1/chat/completions", { token: null, keyId: aliceId, headers: { "api-key": alice }, body: chatBody({ stream: true }) })).status,
    ).toBe(200);
    expect(
      (
        await call("POST", "/v1/messages", {
          token: claudeKey,
          keyId: String(claude.json.id),
          headers: { "anthropic-version": "2023-06-01" },
          body: { model: "claude-sonnet-4-6", max_tokens: 10, messages: [{ role: "user", content: "hi" }] },
        })
      ).status,
    ).toBe(200);
    expect((await call("GET", `/v1/models?api_key=${alice}`, { token: null, keyId: null })).status).toBe(401);
    expect((await call("POST", "/v1/chat/completions", { token: `${alice.slice(0, -8)}AAAAAAAA`, keyId: null, body: chatBody() })).status).toBe(401);
    expect((await call("POST", "/v1", { token: alice, keyId: null, body: chatBody() })).status).toBe(404);
    expect((await call("POST", `/api/proxy-keys/${aliceId}/revoke`, { body: {} })).status).toBe(200);
    expect((await call("POST", "/v1/chat/completions", { token: alice, keyId: null, body: chatBody() })).status).toBe(401);

    // OIDC: a trust policy, an exchange with a signed ID token, and the minted key in use.
    expect(
      (
        await call("POST", "/api/oidc/trust-policies", {
          body: {
            name: "ci",
            issuer: idp.issuer,
            audience: "keyward-test",
            claims: { repository: ["acme/api"] },
            provider_key_id: providerKeyId,
            ttl_seconds: 600,
            budget_usd: 1,
          },
        })
      ).status,
    ).toBe(201);
    const idToken = await idp.token({ now: Math.floor(Date.now() / 1000) });
    secrets["OIDC ID token"] = idToken;
    secrets["OIDC ID token signature"] = idToken.split(".")[2] as string;
    const exchanged = await call("POST", "/api/oidc/exchange", { token: idToken, keyId: null });
    expect(exchanged.status, exchanged.text).toBe(201);
    const ciKey = String(exchanged.json.key);
    addKey("OIDC-minted proxy key", ciKey);
    expect((await call("POST", "/v1/chat/completions", { token: ciKey, keyId: String(exchanged.json.id), body: chatBody() })).status).toBe(200);
    expect((await call("POST", "/api/oidc/exchange", { token: idToken, keyId: null })).status).toBe(401);

    // Request ids: a malformed one is replaced, not echoed.
    const longId = "x".repeat(65);
    expect((await call("GET", "/healthz", { token: null, requestId: longId })).status).toBe(200);

    expect(await server.stop("SIGTERM")).toBe(0);
    const stderr = server.stderr();
    const lines = jsonLines(stderr);
    const access = lines.filter((l) => l.msg === "request");

    for (const s of sent) {
      if (s.id === longId) {
        expect(s.echoed).toMatch(/^[0-9a-f-]{36}$/);
        const line = access.find((l) => l.request_id === s.echoed);
        expect(line?.path).toBe("/healthz");
        continue;
      }
      expect(s.echoed, `${s.method} ${s.path} answers with x-keyward-request-id`).toBe(s.id);
      const matching = access.filter((l) => l.request_id === s.id);
      expect(matching, `one access line for ${s.method} ${s.path}`).toHaveLength(1);
      const line = matching[0] as Record<string, unknown>;
      expect(line).toMatchObject({ level: "info", method: s.method, status: s.status, key_id: s.keyId, client: "127.0.0.1" });
      expect(typeof line.latency_ms).toBe("number");
      expect(String(line.path)).not.toContain("?");
      expect(line.path).toBe(s.path.includes("kwp_") ? `/api/proxy-keys/kwp_${aliceId}_…` : s.path);
    }
    // Nothing else produced access lines (the CLI command talks to the file, not to the server).
    expect(access).toHaveLength(sent.length);
    // The request log ran in its worker inside the binary (an extra entrypoint), with no fallback.
    expect(lines.filter((l) => l.msg === "Request log moves to the server thread")).toEqual([]);
    // So did argon2 (every new key's first request verified there), also an extra entrypoint.
    expect(lines.filter((l) => l.msg === "argon2 verifications move to the runtime's threads at normal priority")).toEqual([]);

    const everything = `${stderr}\n${server.stdout()}\n${cli.stderr}`;
    const leaks = Object.entries(secrets)
      .filter(([, secret]) => everything.includes(secret))
      .map(([label]) => label);
    expect(leaks).toEqual([]);
    // The scan can see: ids are in there.
    expect(everything).toContain(aliceId);
    expect(everything).toContain(rootId);
  });

  test("a flood of refused keys: at most 20 access lines a second, the rest counted in a warn line; other lines all kept", async () => {
    const { server } = await startServe(left, binary, join(left.dir(), "data"));
    const flood = Array.from({ length: 120 }, (_, i) => `flood-${i}`);
    const answers = await Promise.all(
      flood.map((id) =>
        fetch(`${server.url}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer kwp_${"A".repeat(12)}_${"b".repeat(38)}`, "content-type": "application/json", "x-request-id": id },
          body: chatBody(),
        }).then((r) => r.status),
      ),
    );
    expect(new Set(answers)).toEqual(new Set([401]));
    const health = await fetch(`${server.url}/healthz`, { headers: { "x-request-id": "after-flood" } });
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok" });
    expect(await server.stop("SIGTERM")).toBe(0);

    const lines = jsonLines(server.stderr());
    const written = lines.filter((l) => l.msg === "request" && flood.includes(String(l.request_id)));
    const counted = lines.filter((l) => l.msg === "Refused requests beyond the access-line limit");
    expect(counted.length).toBeGreaterThan(0);
    expect(counted.every((l) => l.level === "warn" && l.limit_per_second === 20)).toBe(true);
    // Nothing lost: each refusal has its own line or is in a count.
    expect(written.length + counted.reduce((sum, l) => sum + Number(l.refused), 0)).toBe(flood.length);
    // At most 20 lines per one-second window: one window per count line, plus one that may have stayed under the limit.
    expect(written.length).toBeLessThanOrEqual(20 * counted.length + 20);
    expect(lines.filter((l) => l.msg === "request" && l.request_id === "after-flood")).toHaveLength(1);
  });

  test("--log-level warn drops access lines; responses still carry x-request-id", async () => {
    // At warn the "listening" line is not logged either: pick the port up front.
    const port = await closedPort();
    const proc = spawn([binary.bin, "serve", "--port", String(port), "--host", "127.0.0.1", "--data-dir", join(left.dir(), "data"), "--log-level", "warn"], {
      cwd: binary.dir,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const stderr = new Response(proc.stderr).text();
    try {
      let response: Response | undefined;
      for (let i = 0; i < 200 && !response; i++) {
        response = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
        if (!response) await Bun.sleep(25);
      }
      expect(response?.status).toBe(200);
      expect(response?.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    }
    const text = await stderr;
    expect(text).not.toContain('"msg":"request"');
    expect(text).not.toContain("keyward listening");
  });

  test("--log-format pretty writes key=value access lines", async () => {
    const { server } = await startServe(left, binary, join(left.dir(), "data"), { args: ["--log-format", "pretty"] });
    await (await fetch(`${server.url}/readyz?x=1`, { headers: { "x-request-id": "pretty-1" } })).text();
    expect(await server.stop("SIGTERM")).toBe(0);
    expect(server.stderr()).toMatch(/ INFO  request request_id=pretty-1 method=GET path=\/readyz status=200 latency_ms=\d+ key_id=null client=127\.0\.0\.1/);
  });

  test("--log-format auto (the default) is pretty when stderr is a terminal", async () => {
    const script = Bun.which("script");
    if (!script) {
      console.warn("!!! `script` (util-linux) is missing: skipping the terminal check");
      return;
    }
    const dataDir = join(left.dir(), "data");
    // Unsupervised (BUN_CONFIG_MAX_HTTP_REQUESTS set), so keyward.pid names the one process to stop.
    const command = `exec ${binary.bin} serve --port 0 --host 127.0.0.1 --data-dir ${dataDir}`;
    const proc = spawn([script, "-qfec", command, "/dev/null"], {
      cwd: binary.dir,
      env: { ...process.env, BUN_CONFIG_MAX_HTTP_REQUESTS: "1024" },
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
    let out = "";
    const reader = (async () => {
      for await (const chunk of proc.stdout) out += new TextDecoder().decode(chunk);
    })();
    try {
      for (let i = 0; i < 300 && !/keyward listening url=/.test(out); i++) await Bun.sleep(20);
      expect(out).toMatch(/INFO  keyward listening url=http:\/\/127\.0\.0\.1:\d+/);
      expect(out).not.toContain('"msg":"keyward listening"');
    } finally {
      const pid = Number(readFileSync(join(dataDir, "keyward.pid"), "utf8"));
      process.kill(pid, "SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      await proc.exited;
      clearTimeout(timer);
      await reader;
    }
  });
});
