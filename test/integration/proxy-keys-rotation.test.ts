/**
 * `POST /api/proxy-keys/{id}/rotate`: a new secret for the same key id,
 * shown once. The old secret keeps working for `grace_seconds`, then fails
 * like a wrong secret, even in a process that verified it before (its digest
 * sits in the verified-secret cache). A rotation within a grace ends the
 * older one. Limits, spend and metadata stay with the id; the rotation is
 * audit-logged.
 */
import { describe, expect, test } from "bun:test";
import { authenticate } from "../../src/proxy/authenticate.ts";
import { KeyCache } from "../../src/proxy/key-cache.ts";
import { PURGED_SECRET_HASH, verifySecret, type SecretAttempt } from "../../src/vault/hashing.ts";
import { parseKey } from "../../src/vault/key-format.ts";
import { SecretVerifier } from "../../src/vault/verifier.ts";
import { createAdminToken, expectError, expectStatus } from "../helpers/admin-fixtures.ts";
import { chatJson, getKey, micros, waitSettled } from "../helpers/limits.ts";
import { createKeyPair, expectProxyError, fetchText, type KeyPair, useProxyHarness } from "../helpers/proxy.ts";

const h = useProxyHarness({ mock: { usage: { input: 100, output: 50 } }, config: { expiredKeyRetentionDays: 30 } });

const HOUR = 3_600_000;
const WRONG_SECRET = "Cannot verify proxy key: key is invalid";

