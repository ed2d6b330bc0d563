/**
 * `keyward issue` as CI runs it: a subprocess (`bun src/main.ts issue …`)
 * talking HTTP to a served keyward. `--format env` output is sourced by bash
 * and drives the official SDKs through keyward to the mock provider; exit
 * codes 2/3/4/5 tell usage, auth, policy and network failures apart.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKey, parseKey } from "../../src/vault/key-format.ts";
import { REPO_ROOT, runKeyward, type CommandResult } from "../helpers/binary.ts";
import { startOidcIssuer, type OidcIssuer } from "../helpers/oidc-issuer.ts";
import { closedPort, useProxyHarness } from "../helpers/proxy.ts";

const h = useProxyHarness();
let idp: OidcIssuer;
let issuerToken = "";
let dir = "";
let githubEndpoint: ReturnType<typeof Bun.serve>;
const githubRequests: Array<{ audience: string | null; authorization: string | null }> = [];

const MAIN = join(REPO_ROOT, "src/main.ts");
const SDK_SCRIPT = join(REPO_ROOT, "test/e2e/fixtures/sdk-from-env.ts");

/** The environment without anything that would change what the CLI or the SDKs pick up. */
function cleanEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined || /^(OPENAI_|ANTHROPIC_|KEYWARD_|ACTIONS_ID_TOKEN_|GITHUB_)/.test(name)) continue;
    env[name] = value;
  }
  return { ...env, ...extra };
}

