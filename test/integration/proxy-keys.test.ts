import { describe, expect, test } from "bun:test";
import { verifySecret } from "../../src/vault/hashing.ts";
import { parseKey } from "../../src/vault/key-format.ts";
import { createProviderKey, createProxyKey, expectError, expectStatus, listAll, useApp } from "../helpers/admin-fixtures.ts";

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString();
const ARGON2ID_OWASP = "$argon2id$v=19$m=19456,t=2,p=1$";

describe("proxy keys", () => {
  const app = useApp();

  test("create answers 201 with the full key once; the id is the key's id part", async () => {
    const pk = await createProviderKey(app());
    const res = await app().call("POST", "/api/proxy-keys", {
      name: "alice-laptop",
      provider_key_id: pk.id,
      metadata: { team: "search", seats: 3, paid: true, note: null },
    });
    expectStatus(res, 201);
    const key: string = res.json.key;
    expect(key).toMatch(/^kwp_[0-9A-Za-z]{12}_[0-9A-Za-z]{32}[0-9A-Za-z]{6}$/);
    const parsed = parseKey("proxy", key);
    expect(parsed).toBeDefined();
    expect(res.json.id).toBe(parsed!.id);
    expect(res.json).toMatchObject({
      name: "alice-laptop",
      provider_key_id: pk.id,
      key_hint: `kwp_${parsed!.id}_…${key.slice(-4)}`,
      status: "active",
      expires_at: null,
      revoked_at: null,
      metadata: { team: "search", seats: 3, paid: true, note: null },
      created_by: app().store.adminTokens.page({ limit: 1 })[0]!.id,
      created_at: iso(NOW),
      updated_at: iso(NOW),
    });

    // Never again: not in get, not in list.
    const got = await app().call("GET", `/api/proxy-keys/${res.json.id}`);
    expectStatus(got, 200);
    expect(got.json).not.toHaveProperty("key");
    expect(got.text).not.toContain(parsed!.secret);
    const { key: _shown, ...view } = res.json;
    expect(got.json).toEqual(view);
    const list = await app().call("GET", "/api/proxy-keys");
    expect(list.text).not.toContain(parsed!.secret);
  });

  test("the secret is stored only as an argon2id PHC string (OWASP parameters)", async () => {
    const pk = await createProviderKey(app());
    const created = await createProxyKey(app(), pk.id);
    const parsed = parseKey("proxy", created.key)!;
    const row = app().store.proxyKeys.byId(created.id)!;
    expect(row.secretHash.startsWith(ARGON2ID_OWASP)).toBe(true);
    expect(row.secretHash).not.toContain(parsed.secret);
    expect(await verifySecret({ phc: row.secretHash, secret: parsed.secret })).toBe(true);
    expect(await verifySecret({ phc: row.secretHash, secret: parsed.secret.replace(/.$/, (c) => (c === "A" ? "B" : "A")) })).toBe(false);
  });

  test("an unknown provider key is 404 naming provider_key_id", async () => {
    const res = await app().call("POST", "/api/proxy-keys", { name: "x", provider_key_id: "pk_nope" });
    expectError(res, 404, "not_found", "provider_key_id");
  });

  test("a proxy key may be minted for a disabled provider key; it shows provider-disabled", async () => {
    const pk = await createProviderKey(app(), { disabled: true });
    const created = await createProxyKey(app(), pk.id);
    expect(created.status).toBe("provider-disabled");
  });

  describe("expiry on create", () => {
    test("ttl_seconds sets expires_at from the clock", async () => {
      const pk = await createProviderKey(app());
      const created = await createProxyKey(app(), pk.id, { ttl_seconds: 3600 });
      expect(created.expires_at).toBe(iso(NOW + 3_600_000));
      expect(app().store.proxyKeys.byId(created.id)!.expiresAt).toBe(NOW + 3_600_000);
    });

    test("expires_at is taken as given", async () => {
      const pk = await createProviderKey(app());
      const created = await createProxyKey(app(), pk.id, { expires_at: "2026-02-01T00:00:00Z" });
      expect(created.expires_at).toBe("2026-02-01T00:00:00.000Z");
    });

    test("both ttl_seconds and expires_at is 422", async () => {
      const pk = await createProviderKey(app());
      const res = await app().call("POST", "/api/proxy-keys", {
        name: "x",
        provider_key_id: pk.id,
        ttl_seconds: 60,
        expires_at: "2026-02-01T00:00:00Z",
      });
      expectError(res, 422, "validation_failed", "ttl_seconds");
      expect(res.json.error.message).toContain("not both");
    });

    test("a past or present expires_at is 422", async () => {
      const pk = await createProviderKey(app());
      for (const at of ["2026-01-15T11:59:59Z", iso(NOW), "2000-01-01T00:00:00Z"]) {
        const res = await app().call("POST", "/api/proxy-keys", { name: "x", provider_key_id: pk.id, expires_at: at });
        expectError(res, 422, "validation_failed", "expires_at");
      }
    });

    test("nonsense expiry values are 422", async () => {
      const pk = await createProviderKey(app());
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ expires_at: "tomorrow" }, "expires_at"],
        [{ expires_at: "2026-13-45T00:00:00Z" }, "expires_at"],
        [{ expires_at: "2099-01-01T00:00:00Z" }, "expires_at"],
        [{ ttl_seconds: 0 }, "ttl_seconds"],
        [{ ttl_seconds: -5 }, "ttl_seconds"],
        [{ ttl_seconds: 1.5 }, "ttl_seconds"],
        [{ ttl_seconds: 400_000_000 }, "ttl_seconds"],
      ];
      for (const [extra, field] of cases) {
        const res = await app().call("POST", "/api/proxy-keys", { name: "x", provider_key_id: pk.id, ...extra });
        expectError(res, 422, "validation_failed", field);
      }
      expect(app().store.proxyKeys.countForProviderKey(pk.id)).toBe(0);
    });
  });

  test("many proxy keys per provider key, each with its own id and key", async () => {
    const pk = await createProviderKey(app());
    const created = [];
    for (let i = 0; i < 4; i++) created.push(await createProxyKey(app(), pk.id));
    expect(new Set(created.map((c) => c.id)).size).toBe(4);
    expect(new Set(created.map((c) => c.key)).size).toBe(4);
    const list = await app().call("GET", `/api/proxy-keys?provider_key_id=${pk.id}`);
    expect(list.json.data.map((r: { id: string }) => r.id).sort()).toEqual(created.map((c) => c.id).sort());
  });

  describe("list filters", () => {
    /**
     * A on an enabled provider key: active, expired, revoked.
     * B on a disabled provider key: provider-disabled, revoked, expired.
     */
    async function fixture() {
      const pkA = await createProviderKey(app());
      const pkB = await createProviderKey(app());
      const aActive = await createProxyKey(app(), pkA.id);
      const aExpired = await createProxyKey(app(), pkA.id, { ttl_seconds: 60 });
      const aRevoked = await createProxyKey(app(), pkA.id);
      const bDisabled = await createProxyKey(app(), pkB.id);
      const bRevoked = await createProxyKey(app(), pkB.id);
      const bExpired = await createProxyKey(app(), pkB.id, { ttl_seconds: 60 });
      expectStatus(await app().call("POST", `/api/proxy-keys/${aRevoked.id}/revoke`), 200);
      expectStatus(await app().call("POST", `/api/proxy-keys/${bRevoked.id}/revoke`), 200);
      expectStatus(await app().call("PATCH", `/api/provider-keys/${pkB.id}`, { disabled: true }), 200);
      app().clock.advance(60_000);
      return { pkA, pkB, aActive, aExpired, aRevoked, bDisabled, bRevoked, bExpired };
    }

    async function listed(query: string): Promise<Map<string, string>> {
      const res = await app().call("GET", `/api/proxy-keys${query}`);
      expectStatus(res, 200);
      expect(res.json.next_cursor).toBeNull();
      return new Map(res.json.data.map((r: { id: string; status: string }) => [r.id, r.status]));
    }

    test("by status, with and without provider_key_id", async () => {
      const f = await fixture();
      const all = await listed("");
      expect(all).toEqual(
        new Map([
          [f.aActive.id, "active"],
          [f.aExpired.id, "expired"],
          [f.aRevoked.id, "revoked"],
          [f.bDisabled.id, "provider-disabled"],
          [f.bRevoked.id, "revoked"],
          [f.bExpired.id, "expired"],
        ]),
      );
      expect([...(await listed("?status=active")).keys()]).toEqual([f.aActive.id]);
      expect(new Set((await listed("?status=expired")).keys())).toEqual(new Set([f.aExpired.id, f.bExpired.id]));
      expect(new Set((await listed("?status=revoked")).keys())).toEqual(new Set([f.aRevoked.id, f.bRevoked.id]));
      expect([...(await listed("?status=provider-disabled")).keys()]).toEqual([f.bDisabled.id]);

      expect(new Set((await listed(`?provider_key_id=${f.pkA.id}`)).keys())).toEqual(new Set([f.aActive.id, f.aExpired.id, f.aRevoked.id]));
      expect([...(await listed(`?provider_key_id=${f.pkB.id}&status=revoked`)).keys()]).toEqual([f.bRevoked.id]);
      expect([...(await listed(`?provider_key_id=${f.pkB.id}&status=active`)).keys()]).toEqual([]);
      expect([...(await listed("?provider_key_id=pk_unknown")).keys()]).toEqual([]);
    });

    test("an unknown status is 422 naming status", async () => {
      expectError(await app().call("GET", "/api/proxy-keys?status=dead"), 422, "validation_failed", "status");
    });

    test("a key becomes expired exactly at expires_at", async () => {
      const pk = await createProviderKey(app());
      const created = await createProxyKey(app(), pk.id, { ttl_seconds: 10 });
      app().clock.advance(9_999);
      expect((await app().call("GET", `/api/proxy-keys/${created.id}`)).json.status).toBe("active");
      expect([...(await listed("?status=expired")).keys()]).toEqual([]);
      app().clock.advance(1);
      expect((await app().call("GET", `/api/proxy-keys/${created.id}`)).json.status).toBe("expired");
      expect([...(await listed("?status=expired")).keys()]).toEqual([created.id]);
      expect([...(await listed("?status=active")).keys()]).toEqual([]);
    });

    test("pagination with a filter walks every matching row once", async () => {
      const pkA = await createProviderKey(app());
      const pkB = await createProviderKey(app());
      const mine = [];
      for (let i = 0; i < 3; i++) {
        mine.push((await createProxyKey(app(), pkA.id)).id);
        await createProxyKey(app(), pkB.id);
      }
      const { ids, pages } = await listAll(app(), `/api/proxy-keys?provider_key_id=${pkA.id}`, 2);
      expect(pages).toBe(2);
      expect(ids.sort()).toEqual(mine.sort());
    });
  });

  describe("update", () => {
    test("name, metadata and expiry; expires_at null clears it", async () => {
      const pk = await createProviderKey(app());
      const created = await createProxyKey(app(), pk.id, { ttl_seconds: 60, metadata: { team: "a" } });
      app().clock.advance(1_000);

      const renamed = await app().call("PATCH", `/api/proxy-keys/${created.id}`, { name: "renamed" });
      expectStatus(renamed, 200);
      expect(renamed.json).toMatchObject({
        name: "renamed",
        metadata: { team: "a" },
        expires_at: iso(NOW + 60_000),
        updated_at: iso(NOW + 1_000),
        created_at: iso(NOW),
      });

      const meta = await app().call("PATCH", `/api/proxy-keys/${created.id}`, { metadata: { team: "b", owner: "bob" } });
      expect(meta.json.metadata).toEqual({ team: "b", owner: "bob" });
      const noMeta = await app().call("PATCH", `/api/proxy-keys/${created.id}`, { metadata: null });
      expect(noMeta.json.metadata).toBeNull();

      const later = await app().call("PATCH", `/api/proxy-keys/${created.id}`, { expires_at: "2026-06-01T00:00:00Z" });
      expect(later.json.expires_at).toBe("2026-06-01T00:00:00.000Z");
      const ttl = await app().call("PATCH", `/api/proxy-keys/${created.id}`, { ttl_seconds: 120 });
      expect(ttl.json.expires_at).toBe(iso(NOW + 1_000 + 120_000));
      const cleared = await app().call("PATCH", `/api/proxy-keys/${created.id}`, { expires_at: null });
      expectStatus(cleared, 200);
      expect(cleared.json.expires_at).toBeNull();
      expect(app().store.proxyKeys.byId(created.id)!.expiresAt).toBeNull();

      // Clearing the expiry brings an expired key back.
      expectStatus(await app().call("PATCH", `/api/proxy-keys/${created.id}`, { ttl_seconds: 5 }), 200);
      app().clock.advance(5_000);
      expect((await app().call("GET", `/api/proxy-keys/${created.id}`)).json.status).toBe("expired");
      expectStatus(await app().call("PATCH", `/api/proxy-keys/${created.id}`, { expires_at: null }), 200);
      expect((await app().call("GET", `/api/proxy-keys/${created.id}`)).json.status).toBe("active");
      expect((await app().call("GET", `/api/proxy-keys/${created.id}`)).json.name).toBe("renamed");
    });

    test("a field left out is left alone", async () => {
      const pk = await createProviderKey(app());
      const created = await createProxyKey(app(), pk.id, {
        ttl_seconds: 60,
        metadata: { k: "v" },
        budget_usd: 5,
        budget_period: "daily",
      });
      const before = app().store.proxyKeys.byId(created.id)!;
      const res = await app().call("PATCH", `/api/proxy-keys/${created.id}`, { name: "only-name" });
      expectStatus(res, 200);
      expect(res.json.expires_at).toBe(iso(NOW + 60_000));
      expect(res.json.metadata).toEqual({ k: "v" });
      // Schema defaults must not sneak into a PATCH: the period stays daily.
      const after = app().store.proxyKeys.byId(created.id)!;
      expect(after.budgetPeriod).toBe("daily");
      expect({ ...after, name: before.name, updatedAt: before.updatedAt }).toEqual(before);
    });

    test("validation: both expiry forms, past dates, empty patch", async () => {
      const pk = await createProviderKey(app());
      const created = await createProxyKey(app(), pk.id);
      const path = `/api/proxy-keys/${created.id}`;
      expectError(await app().call("PATCH", path, { ttl_seconds: 5, expires_at: "2026-06-01T00:00:00Z" }), 422, "validation_failed", "ttl_seconds");
      expectError(await app().call("PATCH", path, { expires_at: "2020-01-01T00:00:00Z" }), 422, "validation_failed", "expires_at");
      expectError(await app().call("PATCH", path, {}), 422, "validation_failed");
      expect((await app().call("GET", path)).json.expires_at).toBeNull();
    });

    test("an unknown id is 404", async () => {
      expectError(await app().call("PATCH", "/api/proxy-keys/AAAAAAAAAAAA", { name: "x" }), 404, "not_found");
    });

    test("a revoked key can be renamed but its expiry cannot change", async () => {
      const pk = await createProviderKey(app());
      const created = await createProxyKey(app(), pk.id);
      expectStatus(await app().call("POST", `/api/proxy-keys/${created.id}/revoke`), 200);
      expectError(await app().call("PATCH", `/api/proxy-keys/${created.id}`, { ttl_seconds: 60 }), 409, "conflict");
      const renamed = await app().call("PATCH", `/api/proxy-keys/${created.id}`, { name: "old" });
      expectStatus(renamed, 200);
      expect(renamed.json).toMatchObject({ name: "old", status: "revoked", expires_at: null });
    });
  });

  describe("revoke", () => {
    test("answers 200 with status revoked and is idempotent", async () => {
      const pk = await createProviderKey(app());
      const created = await createProxyKey(app(), pk.id);
      app().clock.advance(2_000);
      const first = await app().call("POST", `/api/proxy-keys/${created.id}/revoke`);
      expectStatus(first, 200);
      expect(first.json).toMatchObject({ id: created.id, status: "revoked", revoked_at: iso(NOW + 2_000) });
      expect(first.json).not.toHaveProperty("key");

      app().clock.advance(5_000);
      const second = await app().call("POST", `/api/proxy-keys/${created.id}/revoke`);
      expectStatus(second, 200);
      expect(second.json).toEqual(first.json);
      expect((await app().call("GET", `/api/proxy-keys/${created.id}`)).json.status).toBe("revoked");
      // Revocation outranks a later provider-key disable and expiry.
      const disabled = await app().call("PATCH", `/api/provider-keys/${pk.id}`, { disabled: true });
      expectStatus(disabled, 200);
      expect(disabled.json.disabled).toBe(true);
      expect((await app().call("GET", `/api/proxy-keys/${created.id}`)).json.status).toBe("revoked");
    });

    test("an unknown id is 404", async () => {
      expectError(await app().call("POST", "/api/proxy-keys/AAAAAAAAAAAA/revoke"), 404, "not_found");
    });
  });

  describe("delete", () => {
    test("removes the record", async () => {
      const pk = await createProviderKey(app());
      const keep = await createProxyKey(app(), pk.id);
      const gone = await createProxyKey(app(), pk.id);
      const res = await app().call("DELETE", `/api/proxy-keys/${gone.id}`);
      expectStatus(res, 200);
      expect(res.json).toEqual({ deleted: true, id: gone.id });
      expectError(await app().call("GET", `/api/proxy-keys/${gone.id}`), 404, "not_found");
      expectError(await app().call("DELETE", `/api/proxy-keys/${gone.id}`), 404, "not_found");
      expect(app().store.proxyKeys.byId(gone.id)).toBeUndefined();
      expectStatus(await app().call("GET", `/api/proxy-keys/${keep.id}`), 200);
    });
  });
});
