/**
 * The expired-key sweeper: after the retention period, expired and revoked
 * keys lose their secret hash (rows, usage and logs stay) and can never
 * verify again, whatever happens to their expiry afterwards.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { PURGED_SECRET_HASH } from "../../src/vault/hashing.ts";
import { chatBody, createKeyPair, expectProxyError, fetchText, startProxyHarness, type ProxyHarness } from "../helpers/proxy.ts";
import { createProxyKey, expectError, expectStatus } from "../helpers/admin-fixtures.ts";

const DAY = 86_400_000;

describe("expired-key sweeper", () => {
  let h: ProxyHarness;

  beforeEach(async () => {
    // A fast timer: the sweeps below happen on their own, as in production.
    h = await startProxyHarness({ config: { expiredKeyRetentionDays: 30, keySweepIntervalMs: 20 } });
  });
  afterEach(async () => {
    await h.stop();
  });

  const use = (key: string) =>
    fetchText(`${h.baseUrl}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: chatBody(),
    });

  /** Waits until the timer-driven sweeper has purged `id` (or fails after 2 s). */
  async function purged(id: string): Promise<void> {
    for (let i = 0; i < 200; i++) {
      if (h.t.store.proxyKeys.byId(id)?.secretHash === PURGED_SECRET_HASH) return;
      await Bun.sleep(10);
    }
    throw new Error(`key ${id} was not purged`);
  }

  test("purges expired and revoked keys after the retention period; rows stay listed; the proxy answers 401", async () => {
    const pair = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { ttl_seconds: 60 } });
    const expiring = { id: pair.proxyKeyId, key: pair.proxyKey };
    const revoked = await createProxyKey(h.t, pair.providerKeyId);
    const later = await createProxyKey(h.t, pair.providerKeyId, { ttl_seconds: 20 * 86_400 });
    const forever = await createProxyKey(h.t, pair.providerKeyId);
    // Used once, so its secret sits in the verified cache: the purge must still win.
    expect((await use(expiring.key)).status).toBe(200);
    expect((await use(revoked.key)).status).toBe(200);
    expectStatus(await h.t.call("POST", `/api/proxy-keys/${revoked.id}/revoke`, {}), 200);

    h.clock.advance(61_000);
    expectProxyError(await use(expiring.key), 401, "invalid_api_key");
    await Bun.sleep(60);
    // Within retention: nothing purged yet.
    for (const id of [expiring.id, revoked.id, later.id, forever.id]) {
      expect(h.t.store.proxyKeys.byId(id)?.secretHash).toStartWith("$argon2id$");
    }

    h.clock.advance(30 * DAY);
    await purged(expiring.id);
    await purged(revoked.id);
    // Expired 20 days in: 10 days of retention left. Never expires: never purged.
    expect(h.t.store.proxyKeys.byId(later.id)?.secretHash).toStartWith("$argon2id$");
    expect(h.t.store.proxyKeys.byId(forever.id)?.secretHash).toStartWith("$argon2id$");

    const list = await h.t.call("GET", "/api/proxy-keys?limit=10");
    const statuses = Object.fromEntries((list.json.data as Array<{ id: string; status: string }>).map((k) => [k.id, k.status]));
    expect(statuses).toMatchObject({ [expiring.id]: "expired", [revoked.id]: "revoked", [later.id]: "expired", [forever.id]: "active" });
    expectProxyError(await use(expiring.key), 401, "invalid_api_key");
    expectProxyError(await use(revoked.key), 401, "invalid_api_key");
    expect((await use(forever.key)).status).toBe(200);

    const audit = h.t.store.audit.page({ limit: 20 }).find((r) => r.action === "proxy_key.purge_secrets");
    expect(audit?.actorId).toBe("sweeper");
    expect(audit?.details).toEqual({ count: 2, ids: expect.arrayContaining([expiring.id, revoked.id]) });
  });

  test("a purged key cannot come back: its expiry cannot be changed, and even a forced one does not verify", async () => {
    const pair = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { ttl_seconds: 60 } });
    expect((await use(pair.proxyKey)).status).toBe(200);
    h.clock.advance(31 * DAY);
    await purged(pair.proxyKeyId);

    const patch = await h.t.call("PATCH", `/api/proxy-keys/${pair.proxyKeyId}`, { ttl_seconds: 3600 });
    expectError(patch, 409, "conflict");
    expect(patch.json.error.message).toContain("purged");

    // Bypassing the API: only the empty hash stands between this key and the upstream.
    h.t.store.proxyKeys.update(pair.proxyKeyId, { expiresAt: h.clock.now() + DAY });
    h.t.services.events.emit({ kind: "proxy-key", id: pair.proxyKeyId });
    const res = expectProxyError(await use(pair.proxyKey), 401, "invalid_api_key");
    expect(res.error.message).toContain("key is invalid");
    expect(h.mock.requests).toHaveLength(1);
  });

  test("retention 0 purges at the first sweep after expiry", async () => {
    await h.stop();
    h = await startProxyHarness({ config: { expiredKeyRetentionDays: 0, keySweepIntervalMs: 3_600_000 } });
    const pair = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { ttl_seconds: 1 } });
    expect(await h.t.services.sweeper.sweep()).toEqual([]);
    h.clock.advance(1000);
    expect(await h.t.services.sweeper.sweep()).toEqual([pair.proxyKeyId]);
    expect(await h.t.services.sweeper.sweep()).toEqual([]);
  });
});