const use = (key: string) =>
  fetchText(`${h.baseUrl}/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(chatJson("gpt-4o-mini", 100, { max_tokens: 100 })),
  });

async function works(key: string): Promise<void> {
  const res = await use(key);
  if (res.status !== 200) throw new Error(`expected 200, got ${res.status}: ${res.text}`);
}

/** Refused exactly as a well-formed key with a wrong secret is. */
async function refusedLikeAWrongSecret(key: string): Promise<void> {
  expect(expectProxyError(await use(key), 401, "invalid_api_key").error.message).toBe(WRONG_SECRET);
}

const rotate = (id: string, body: unknown = {}, token?: string) => h.t.call("POST", `/api/proxy-keys/${id}/rotate`, body, { token });

async function rotated(id: string, graceSeconds?: number): Promise<string> {
  const res = await rotate(id, graceSeconds === undefined ? {} : { grace_seconds: graceSeconds });
  expectStatus(res, 200);
  return res.json.key as string;
}

async function freshKey(proxy: Record<string, unknown> = {}): Promise<KeyPair> {
  return createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy });
}

describe("proxy key rotation", () => {
  test("answers the new key once, for the same id, with the key's view; the new key works", async () => {
    const keys = await freshKey();
    const res = await rotate(keys.proxyKeyId, { grace_seconds: 60 });
    expectStatus(res, 200);
    const key: string = res.json.key;
    const parsed = parseKey("proxy", key)!;
    expect(parsed.id).toBe(keys.proxyKeyId);
    expect(key).not.toBe(keys.proxyKey);
    expect(res.json).toMatchObject({
      id: keys.proxyKeyId,
      key_hint: `kwp_${keys.proxyKeyId}_…${key.slice(-4)}`,
      status: "active",
      previous_secret_expires_at: new Date(h.clock.now() + 60_000).toISOString(),
    });
    const got = await h.t.call("GET", `/api/proxy-keys/${keys.proxyKeyId}`);
    expect(got.json).not.toHaveProperty("key");
    expect(got.text).not.toContain(parsed.secret);
    const { key: _shown, ...view } = res.json;
    expect(got.json).toEqual(view);
    await works(key);
    // Verified by argon2 off the serving thread, like minting: the stored hash is argon2id.
    expect(h.t.store.proxyKeys.byId(keys.proxyKeyId)!.secretHash).toStartWith("$argon2id$");
  });

  test("without a grace the old key fails at once, even though this process had verified it", async () => {
    const keys = await freshKey();
    await works(keys.proxyKey);
    const key = await rotated(keys.proxyKeyId);
    await refusedLikeAWrongSecret(keys.proxyKey);
    await works(key);
    await refusedLikeAWrongSecret(keys.proxyKey);
    const row = h.t.store.proxyKeys.byId(keys.proxyKeyId)!;
    // Nothing of the old secret is kept.
    expect(row.previousSecretHash).toBeNull();
    expect(row.previousSecretExpiresAt).toBeNull();
    expect((await getKey(h.t, keys.proxyKeyId)) as unknown).toMatchObject({ previous_secret_expires_at: null });
  });

  test("with a grace both keys work until it ends; then the old one fails like a wrong secret, cached or not", async () => {
    const keys = await freshKey();
    // Verified before the rotation: its digest is cached, and must not outlive the grace.
    await works(keys.proxyKey);
    const key = await rotated(keys.proxyKeyId, 3600);
    await works(keys.proxyKey);
    await works(key);
    h.clock.advance(HOUR - 1);
    await works(keys.proxyKey);
    await works(key);
    h.clock.advance(1);
    await refusedLikeAWrongSecret(keys.proxyKey);
    await works(key);
  });

  test("an old key first seen after the grace ends is refused, and costs what a wrong secret costs", async () => {
    const keys = await freshKey();
    const key = await rotated(keys.proxyKeyId, 60);
    await works(key);
    h.clock.advance(60_000);
    const runs = h.t.services.proxyVerifier.argon2Runs;
    await refusedLikeAWrongSecret(keys.proxyKey);
    // The new key is verified, so another token for the id is refused by its digest alone: no argon2, as a wrong secret.
    expect(h.t.services.proxyVerifier.argon2Runs).toBe(runs);
  });

  test("a second rotation within the grace ends the older grace; the key before the newest keeps its own", async () => {
    const keys = await freshKey();
    await works(keys.proxyKey);
    const second = await rotated(keys.proxyKeyId, 3600);
    await works(second);
    h.clock.advance(60_000);
    const third = await rotated(keys.proxyKeyId, 600);
    await refusedLikeAWrongSecret(keys.proxyKey);
    await works(second);
    await works(third);
    h.clock.advance(600_000);
    await refusedLikeAWrongSecret(second);
    await refusedLikeAWrongSecret(keys.proxyKey);
    await works(third);
  });

  test("limits, spend, budget, metadata, expiry and creation stay with the id", async () => {
    const keys = await freshKey({
      budget_usd: 3,
      budget_period: "monthly",
      rpm: 100,
      tpm: 200_000,
      max_concurrency: 2,
      allowed_models: ["gpt-4o-mini"],
      ttl_seconds: 86_400,
      metadata: { owner: "alice" },
    });
    await works(keys.proxyKey);
    await works(keys.proxyKey);
    await waitSettled(h.t);
    const before = await h.t.call("GET", `/api/proxy-keys/${keys.proxyKeyId}`);
    const key = await rotated(keys.proxyKeyId, 60);
    const after = await h.t.call("GET", `/api/proxy-keys/${keys.proxyKeyId}`);
    const { key_hint: _h1, updated_at: _u1, previous_secret_expires_at: _p1, ...kept } = before.json;
    const { key_hint: _h2, updated_at: _u2, previous_secret_expires_at: _p2, ...still } = after.json;
    expect(still).toEqual(kept);
    expect(micros(after.json.spend_usd)).toBe(90);
    // The new key spends the same budget.
    await works(key);
    await waitSettled(h.t);
    expect(micros((await getKey(h.t, keys.proxyKeyId)).spend_usd)).toBe(135);
    // And its holder sees it.
    const info = await fetchText(`${h.baseUrl}/key`, { headers: { authorization: `Bearer ${key}` } });
    expect(micros(JSON.parse(info.text).budget.spend_usd)).toBe(135);
  });

  test("is audit-logged with its grace, never with a secret", async () => {
    const keys = await freshKey();
    const key = await rotated(keys.proxyKeyId, 3600);
    const again = await rotated(keys.proxyKeyId, 0);
    const rows = h.t.store.audit.page({ limit: 1000 }).filter((r) => r.action === "proxy_key.rotate" && r.targetId === keys.proxyKeyId);
    expect(rows).toHaveLength(2);
    const [second, first] = rows;
    const root = parseKey("admin", h.t.rootToken)!.id;
    expect(first).toMatchObject({
      actorId: root,
      targetType: "proxy_key",
      details: { grace_seconds: 3600, previous_secret_expires_at: new Date(h.clock.now() + HOUR).toISOString() },
    });
    expect(second).toMatchObject({ actorId: root, details: { grace_seconds: 0, previous_secret_expires_at: null, ended_grace_of_earlier_rotation: true } });
    const text = JSON.stringify(rows);
    for (const secret of [keys.proxyKey, key, again, parseKey("proxy", key)!.secret]) expect(text).not.toContain(secret);
    const listed = await h.t.call("GET", "/api/audit?limit=200");
    expect(listed.json.data.filter((r: { action: string }) => r.action === "proxy_key.rotate").length).toBeGreaterThanOrEqual(2);
  });

  test("revoked and expired keys cannot be rotated (409); the old key stays dead", async () => {
    const revoked = await freshKey();
    expectStatus(await h.t.call("POST", `/api/proxy-keys/${revoked.proxyKeyId}/revoke`, {}), 200);
    const hashBefore = h.t.store.proxyKeys.byId(revoked.proxyKeyId)!.secretHash;
    const res = await rotate(revoked.proxyKeyId, { grace_seconds: 60 });
    expectError(res, 409, "conflict");
    expect(res.json.error.message).toContain("revoked");
    expect(h.t.store.proxyKeys.byId(revoked.proxyKeyId)!.secretHash).toBe(hashBefore);

    const expiring = await freshKey({ ttl_seconds: 60 });
    h.clock.advance(60_000);
    const expired = await rotate(expiring.proxyKeyId, {});
    expectError(expired, 409, "conflict");
    expect(expired.json.error.message).toContain("expired");
    expect(h.t.store.audit.page({ limit: 1000 }).filter((r) => r.action === "proxy_key.rotate" && r.targetId === expiring.proxyKeyId)).toEqual([]);
  });

  test("a key of a disabled provider key can be rotated (it is not dead)", async () => {
    const keys = await freshKey();
    expectStatus(await h.t.call("PATCH", `/api/provider-keys/${keys.providerKeyId}`, { disabled: true }), 200);
    expectStatus(await rotate(keys.proxyKeyId, {}), 200);
  });

  test("validation: an unknown id is 404; grace_seconds outside 0..604800, not an integer, or unknown fields are 422", async () => {
    expectError(await rotate("Zk3a9QmP0xYb", {}), 404, "not_found");
    const keys = await freshKey();
    for (const body of [{ grace_seconds: -1 }, { grace_seconds: 604_801 }, { grace_seconds: 1.5 }, { grace_seconds: null }]) {
      expectError(await rotate(keys.proxyKeyId, body), 422, "validation_failed", "grace_seconds");
    }
    expectError(await rotate(keys.proxyKeyId, { grace: 60 }), 422, "validation_failed", "grace");
    expectStatus(await rotate(keys.proxyKeyId, { grace_seconds: 604_800 }), 200);
    expect(h.t.store.proxyKeys.byId(keys.proxyKeyId)!.previousSecretExpiresAt).toBe(h.clock.now() + 604_800_000);
  });

  test("only admin tokens rotate: keys:issue tokens, even for keys they minted, and read tokens get 403", async () => {
    const keys = await freshKey();
    const issuer = await createAdminToken(h.t, ["keys:issue"], {
      policy: { provider_key_ids: [keys.providerKeyId], max_ttl_seconds: 3600, max_budget_usd: 1 },
    });
    const minted = await h.t.call("POST", "/api/proxy-keys", { provider_key: keys.providerKeyId }, { token: issuer.token });
    expectStatus(minted, 201);
    expectError(await rotate(minted.json.id, {}, issuer.token), 403, "forbidden");
    const reader = await createAdminToken(h.t, ["read"]);
    expectError(await rotate(keys.proxyKeyId, {}, reader.token), 403, "forbidden");
    await works(minted.json.key);
  });

  test("the sweeper purges a dead key's rotated-out hash with its secret", async () => {
    const keys = await freshKey();
    await rotated(keys.proxyKeyId, 604_800);
    expect(h.t.store.proxyKeys.byId(keys.proxyKeyId)!.previousSecretHash).toStartWith("$argon2id$");
    expectStatus(await h.t.call("POST", `/api/proxy-keys/${keys.proxyKeyId}/revoke`, {}), 200);
    h.clock.advance(31 * 24 * HOUR);
    expect(await h.t.services.sweeper.sweep()).toContain(keys.proxyKeyId);
    const row = h.t.store.proxyKeys.byId(keys.proxyKeyId)!;
    expect(row.secretHash).toBe(PURGED_SECRET_HASH);
    expect(row.previousSecretHash).toBeNull();
    expect(row.previousSecretExpiresAt).toBeNull();
  });

  test("during a grace, GET /v1/key answers for either key", async () => {
    const keys = await freshKey();
    const key = await rotated(keys.proxyKeyId, 60);
    for (const k of [keys.proxyKey, key]) {
      const res = await fetchText(`${h.baseUrl}/key`, { headers: { "x-api-key": k } });
      expect(res.status).toBe(200);
      expect(JSON.parse(res.text).id).toBe(keys.proxyKeyId);
    }
  });
});

/**
 * A rotation that commits while the old key's first argon2 check runs: the
 * check's answer is about a hash that may be gone, so it is neither trusted
 * nor cached, and the key is checked again against the rotated row. The
 * proxy's own verifier cannot be paused, so this one is, over the app's real
 * store and vault events.
 */
describe("a rotation while the old key is being verified", () => {
  async function raced(graceSeconds: number) {
    const keys = await freshKey();
    let hold: ((ok: boolean) => void) | undefined;
    const checked: string[] = [];
    const check = (attempt: SecretAttempt): Promise<boolean> => {
      checked.push(attempt.phc);
      // The first check waits for the test; later ones are real argon2.
      if (checked.length === 1) return new Promise((release) => (hold = release));
      return verifySecret(attempt);
    };
    const verifier = new SecretVerifier({ clock: h.clock, maxConcurrent: 2, maxFailures: 5, failureWindowMs: 60_000, check });
    const cache = new KeyCache(
      h.t.store,
      h.t.services.events,
      () => Promise.resolve(keys.providerSecret),
      (id) => verifier.forget(id),
    );
    const oldHash = h.t.store.proxyKeys.byId(keys.proxyKeyId)!.secretHash;
    const outcome = Promise.resolve(authenticate(new Headers({ authorization: `Bearer ${keys.proxyKey}` }), cache, verifier, h.clock)).then(
      (auth) => auth.proxyKey.id,
      (err: unknown) => (err instanceof Error ? err.message : String(err)),
    );
    while (!hold) await Bun.sleep(1);
    await rotated(keys.proxyKeyId, graceSeconds);
    // The old hash matched the old key: true, but stale by now.
    hold(true);
    return { keys, outcome: await outcome, verifier, checked, oldHash };
  }

  test("without a grace the old key is refused, and its stale answer is not cached", async () => {
    const { keys, outcome, verifier, checked, oldHash } = await raced(0);
    expect(outcome).toBe(WRONG_SECRET);
    expect(verifier.checkCached(keys.proxyKeyId, keys.proxyKey)).toBeUndefined();
    // Checked again against the rotated row: its new hash only.
    expect(checked).toHaveLength(2);
    expect(checked[1]).not.toBe(oldHash);
  });

  test("with a grace it is checked again under the rotated row and accepted as the replaced secret", async () => {
    const { keys, outcome, verifier, checked, oldHash } = await raced(600);
    expect(outcome).toBe(keys.proxyKeyId);
    expect(checked.slice(1)).toEqual([h.t.store.proxyKeys.byId(keys.proxyKeyId)!.secretHash, oldHash]);
    expect(verifier.checkCached(keys.proxyKeyId, keys.proxyKey)).toBe(true);
    h.clock.advance(600_000);
    expect(verifier.checkCached(keys.proxyKeyId, keys.proxyKey)).toBe(false);
  });
});
