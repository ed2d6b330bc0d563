/**
 * A Deno instance in a PostgreSQL cluster: `deno run -A src/main.ts serve
 * --database-url …` (postgres.js from npm, the mirror on node:sqlite, LISTEN
 * for the change log) next to a Bun instance (`bun src/main.ts serve`) on
 * one fresh database. Both are child processes with the same defaults, as two
 * hosts would run them; what one writes is in force on the other from its
 * next request.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres, { type Sql } from "postgres";
import { CHANGES_CHANNEL } from "../../src/db/cluster/sync.ts";
import { generateKey } from "../../src/vault/key-format.ts";
import { adminApi, randomMasterKey } from "../helpers/admin-api.ts";
import { REPO_ROOT, startKeyward, type RunningBinary } from "../helpers/binary.ts";
import { denoOrWarn, startKeywardOnDeno, type KeywardOnDeno } from "../helpers/deno.ts";
import { startMockProvider, type MockProvider } from "../helpers/mock-provider.ts";
import { usePostgres } from "../helpers/postgres.ts";

const deno = denoOrWarn("Deno cluster test");

const pg = usePostgres();
const masterKey = randomMasterKey();
const adminToken = generateKey("admin").token;
const env = { KEYWARD_MASTER_KEY: masterKey, KEYWARD_ADMIN_TOKEN: adminToken };
let bunDir = "";
let mock: MockProvider | undefined;
let onBun: RunningBinary | undefined;
let onDeno: KeywardOnDeno | undefined;
let sql: Sql | undefined;

beforeAll(async () => {
  if (!deno) return;
  mock = await startMockProvider();
  bunDir = mkdtempSync(join(tmpdir(), "keyward-bun-cluster-"));
  const bunArgs = ["bun", join(REPO_ROOT, "src/main.ts"), "serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", bunDir, "--allow-http-upstreams"];
  // Started together: they race for the migrations' lock, as instances of a deployment do. Each one that
  // started is kept for afterAll even when the other did not.
  const [bunStart, denoStart] = await Promise.allSettled([
    startKeyward([...bunArgs, "--database-url", pg.url], { cwd: REPO_ROOT, env }),
    startKeywardOnDeno(deno, "cluster", env, ["--database-url", pg.url]),
  ]);
  if (bunStart.status === "fulfilled") onBun = bunStart.value;
  if (denoStart.status === "fulfilled") onDeno = denoStart.value;
  if (bunStart.status === "rejected") throw bunStart.reason as Error;
  if (denoStart.status === "rejected") throw denoStart.reason as Error;
  sql = postgres(pg.url, { max: 1, onnotice: () => undefined });
}, 150_000);

afterAll(async () => {
  await sql?.end();
  if (onBun?.proc.exitCode === null) await onBun.stop();
  await onDeno?.cleanup();
  if (bunDir) rmSync(bunDir, { recursive: true, force: true });
  await mock?.stop();
});

function chat(baseUrl: string, key: string): Promise<Response> {
  return fetch(`${baseUrl}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }),
  });
}

async function statusOf(response: Promise<Response>): Promise<number> {
  const answer = await response;
  await answer.body?.cancel();
  return answer.status;
}

describe.skipIf(!deno)("a Deno instance and a Bun instance on one PostgreSQL", () => {
  test("a key minted on Bun works on Deno, and its revocation on Bun is refused on Deno's next request", async () => {
    const bun = adminApi(`${onBun?.url}`, adminToken);
    const denoUrl = `${onDeno?.url}`;
    const provider = await bun.createProviderKey({ name: "mock", provider: "openai", key: "sk-mock-provider-key-123456", base_url: mock?.baseUrl });
    expect(provider.status).toBe(201);
    // Both kinds of key: the budget makes Deno lease a slice of it from PostgreSQL. (No rate limit: an
    // instance takes its share of one only 2 × the freshness bound after it starts, 10 s by default.)
    const plain = await bun.mintProxyKey({ name: "plain", provider_key_id: provider.body.id });
    const budgeted = await bun.call<{ id: string; key: string }>("POST", "/api/proxy-keys", {
      name: "budgeted",
      provider_key_id: provider.body.id,
      budget_usd: 5,
    });
    expect([plain.status, budgeted.status]).toEqual([201, 201]);

    expect([await statusOf(chat(denoUrl, plain.body.key)), await statusOf(chat(denoUrl, budgeted.body.key))]).toEqual([200, 200]);

    expect((await bun.revokeProxyKey(plain.body.id)).status).toBe(200);
    expect((await bun.revokeProxyKey(budgeted.body.id)).status).toBe(200);
    expect([await statusOf(chat(denoUrl, plain.body.key)), await statusOf(chat(denoUrl, budgeted.body.key))]).toEqual([401, 401]);

    // Deno's request-log rows went to PostgreSQL: the Bun instance lists them (each flushes on its own timer).
    let logged: { proxy_key_id: string | null; status: number }[] = [];
    for (const started = performance.now(); performance.now() - started < 10_000 && logged.length < 2; await Bun.sleep(100)) {
      const page = await bun.call<{ data: { proxy_key_id: string | null; status: number }[] }>("GET", "/api/logs");
      logged = page.body.data.filter((entry) => entry.status === 200);
    }
    const servedIds = new Set([plain.body.id, budgeted.body.id]);
    expect(logged).toHaveLength(2);
    expect(new Set(logged.map((entry) => entry.proxy_key_id))).toEqual(servedIds);
    // And Deno reads the same log and usage from PostgreSQL.
    const onDenoAdmin = adminApi(denoUrl, adminToken);
    const denoLog = await onDenoAdmin.call<{ data: { proxy_key_id: string | null; status: number }[] }>("GET", "/api/logs");
    expect(denoLog.status).toBe(200);
    const onDenoLogged = denoLog.body.data.filter((entry) => entry.status === 200);
    expect(onDenoLogged).toHaveLength(2);
    expect(new Set(onDenoLogged.map((entry) => entry.proxy_key_id))).toEqual(servedIds);
    const usage = await onDenoAdmin.call<{ data: { proxy_key_id: string | null; requests: number }[] }>("GET", "/api/usage?group_by=proxy_key");
    expect(usage.status).toBe(200);
    expect(usage.body.data.find((row) => row.proxy_key_id === budgeted.body.id)?.requests).toBe(1);
    expect(onDeno?.stderr()).not.toContain("Cannot read the shared vault's changes");
  });

  test("the Deno instance reads the change log when a NOTIFY arrives, not only on its poll", async () => {
    const db = sql as Sql;
    const denoPid = onDeno?.proc.pid;
    const seenAt = async () => {
      const rows = await db<{ seen_at: number }[]>`SELECT seen_at::float8 AS seen_at FROM cluster_instances WHERE id LIKE ${`%-${denoPid}-%`}`;
      expect(rows).toHaveLength(1);
      return rows[0]?.seen_at;
    };
    // Its poll reads once a second; 20 notifications over one second, each followed by a read, move seen_at far more often.
    const seen = new Set<number | undefined>();
    for (let i = 0; i < 20; i++) {
      await db`SELECT pg_notify(${CHANGES_CHANNEL}, '0')`;
      await Bun.sleep(50);
      seen.add(await seenAt());
    }
    expect(seen.size).toBeGreaterThanOrEqual(8);
  });
});
