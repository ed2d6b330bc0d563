/**
 * One request log for a cluster: two instances on one PostgreSQL each serve
 * some requests with the same proxy key, and once both have flushed, usage
 * and the log pages answer the same on either, counting every request. Each
 * instance writes its rows from its log worker, on a connection of its own.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { openPostgres } from "../../src/db/pg/connect.ts";
import type { RunningServer } from "../../src/server.ts";
import { LOG_WORKER_APPLICATION_NAME } from "../../src/usage/log-worker-postgres.ts";
import { adminApi } from "../helpers/admin-api.ts";
import { chat, newCluster, startInstance, statusOf, stopCluster } from "../helpers/cluster.ts";
import { startMockProvider, type MockProvider } from "../helpers/mock-provider.ts";
import { usePostgres } from "../helpers/postgres.ts";

const ON_A = 7;
const ON_B = 5;

interface UsageBody {
  data: { proxy_key_id: string | null; requests: number; input_tokens: number; output_tokens: number }[];
}

interface LogsBody {
  data: { id: number; request_id: string; proxy_key_id: string | null; status: number }[];
  next_cursor: string | null;
}

const pg = usePostgres();
const cluster = newCluster();
let mock: MockProvider;
let a: RunningServer;
let b: RunningServer;

beforeAll(async () => {
  mock = await startMockProvider();
  [a, b] = await Promise.all([startInstance(cluster, pg.url), startInstance(cluster, pg.url)]);
});
afterAll(async () => {
  await stopCluster(cluster);
  await mock.stop();
});

const get = <T>(server: RunningServer, path: string) => adminApi(server.url, cluster.adminToken).call<T>("GET", path);

/** Both instances' answers to `path`, once both count `requests` and agree (each flushes on its own timer), or after 10 s. */
async function settled<T>(path: string, requests: (body: T) => number, expected: number): Promise<[T, T]> {
  let answers: [T, T] | undefined;
  for (const started = performance.now(); performance.now() - started < 10_000; await Bun.sleep(100)) {
    const [onA, onB] = await Promise.all([get<T>(a, path), get<T>(b, path)]);
    expect([onA.status, onB.status]).toEqual([200, 200]);
    answers = [onA.body, onB.body];
    if (requests(answers[0]) === expected && JSON.stringify(answers[0]) === JSON.stringify(answers[1])) break;
  }
  return answers as [T, T];
}

test("usage and logs answer the same on both instances, counting the requests each served", async () => {
  const admin = adminApi(a.url, cluster.adminToken);
  const provider = await admin.createProviderKey({ name: "mock", provider: "openai", key: "sk-mock-provider-key-123456", base_url: mock.baseUrl });
  expect(provider.status).toBe(201);
  const minted = await adminApi(b.url, cluster.adminToken).mintProxyKey({ name: "shared", provider_key_id: provider.body.id });
  expect(minted.status).toBe(201);
  const key = minted.body.key;

  const statuses = await Promise.all([
    ...Array.from({ length: ON_A }, () => statusOf(chat(a, key))),
    ...Array.from({ length: ON_B }, () => statusOf(chat(b, key))),
  ]);
  expect(statuses).toEqual(Array.from({ length: ON_A + ON_B }, () => 200));

  const total = (body: UsageBody) => body.data.reduce((sum, row) => sum + row.requests, 0);
  const [usageA, usageB] = await settled<UsageBody>("/api/usage?group_by=proxy_key", total, ON_A + ON_B);
  expect(usageA).toEqual(usageB);
  expect(usageA.data).toMatchObject([
    { proxy_key_id: minted.body.id, requests: ON_A + ON_B, input_tokens: 11 * (ON_A + ON_B), output_tokens: 7 * (ON_A + ON_B) },
  ]);

  const [logsA, logsB] = await settled<LogsBody>("/api/logs", (body) => body.data.length, ON_A + ON_B);
  expect(logsA).toEqual(logsB);
  expect(logsA.data).toHaveLength(ON_A + ON_B);
  expect(new Set(logsA.data.map((entry) => entry.request_id)).size).toBe(ON_A + ON_B);
  expect(logsA.data.every((entry) => entry.proxy_key_id === minted.body.id && entry.status === 200)).toBe(true);
  expect(logsA.next_cursor).toBeNull();

  // Each instance's log worker holds its own connection, alive: it wrote the rows (had it died, they would have moved to the server's pool).
  const sql = openPostgres({ url: pg.url, max: 1 });
  try {
    const [workers] = await sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = ${LOG_WORKER_APPLICATION_NAME}`;
    expect(workers?.n).toBe(2);
  } finally {
    await sql.end();
  }
});

test("the audit log still comes from each instance's mirror, and agrees", async () => {
  const [onA, onB] = await Promise.all([adminApi(a.url, cluster.adminToken).audit(), adminApi(b.url, cluster.adminToken).audit()]);
  expect(onA.status).toBe(200);
  expect(onA.body.data.length).toBeGreaterThan(0);
  expect(onA.body).toEqual(onB.body);
});
