/**
 * Budgets shared by instances on one PostgreSQL: each spends within a slice
 * the database grants under a row lock, so concurrent requests at a budget's
 * edge spread over three instances never spend past it, and an instance
 * killed while holding a slice loses that slice, never more.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import type { RunningServer } from "../../src/server.ts";
import { adminApi } from "../helpers/admin-api.ts";
import { newCluster, startInstance, stopCluster } from "../helpers/cluster.ts";
import { startMockProvider, type MockProvider } from "../helpers/mock-provider.ts";
import { createDatabase, databaseUrl, startPostgresServer, usePostgres, type PostgresServer } from "../helpers/postgres.ts";

// gpt-4o-mini: $0.15 in, $0.60 out per million tokens.
const PROMPT = "x".repeat(3_000);
const MAX_TOKENS = 1_000;
const USAGE = { input: 3_000, output: MAX_TOKENS, cached: 0, cacheCreation: 0 };
const COST = 450 + 600;
const BUDGET_MICROS = 11_000;
const REQUESTS = 60;

function chat(server: { url: string }, key: string): Promise<Response> {
  return fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: PROMPT }], max_tokens: MAX_TOKENS }),
  });
}

async function outcome(response: Promise<Response>): Promise<string> {
  const answer = await response;
  const body = (await answer.json()) as { error?: { code: string } };
  return answer.status === 200 ? "ok" : `${answer.status} ${body.error?.code ?? ""}`;
}

/** Closed spend plus every open slice's use, as PostgreSQL holds them. */
async function spentInDatabase(url: string, keyId: string): Promise<{ closed: number; open: number; granted: number }> {
  const sql = postgres(url, { onnotice: () => {}, max: 1 });
  try {
    const [key] = await sql<{ spend: string }[]>`SELECT spend_micros::text AS spend FROM proxy_keys WHERE id = ${keyId}`;
    const [leases] = await sql<{ used: string; granted: string }[]>`
      SELECT coalesce(sum(used_micros), 0)::text AS used, coalesce(sum(granted_micros), 0)::text AS granted FROM budget_leases WHERE subject_id = ${keyId}`;
    return { closed: Number(key?.spend ?? 0), open: Number(leases?.used ?? 0), granted: Number(leases?.granted ?? 0) };
  } finally {
    await sql.end();
  }
}

describe("a budget shared by three instances", () => {
  const pg = usePostgres();
  const cluster = newCluster();
  let mock: MockProvider;
  let servers: RunningServer[];

  beforeAll(async () => {
    mock = await startMockProvider({ usage: USAGE });
    servers = await Promise.all([0, 1, 2].map(() => startInstance(cluster, pg.url)));
  });
  afterAll(async () => {
    await stopCluster(cluster);
    await mock.stop();
  });

  test("60 concurrent requests at the edge, spread over three instances: spend stays within the budget", async () => {
    const [a] = servers as [RunningServer];
    const admin = adminApi(a.url, cluster.adminToken);
    const provider = await admin.createProviderKey({ name: "mock", provider: "openai", key: "sk-mock-provider-key-123456", base_url: mock.baseUrl });
    const key = await admin.call<{ id: string; key: string }>("POST", "/api/proxy-keys", {
      name: "edge",
      provider_key_id: provider.body.id,
      budget_usd: BUDGET_MICROS / 1e6,
    });
    expect(key.status).toBe(201);

    const outcomes = await Promise.all(Array.from({ length: REQUESTS }, (_, i) => outcome(chat(servers[i % 3] as RunningServer, key.body.key))));
    const succeeded = outcomes.filter((o) => o === "ok").length;
    const refused = outcomes.filter((o) => o === "429 insufficient_quota").length;
    // Nothing but answers and budget refusals: no 503 while slices are widened.
    expect(outcomes.filter((o) => o !== "ok" && o !== "429 insufficient_quota")).toEqual([]);
    expect(succeeded + refused).toBe(REQUESTS);
    expect(succeeded * COST).toBeLessThanOrEqual(BUDGET_MICROS);
    expect(succeeded).toBeGreaterThanOrEqual(5);
    // Refused requests never reached the provider.
    expect(mock.billed().length).toBe(succeeded);

    // Each instance reports what it spent every second: then every instance shows the key's whole spend.
    await Bun.sleep(1500);
    const shown = await Promise.all(
      servers.map(
        async (server) => (await adminApi(server.url, cluster.adminToken).call<{ spend_usd: number }>("GET", `/api/proxy-keys/${key.body.id}`)).body.spend_usd,
      ),
    );
    expect(shown.map((usd) => Math.round(usd * 1e6))).toEqual([succeeded * COST, succeeded * COST, succeeded * COST]);

    // While running, closed spend plus the open slices never pass the budget; after the instances stop, the slices are closed into spend.
    const open = await spentInDatabase(pg.url, key.body.id);
    expect(open.closed + open.granted).toBeLessThanOrEqual(BUDGET_MICROS);
    await stopCluster(cluster);
    cluster.servers.length = 0;
    const closed = await spentInDatabase(pg.url, key.body.id);
    expect(closed).toEqual({ closed: succeeded * COST, open: 0, granted: 0 });
  });
});