/** `keyward issue …`; unlike runKeyward's default, the environment is only what the test gives. */
async function issue(args: string[], env: Record<string, string> = {}): Promise<CommandResult> {
  const proc = Bun.spawn(["bun", MAIN, "issue", ...args], { env: cleanEnv(env), stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

const asIssuer = (args: string[], env: Record<string, string> = {}) => issue(["--url", h.url, ...args], { KEYWARD_ISSUER_TOKEN: issuerToken, ...env });

/** One line on stderr, prefixed, and the expected exit code. */
function expectFailure(result: CommandResult, code: number, message: string | RegExp): void {
  if (result.code !== code) throw new Error(`expected exit ${code}, got ${result.code}: ${result.stderr}`);
  expect(result.stdout).toBe("");
  expect(result.stderr.trimEnd().split("\n")).toHaveLength(1);
  expect(result.stderr).toStartWith("keyward: ");
  expect(result.stderr).toMatch(message);
}

/** Sources `envText` the way a later GitHub Actions step gets $GITHUB_ENV, then runs the SDK script. */
async function sdkWith(envText: string): Promise<CommandResult> {
  const file = join(dir, `sdk-${crypto.randomUUID()}.env`);
  writeFileSync(file, envText);
  return runKeyward(["bash", "-c", 'set -a; source "$1"; set +a; exec bun "$2"', "bash", file, SDK_SCRIPT], {
    env: cleanEnv({}),
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyward-issue-"));
  idp = await startOidcIssuer();
  const openai = await h.t.call("POST", "/api/provider-keys", {
    name: "openai-ci",
    provider: "openai",
    key: "sk-openai-ci-0123456789",
    base_url: h.mock.baseUrl,
  });
  const anthropic = await h.t.call("POST", "/api/provider-keys", {
    name: "anthropic-ci",
    provider: "anthropic",
    key: "sk-ant-ci-0123456789",
    base_url: h.mock.baseUrl,
  });
  const token = await h.t.call("POST", "/api/admin-tokens", {
    name: "ci",
    scopes: ["keys:issue"],
    policy: { provider_key_ids: [openai.json.id, anthropic.json.id], max_ttl_seconds: 3600, max_budget_usd: 2, name_prefix: "ci-" },
  });
  issuerToken = token.json.token;
  const policy = await h.t.call("POST", "/api/oidc/trust-policies", {
    name: "gh-acme",
    issuer: idp.issuer,
    audience: "keyward-test",
    claims: { repository: ["acme/api"] },
    provider_key_id: openai.json.id,
    ttl_seconds: 600,
    budget_usd: 1,
  });
  if (policy.status !== 201) throw new Error(policy.text);
  // GitHub's ID-token endpoint: `GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=…` with the request token.
  githubEndpoint = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: async (request) => {
      const url = new URL(request.url);
      githubRequests.push({ audience: url.searchParams.get("audience"), authorization: request.headers.get("authorization") });
      if (request.headers.get("authorization") !== "bearer gh-request-token") return new Response("denied", { status: 403 });
      const value = await idp.token({ now: Math.floor(h.clock.now() / 1000), claims: { aud: url.searchParams.get("audience") ?? "" } });
      return Response.json({ count: 1, value });
    },
  });
});

afterAll(async () => {
  await githubEndpoint.stop(true);
  await idp.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("keyward issue with a keys:issue token", () => {
  test("--format env, sourced by bash, drives the OpenAI SDK through keyward", async () => {
    const result = await asIssuer(["--provider-key", "openai-ci", "--ttl", "15m", "--budget", "1.5", "--format", "env"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^OPENAI_API_KEY=kwp_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}$/);
    expect(lines[1]).toBe(`OPENAI_BASE_URL=${h.url}/v1`);

    h.mock.reset();
    const sdk = await sdkWith(result.stdout);
    expect(sdk.stderr).toBe("");
    expect(sdk.stdout).toBe("openai: Hello from the mock provider!\n");
    expect(h.mock.requests).toHaveLength(1);
    expect(h.mock.requests[0]?.headers.authorization).toBe("Bearer sk-openai-ci-0123456789");

    const id = parseKey("proxy", lines[0]?.slice("OPENAI_API_KEY=".length) ?? "")?.id;
    const minted = await h.t.call("GET", `/api/proxy-keys/${id}`);
    expect(minted.json).toMatchObject({ budget_usd: 1.5, expires_at: new Date(h.clock.now() + 15 * 60_000).toISOString() });
    expect(minted.json.name).toStartWith("ci-");
  });

  test("--format env for an Anthropic provider key drives the Anthropic SDK", async () => {
    const result = await asIssuer(["--provider-key", "anthropic-ci", "--format", "env"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^ANTHROPIC_API_KEY=kwp_\\w+\\nANTHROPIC_BASE_URL=${h.url.replaceAll(".", "\\.")}\\n$`));
    const sdk = await sdkWith(result.stdout);
    expect(sdk.stdout).toBe("anthropic: Hello from the mock provider!\n");
  });

  test("--format key prints the key alone; json the whole response; flags beat KEYWARD_* env", async () => {
    const key = await asIssuer(["--provider-key", "openai-ci", "--name", "ci-build-7", "--models", "gpt-4o-mini,gpt-4o"]);
    expect(key.code).toBe(0);
    expect(key.stdout).toMatch(/^kwp_\w+\n$/);
    const json = await issue(["--url", h.url, "--token", issuerToken, "--provider-key", "openai-ci", "--ttl", "90s", "--format", "json"], {
      KEYWARD_URL: "http://127.0.0.1:1",
      KEYWARD_ISSUER_TOKEN: "kwa_wrong",
    });
    expect(json.code).toBe(0);
    const body = JSON.parse(json.stdout);
    expect(body).toMatchObject({ provider: "openai", budget_usd: 2, expires_at: new Date(h.clock.now() + 90_000).toISOString() });
    expect(body.key).toMatch(/^kwp_/);
    const named = await h.t.call("GET", "/api/proxy-keys?limit=50");
    expect((named.json.data as Array<{ name: string; allowed_models: string[] }>).find((k) => k.name === "ci-build-7")?.allowed_models).toEqual([
      "gpt-4o-mini",
      "gpt-4o",
    ]);
  });

  test("inside GitHub Actions the key is masked on stderr; stdout stays clean for $GITHUB_ENV", async () => {
    const result = await asIssuer(["--provider-key", "openai-ci", "--format", "env"], { GITHUB_ACTIONS: "true" });
    expect(result.code).toBe(0);
    const key = /^OPENAI_API_KEY=(\S+)$/m.exec(result.stdout)?.[1];
    expect(result.stderr).toBe(`::add-mask::${key}\n`);
  });

  test("exit 3 when authentication fails (401)", async () => {
    expectFailure(await asIssuer(["--provider-key", "openai-ci"], { KEYWARD_ISSUER_TOKEN: generateKey("admin").token }), 3, /admin token is invalid/);
  });

  test("exit 4 when the policy refuses (403), naming the bound", async () => {
    expectFailure(await asIssuer(["--provider-key", "openai-ci", "--ttl", "2h"]), 4, "ttl_seconds 7200 exceeds this token's max_ttl_seconds 3600");
    expectFailure(await asIssuer(["--provider-key", "openai-ci", "--budget", "5"]), 4, "budget_usd 5 exceeds");
    expectFailure(await asIssuer(["--provider-key", "some-other-key"]), 4, "is not in this token's provider_key_ids");
  });

  test("exit 5 when keyward cannot be reached", async () => {
    const port = await closedPort();
    expectFailure(
      await issue(["--url", `http://127.0.0.1:${port}`, "--provider-key", "x"], { KEYWARD_ISSUER_TOKEN: issuerToken }),
      5,
      `Cannot reach keyward at http://127.0.0.1:${port}`,
    );
  });

  test("exit 2 for usage mistakes", async () => {
    expectFailure(await asIssuer([]), 2, "Missing --provider-key");
    expectFailure(await asIssuer(["--provider-key", "x", "--ttl", "soon"]), 2, "Invalid --ttl");
    expectFailure(await asIssuer(["--provider-key", "x", "--format", "yaml"]), 2, "Invalid --format");
    expectFailure(await issue(["--provider-key", "x"], { KEYWARD_ISSUER_TOKEN: issuerToken }), 2, "Missing --url");
    expectFailure(await issue(["--url", h.url, "--provider-key", "x"]), 2, "Missing --token");
    expectFailure(await asIssuer(["--oidc", "--audience", "a", "--ttl", "1h"]), 2, "Unexpected --ttl with --oidc");
  });
});

describe("keyward admin-token create --policy", () => {
  const create = (extra: string[]) =>
    runKeyward(["bun", MAIN, "admin-token", "create", "--data-dir", h.t.dataDir, "--name", "ci-host", "--scopes", "keys:issue", ...extra], {
      env: cleanEnv({}),
    });

  test("a keys:issue token made on the host needs a policy naming existing provider keys, then issues", async () => {
    const missing = await create([]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("Invalid --policy: Cannot create admin token: a keys:issue token needs a policy");
    const unknown = await create(["--policy", '{"provider_key_ids":["pk_nope"],"max_ttl_seconds":600,"max_budget_usd":1}']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("provider key pk_nope does not exist");
    expect((await create(["--policy", "[1]"])).stderr).toContain("Invalid --policy");

    const pk = h.t.store.providerKeys.byName("openai-ci");
    const made = await create(["--policy", JSON.stringify({ provider_key_ids: [pk?.id], max_ttl_seconds: 600, max_budget_usd: 1 })]);
    expect(made.code).toBe(0);
    const minted = await asIssuer(["--provider-key", "openai-ci", "--format", "json"], { KEYWARD_ISSUER_TOKEN: made.stdout.trim() });
    expect(minted.code).toBe(0);
    expect(JSON.parse(minted.stdout)).toMatchObject({ budget_usd: 1, expires_at: new Date(h.clock.now() + 600_000).toISOString() });
    expectFailure(await asIssuer(["--provider-key", "openai-ci", "--ttl", "11m"], { KEYWARD_ISSUER_TOKEN: made.stdout.trim() }), 4, "max_ttl_seconds 600");
  });
});

describe("keyward issue --oidc", () => {
  test("inside GitHub Actions: fetches the ID token for the audience, exchanges it", async () => {
    const endpoint = `http://127.0.0.1:${githubEndpoint.port}/token?api-version=2.0`;
    const result = await issue(["--oidc", "--url", h.url, "--audience", "keyward-test", "--format", "json"], {
      ACTIONS_ID_TOKEN_REQUEST_URL: endpoint,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: "gh-request-token",
    });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(githubRequests.at(-1)).toEqual({ audience: "keyward-test", authorization: "bearer gh-request-token" });
    const body = JSON.parse(result.stdout);
    expect(body).toMatchObject({ provider: "openai", budget_usd: 1, metadata: { repository: "acme/api", run_id: "987654321" } });
    const sdk = await sdkWith(`OPENAI_API_KEY=${body.key}\nOPENAI_BASE_URL=${h.url}/v1\n`);
    expect(sdk.stdout).toBe("openai: Hello from the mock provider!\n");
  });

  test("--id-token-env reads the token from a variable (GitLab's id_tokens)", async () => {
    const jwt = await idp.token({ now: Math.floor(h.clock.now() / 1000) });
    const result = await issue(["--oidc", "--url", h.url, "--id-token-env", "KEYWARD_ID_TOKEN", "--format", "env"], {
      KEYWARD_ID_TOKEN: jwt,
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^OPENAI_API_KEY=kwp_\w+\nOPENAI_BASE_URL=/);
  });

  test("a token no policy accepts: exit 4; a bad token: exit 3; no token source: exit 2", async () => {
    const now = Math.floor(h.clock.now() / 1000);
    expectFailure(
      await issue(["--oidc", "--url", h.url, "--audience", "keyward-test", "--id-token-env", "T"], {
        T: await idp.token({ now, claims: { repository: "evil/api" } }),
      }),
      4,
      'claim repository is "evil/api"',
    );
    expectFailure(
      await issue(["--oidc", "--url", h.url, "--audience", "keyward-test", "--id-token-env", "T"], {
        T: await idp.token({ now, claims: { exp: now - 3600, iat: now - 4000, nbf: now - 4000 } }),
      }),
      3,
      "token has expired",
    );
    expectFailure(await issue(["--oidc", "--url", h.url, "--audience", "keyward-test"]), 2, "ACTIONS_ID_TOKEN_REQUEST_URL");
  });
});
