/**
 * Rate limits shared by instances on one PostgreSQL: each instance admits
 * only its share of a key's requests per minute, the shares summing to the
 * limit, so a key sending to every instance never gets more than its limit.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { RunningServer } from "../../src/server.ts";
import { adminApi } from "../helpers/admin-api.ts";
import { chat, FRESHNESS, newCluster, startInstance, statusOf, stopCluster } from "../helpers/cluster.ts";
import { startMockProvider, type MockProvider } from "../helpers/mock-provider.ts";
import { usePostgres } from "../helpers/postgres.ts";

describe("a key's requests per minute across two instances", () => {
  const pg = usePostgres();
  const cluster = newCluster();
  let mock: MockProvider;
  let a: RunningServer;
  let b: RunningServer;

  beforeAll(async () => {
    mock = await startMockProvider();
    const started = await Promise.all([startInstance(cluster, pg.url), startInstance(cluster, pg.url)]);
    a = started[0];
    b = started[1];
  });
  afterAll(async () => {
    await stopCluster(cluster);
    await mock.stop();
  });

  test("the instances' shares sum to the limit; a young instance takes none until the others made room", async () => {
    const admin = adminApi(a.url, cluster.adminToken);
    const provider = await admin.createProviderKey({ name: "mock", provider: "openai", key: "sk-mock-provider-key-123456", base_url: mock.baseUrl });
    const key = await admin.call<{ id: string; key: string }>("POST", "/api/proxy-keys", { name: "rpm", provider_key_id: provider.body.id, rpm: 5 });
    expect(key.status).toBe(201);

    // Both instances are younger than two freshness bounds and each has seen the other (a poll later): neither has a share yet.
    await Bun.sleep(2 * FRESHNESS.pollMs);
    const early = await chat(a, key.body.key);
    expect(early.status).toBe(429);
    expect(((await early.json()) as { error: { message: string } }).error.message).toContain("shares the limit");

    await Bun.sleep(2 * FRESHNESS.freshnessMs + 2 * FRESHNESS.pollMs);
    const statuses = async (server: RunningServer) => {
      const out: number[] = [];
      for (let i = 0; i < 5; i++) out.push(await statusOf(chat(server, key.body.key)));
      return out;
    };
    const onA = await statuses(a);
    const onB = await statuses(b);
    const admitted = [...onA, ...onB].filter((s) => s === 200).length;
    // 5 per minute split 3 + 2: all of them, and no more, over both instances.
    expect(admitted).toBe(5);
    expect(onA.filter((s) => s === 200).length).toBeGreaterThanOrEqual(2);
    expect(onB.filter((s) => s === 200).length).toBeGreaterThanOrEqual(2);
    expect([...onA, ...onB].filter((s) => s !== 200).every((s) => s === 429)).toBe(true);
  });
});