describe("an instance killed while holding a slice", () => {
  const pg = usePostgres();
  const cluster = newCluster();
  let mock: MockProvider;
  const dirs: string[] = [];

  beforeAll(async () => {
    mock = await startMockProvider({ usage: USAGE });
  });
  afterAll(async () => {
    await stopCluster(cluster);
    await mock.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  test("kill -9 under load: after it restarts, total spend never passes the budget", async () => {
    const survivor = await startInstance(cluster, pg.url);
    const admin = adminApi(survivor.url, cluster.adminToken);
    const provider = await admin.createProviderKey({ name: "mock", provider: "openai", key: "sk-mock-provider-key-123456", base_url: mock.baseUrl });
    const key = await admin.call<{ id: string; key: string }>("POST", "/api/proxy-keys", {
      name: "crash",
      provider_key_id: provider.body.id,
      budget_usd: BUDGET_MICROS / 1e6,
    });

    // A second instance in its own process, to be killed with SIGKILL while it serves.
    const dir = mkdtempSync(join(tmpdir(), "kw-victim-"));
    dirs.push(dir);
    const child = spawn(
      process.execPath,
      ["src/main.ts", "serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", dir, "--database-url", pg.url, "--allow-http-upstreams"],
      {
        env: { ...process.env, KEYWARD_MASTER_KEY: cluster.masterKey, KEYWARD_ADMIN_TOKEN: cluster.adminToken, KEYWARD_LOG_FORMAT: "json" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const victimUrl = await new Promise<string>((resolve, reject) => {
      let text = "";
      const timer = setTimeout(() => reject(new Error(`victim did not start: ${text}`)), 20_000);
      const read = (chunk: Buffer) => {
        text += chunk.toString();
        const found = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(text);
        if (found?.[1]) {
          clearTimeout(timer);
          resolve(found[1]);
        }
      };
      child.stdout?.on("data", read);
      child.stderr?.on("data", read);
    });

    // Load on the victim, killed mid-way: some requests answered, some cut.
    const inFlight = Array.from({ length: 12 }, () => outcome(chat({ url: victimUrl }, key.body.key)).catch(() => "cut"));
    await Bun.sleep(150);
    child.kill("SIGKILL");
    await Promise.all(inFlight);

    // The survivor and a restarted instance spend the rest; the dead one's slice is taken as spent.
    const restarted = await startInstance(cluster, pg.url);
    const after = await Promise.all(Array.from({ length: 20 }, (_, i) => outcome(chat(i % 2 ? survivor : restarted, key.body.key))));
    expect(after.filter((o) => o !== "ok" && o !== "429 insufficient_quota")).toEqual([]);
    // Everything the provider billed, the victim's requests included, stays within the budget.
    expect(mock.billed().length * COST).toBeLessThanOrEqual(BUDGET_MICROS);
  });
});

describe("a budgeted key while PostgreSQL is down", () => {
  const cluster = newCluster();
  let server: PostgresServer;
  let mock: MockProvider;

  beforeAll(async () => {
    server = await startPostgresServer();
    mock = await startMockProvider({ usage: USAGE });
  });
  afterAll(async () => {
    await stopCluster(cluster);
    await mock.stop();
    await server.close();
  });

  test("spends what its slice holds, then 503: fail closed", async () => {
    const url = databaseUrl(server.url, await createDatabase(server.url));
    const instance = await startInstance(cluster, url);
    const admin = adminApi(instance.url, cluster.adminToken);
    const provider = await admin.createProviderKey({ name: "mock", provider: "openai", key: "sk-mock-provider-key-123456", base_url: mock.baseUrl });
    const key = await admin.call<{ id: string; key: string }>("POST", "/api/proxy-keys", {
      name: "down",
      provider_key_id: provider.body.id,
      budget_usd: BUDGET_MICROS / 1e6,
    });
    // The first request is granted a slice: about half of the budget.
    expect(await outcome(chat(instance, key.body.key))).toBe("ok");

    await server.stop();
    const during: string[] = [];
    for (let i = 0; i < 10 && during.at(-1) !== "503 service_unavailable"; i++) during.push(await outcome(chat(instance, key.body.key)));
    // Within the freshness bound: the slice's worth, then refused with 503, not 429: the budget may have room, the database cannot say.
    expect(during.at(-1)).toBe("503 service_unavailable");
    expect(during.filter((o) => o === "ok").length).toBeGreaterThan(0);
    expect((1 + during.filter((o) => o === "ok").length) * COST).toBeLessThanOrEqual(BUDGET_MICROS);
    expect(mock.billed().length).toBe(1 + during.filter((o) => o === "ok").length);
  });
});
