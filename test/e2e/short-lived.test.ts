/**
 * Short-lived means short-lived, on the wall clock: a 2-second key works,
 * then fails on the first request after it expires. And minting for CI is
 * cheap: 100 keys one after another through the API, argon2 included (the
 * figure is printed, not asserted).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TestClock, createTestApp, type TestApp } from "../helpers/app.ts";
import { startMockProvider, type MockProvider } from "../helpers/mock-provider.ts";
import { chatBody, expectProxyError, fetchText } from "../helpers/proxy.ts";

/** The real time: expiry here is a real wait, not a clock jump. */
class WallClock extends TestClock {
  override now(): number {
    return Date.now();
  }
}

let t: TestApp;
let mock: MockProvider;
let server: ReturnType<typeof Bun.serve>;
let url = "";
let issuerToken = "";

beforeAll(async () => {
  mock = await startMockProvider();
  t = await createTestApp({ clock: new WallClock() });
  server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (r) => t.app.handle(r) });
  url = `http://127.0.0.1:${server.port}`;
  const pk = await t.call("POST", "/api/provider-keys", { name: "openai-ci", provider: "openai", key: "sk-ci-0123456789abcdef", base_url: mock.baseUrl });
  const token = await t.call("POST", "/api/admin-tokens", {
    name: "ci",
    scopes: ["keys:issue"],
    policy: { provider_key_ids: [pk.json.id], max_ttl_seconds: 3600, max_budget_usd: 1, name_prefix: "ci-" },
  });
  issuerToken = token.json.token;
});

afterAll(async () => {
  await server.stop(true);
  await mock.stop();
  await t.cleanup();
});

function mint(body: Record<string, unknown>) {
  return fetch(`${url}/api/proxy-keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${issuerToken}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

const use = (key: string) =>
  fetchText(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: chatBody(),
  });

describe("short-lived keys", () => {
  test("a key with ttl_seconds 2 works, then fails on the first request after expiry", async () => {
    const res = await mint({ provider_key: "openai-ci", ttl_seconds: 2 });
    expect(res.status).toBe(201);
    const minted = (await res.json()) as { key: string; expires_at: string };
    expect((await use(minted.key)).status).toBe(200);
    expect((await use(minted.key)).status).toBe(200);
    const wait = Date.parse(minted.expires_at) - Date.now();
    expect(wait).toBeLessThanOrEqual(2000);
    await Bun.sleep(Math.max(0, wait) + 50);
    const body = expectProxyError(await use(minted.key), 401, "invalid_api_key");
    expect(body.error.message).toContain("expired");
    expect(mock.requests).toHaveLength(2);
  });

  test("minting 100 keys one after another through the API (figure printed)", async () => {
    const started = performance.now();
    for (let i = 0; i < 100; i++) {
      const res = await mint({ provider_key: "openai-ci", ttl_seconds: 600 });
      if (res.status !== 201) throw new Error(`mint ${i}: ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
    }
    const elapsed = performance.now() - started;
    console.log(
      `[mint-bench] 100 keys minted sequentially over HTTP (keys:issue token, argon2id m=19456 t=2 p=1): ${elapsed.toFixed(0)} ms total, ${(elapsed / 100).toFixed(1)} ms per key`,
    );
    const listed = await t.call("GET", "/api/proxy-keys?limit=200");
    expect(listed.json.data.length).toBeGreaterThanOrEqual(100);
  });
});
