/**
 * Several instances sharing one PostgreSQL: a change made through any
 * instance is in force on every other from the next request after its
 * answer, and an instance that cannot confirm it holds the latest changes
 * answers no key and is not ready.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { RunningServer } from "../../src/server.ts";
import { adminApi } from "../helpers/admin-api.ts";
import { chat, FRESHNESS, newCluster, startInstance, statusOf, stopCluster } from "../helpers/cluster.ts";
import { startMockProvider, type MockProvider } from "../helpers/mock-provider.ts";
import { startWebhookReceiver } from "../helpers/webhook-receiver.ts";
import { createDatabase, databaseUrl, startPostgresServer, usePostgres, type PostgresServer } from "../helpers/postgres.ts";

describe("three instances on one PostgreSQL", () => {
  const pg = usePostgres();
  const cluster = newCluster();
  let mock: MockProvider;
  let a: RunningServer;
  let b: RunningServer;
  let c: RunningServer;

  beforeAll(async () => {
    mock = await startMockProvider();
    // Started together: the migrations run once and one root token is registered.
    [a, b, c] = await Promise.all([startInstance(cluster, pg.url), startInstance(cluster, pg.url), startInstance(cluster, pg.url)]);
  });
  afterAll(async () => {
    await stopCluster(cluster);
    await mock.stop();
  });

  test("a revocation on A refuses the key's next request on B and on C", async () => {
    const adminA = adminApi(a.url, cluster.adminToken);
    const provider = await adminA.createProviderKey({ name: "mock", provider: "openai", key: "sk-mock-provider-key-123456", base_url: mock.baseUrl });
    expect(provider.status).toBe(201);
    // Minted on B: every instance writes.
    const minted = await adminApi(b.url, cluster.adminToken).mintProxyKey({ name: "shared", provider_key_id: provider.body.id });
    expect(minted.status).toBe(201);
    for (const server of [a, b, c]) expect(await statusOf(chat(server, minted.body.key))).toBe(200);

    const revoked = await adminA.revokeProxyKey(minted.body.id);
    expect(revoked.status).toBe(200);
    expect([await statusOf(chat(b, minted.body.key)), await statusOf(chat(c, minted.body.key)), await statusOf(chat(a, minted.body.key))]).toEqual([
      401, 401, 401,
    ]);
  });

  test("a provider key disabled on C is refused on A from the next request", async () => {
    const adminC = adminApi(c.url, cluster.adminToken);
    const provider = await adminC.createProviderKey({ name: "mock-2", provider: "openai", key: "sk-mock-provider-key-654321", base_url: mock.baseUrl });
    const minted = await adminApi(a.url, cluster.adminToken).mintProxyKey({ name: "second", provider_key_id: provider.body.id });
    expect(await statusOf(chat(a, minted.body.key))).toBe(200);
    const disabled = await adminC.call("PATCH", `/api/provider-keys/${provider.body.id}`, { disabled: true });
    expect(disabled.status).toBe(200);
    expect(await statusOf(chat(a, minted.body.key))).toBe(403);
  });

  test("a webhook event is delivered once, not once per instance", async () => {
    // A receiver that never answers: every instance that tried to deliver would show up here, not only the first.
    const receiver = startWebhookReceiver({ fallback: "hang" });
    try {
      const adminB = adminApi(b.url, cluster.adminToken);
      const hook = await adminB.call("POST", "/api/webhooks", { url: receiver.url, events: ["key.revoked"] });
      expect(hook.status).toBe(201);
      const provider = await adminB.createProviderKey({ name: "mock-3", provider: "openai", key: "sk-mock-provider-key-777777", base_url: mock.baseUrl });
      const minted = await adminB.mintProxyKey({ name: "announced", provider_key_id: provider.body.id });
      expect((await adminApi(c.url, cluster.adminToken).revokeProxyKey(minted.body.id)).status).toBe(200);
      await receiver.waitFor(1, 10_000);
      // Every instance polls its outbox each second: another instance's attempt would have come by now.
      await Bun.sleep(2500);
      expect(receiver.received.map((delivery) => JSON.parse(delivery.body).type)).toEqual(["key.revoked"]);
    } finally {
      await receiver.stop();
    }
  });

  test("one root token for the cluster, and every instance answers the same listing", async () => {
    const lists = await Promise.all(
      [a, b, c].map((server) => adminApi(server.url, cluster.adminToken).call<{ data: { id: string }[] }>("GET", "/api/admin-tokens")),
    );
    expect(lists.map((list) => list.body.data.length)).toEqual([1, 1, 1]);
    const keys = await Promise.all([a, b, c].map((server) => adminApi(server.url, cluster.adminToken).listProxyKeys()));
    expect(new Set(keys.map((list) => JSON.stringify(list.body.data.map((key) => key.id)))).size).toBe(1);
  });
});

describe("an instance whose PostgreSQL stops", () => {
  let server: PostgresServer;
  const cluster = newCluster();
  let mock: MockProvider;

  beforeAll(async () => {
    server = await startPostgresServer();
    mock = await startMockProvider();
  });
  afterAll(async () => {
    await stopCluster(cluster);
    await mock.stop();
    await server.close();
  });

  test("answers keys while fresh, then 503 and not ready; recovers when PostgreSQL is back", async () => {
    const url = databaseUrl(server.url, await createDatabase(server.url));
    const instance = await startInstance(cluster, url);
    const admin = adminApi(instance.url, cluster.adminToken);
    const provider = await admin.createProviderKey({ name: "mock", provider: "openai", key: "sk-mock-provider-key-123456", base_url: mock.baseUrl });
    const minted = await admin.mintProxyKey({ name: "k", provider_key_id: provider.body.id });
    expect(await statusOf(chat(instance, minted.body.key))).toBe(200);

    await server.stop();
    // Within the freshness bound the instance still answers from its copy...
    expect(await statusOf(chat(instance, minted.body.key))).toBe(200);
    // ...and past it, it refuses every key and is not ready; admin writes fail with 503.
    await Bun.sleep(FRESHNESS.freshnessMs + 300);
    const refused = await chat(instance, minted.body.key);
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("service_unavailable");
    expect(await statusOf(fetch(`${instance.url}/readyz`))).toBe(503);
    const write = await admin.mintProxyKey({ name: "k2", provider_key_id: provider.body.id });
    expect(write.status).toBe(503);
    expect(write.text).not.toContain("postgres://");

    await server.start();
    for (let i = 0; i < 50 && (await statusOf(fetch(`${instance.url}/readyz`))) !== 200; i++) await Bun.sleep(100);
    expect(await statusOf(fetch(`${instance.url}/readyz`))).toBe(200);
    expect(await statusOf(chat(instance, minted.body.key))).toBe(200);
  });
});
