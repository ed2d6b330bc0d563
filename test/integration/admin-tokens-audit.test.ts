import { describe, expect, test } from "bun:test";
import { parseKey } from "../../src/vault/key-format.ts";
import type { TestApp } from "../helpers/app.ts";
import { createAdminToken, createProviderKey, createProxyKey, expectError, expectStatus, listAll, useApp } from "../helpers/admin-fixtures.ts";

const rootId = (app: TestApp) => parseKey("admin", app.rootToken)!.id;

describe("admin tokens", () => {
  const app = useApp();

  test("create answers 201 with the token once; list never shows it", async () => {
    const res = await app().call("POST", "/api/admin-tokens", { name: "ci-reader", scopes: ["read"] });
    expectStatus(res, 201);
    const token: string = res.json.token;
    const parsed = parseKey("admin", token);
    expect(parsed).toBeDefined();
    expect(res.json).toMatchObject({
      id: parsed!.id,
      name: "ci-reader",
      scopes: ["read"],
      key_hint: `kwa_${parsed!.id}_…${token.slice(-4)}`,
      status: "active",
      expires_at: null,
      revoked_at: null,
      created_by: rootId(app()),
    });

    const list = await app().call("GET", "/api/admin-tokens");
    expectStatus(list, 200);
    const listed = list.json.data.find((t: { id: string }) => t.id === parsed!.id);
    expect(listed).toBeDefined();
    expect(listed).not.toHaveProperty("token");
    expect(list.text).not.toContain(parsed!.secret);
    expect(list.text).not.toContain(app().rootToken);

    const row = app().store.adminTokens.byId(parsed!.id)!;
    expect(row.secretHash.startsWith("$argon2id$v=19$m=19456,t=2,p=1$")).toBe(true);

    // The new token authenticates with its scopes.
    expectStatus(await app().call("GET", "/api/audit", undefined, { token }), 200);
    expectError(await app().call("POST", "/api/admin-tokens", { name: "x", scopes: ["admin"] }, { token }), 403, "forbidden");
  });

  test("duplicate scopes are stored once", async () => {
    const created = await createAdminToken(app(), ["read", "read"]);
    expect(created.scopes).toEqual(["read"]);
  });

  test("an unknown scope is 422 naming scopes", async () => {
    const res = await app().call("POST", "/api/admin-tokens", { name: "x", scopes: ["read", "superuser"] });
    expect(res.json.error?.field).toMatch(/^scopes(\[\d+\])?$/);
    expectError(res, 422, "validation_failed", res.json.error.field);
    expect(res.json.error.message).toContain("scopes");
    expectError(await app().call("POST", "/api/admin-tokens", { name: "x", scopes: [] }), 422, "validation_failed", "scopes");
    expectError(await app().call("POST", "/api/admin-tokens", { name: "x", scopes: "admin" }), 422, "validation_failed", "scopes");
    expect(app().store.adminTokens.count()).toBe(1);
  });

  test("expires_at must be a future ISO date-time", async () => {
    for (const at of ["2020-01-01T00:00:00Z", "soon"]) {
      expectError(await app().call("POST", "/api/admin-tokens", { name: "x", scopes: ["read"], expires_at: at }), 422, "validation_failed", "expires_at");
    }
    const created = await createAdminToken(app(), ["read"], { expires_at: "2026-03-01T00:00:00Z" });
    expect((created as unknown as { expires_at: string }).expires_at).toBe("2026-03-01T00:00:00.000Z");
  });

  test("revoke answers 200 with status revoked, is idempotent, and 404 for unknown ids", async () => {
    const created = await createAdminToken(app(), ["read"]);
    const first = await app().call("POST", `/api/admin-tokens/${created.id}/revoke`);
    expectStatus(first, 200);
    expect(first.json).toMatchObject({ id: created.id, status: "revoked", revoked_at: "2026-01-15T12:00:00.000Z" });
    expect(first.json).not.toHaveProperty("token");
    app().clock.advance(1_000);
    const second = await app().call("POST", `/api/admin-tokens/${created.id}/revoke`);
    expect(second.json).toEqual(first.json);
    expectError(await app().call("POST", "/api/admin-tokens/AAAAAAAAAAAA/revoke"), 404, "not_found");
    const listed = (await app().call("GET", "/api/admin-tokens")).json.data.find((t: { id: string }) => t.id === created.id);
    expect(listed.status).toBe("revoked");
  });
});

describe("audit log", () => {
  const app = useApp();

  interface AuditView {
    id: number;
    at: string;
    actor_id: string | null;
    action: string;
    target_type: string;
    target_id: string | null;
    details: Record<string, unknown> | null;
  }

  async function auditAll(): Promise<AuditView[]> {
    const res = await app().call("GET", "/api/audit?limit=200");
    expectStatus(res, 200);
    return res.json.data;
  }

  /** Runs `action` and returns the audit rows it added (oldest first). */
  async function added(action: () => Promise<unknown>): Promise<AuditView[]> {
    const before = new Set((await auditAll()).map((r) => r.id));
    await action();
    return (await auditAll()).filter((r) => !before.has(r.id)).reverse();
  }

  async function expectOneRow(
    action: () => Promise<unknown>,
    expected: { actor: string; action: string; targetType: string; targetId: () => string },
  ): Promise<AuditView> {
    const rows = await added(action);
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    expect(row).toMatchObject({
      actor_id: expected.actor,
      action: expected.action,
      target_type: expected.targetType,
      target_id: expected.targetId(),
    });
    return row;
  }

  test("every change writes one row with the actor token id, action and target id; no secret in any row", async () => {
    const root = rootId(app());
    const secrets: string[] = [app().rootToken, parseKey("admin", app().rootToken)!.secret];
    const ok = async (p: Promise<Awaited<ReturnType<TestApp["call"]>>>, status: number) => {
      const res = await p;
      expectStatus(res, status);
      return res;
    };

    // A second admin token acts for part of the sequence, so the actor is really the caller.
    let other = { id: "", token: "" };
    await expectOneRow(
      async () => {
        other = (await ok(app().call("POST", "/api/admin-tokens", { name: "ops", scopes: ["admin"] }), 201)).json;
      },
      { actor: root, action: "admin_token.create", targetType: "admin_token", targetId: () => other.id },
    );
    secrets.push(other.token, parseKey("admin", other.token)!.secret);

    const providerSecret = "sk-proj-AUDITsecretABCDEFGHIJKLMNOP1234";
    const replacedSecret = "sk-proj-AUDITreplacedQRSTUVWXYZ987654";
    secrets.push(providerSecret, replacedSecret);
    let pk = { id: "" };
    await expectOneRow(
      async () => {
        pk = (await ok(app().call("POST", "/api/provider-keys", { name: "p", provider: "openai", key: providerSecret }, { token: other.token }), 201)).json;
      },
      { actor: other.id, action: "provider_key.create", targetType: "provider_key", targetId: () => pk.id },
    );
    const update = await expectOneRow(() => ok(app().call("PATCH", `/api/provider-keys/${pk.id}`, { key: replacedSecret, name: "p2" }), 200), {
      actor: root,
      action: "provider_key.update",
      targetType: "provider_key",
      targetId: () => pk.id,
    });
    expect(update.details).toEqual({ fields: ["key", "name"] });

    let proxy = { id: "", key: "" };
    await expectOneRow(
      async () => {
        proxy = (await ok(app().call("POST", "/api/proxy-keys", { name: "k", provider_key_id: pk.id }, { token: other.token }), 201)).json;
      },
      { actor: other.id, action: "proxy_key.create", targetType: "proxy_key", targetId: () => proxy.id },
    );
    secrets.push(proxy.key, parseKey("proxy", proxy.key)!.secret);
    await expectOneRow(() => ok(app().call("PATCH", `/api/proxy-keys/${proxy.id}`, { name: "k2" }), 200), {
      actor: root,
      action: "proxy_key.update",
      targetType: "proxy_key",
      targetId: () => proxy.id,
    });
    await expectOneRow(() => ok(app().call("POST", `/api/proxy-keys/${proxy.id}/revoke`, {}), 200), {
      actor: root,
      action: "proxy_key.revoke",
      targetType: "proxy_key",
      targetId: () => proxy.id,
    });
    // Revoking again changes nothing and records nothing.
    expect(await added(() => ok(app().call("POST", `/api/proxy-keys/${proxy.id}/revoke`, {}), 200))).toEqual([]);
    await expectOneRow(() => ok(app().call("DELETE", `/api/proxy-keys/${proxy.id}`, {}), 200), {
      actor: root,
      action: "proxy_key.delete",
      targetType: "proxy_key",
      targetId: () => proxy.id,
    });

    // Cascade delete: still one row, listing what it revoked.
    const p2 = await createProxyKey(app(), pk.id);
    secrets.push(p2.key);
    const del = await expectOneRow(() => ok(app().call("DELETE", `/api/provider-keys/${pk.id}?cascade=true`, {}, { token: other.token }), 200), {
      actor: other.id,
      action: "provider_key.delete",
      targetType: "provider_key",
      targetId: () => pk.id,
    });
    expect(del.details).toEqual({ cascade: true, revoked_proxy_key_ids: [p2.id] });

    await expectOneRow(() => ok(app().call("POST", `/api/admin-tokens/${other.id}/revoke`, {}), 200), {
      actor: root,
      action: "admin_token.revoke",
      targetType: "admin_token",
      targetId: () => other.id,
    });

    const rows = await auditAll();
    const text = JSON.stringify(rows) + JSON.stringify(app().store.audit.page({ limit: 1000 }));
    for (const secret of secrets) expect(text).not.toContain(secret);
    // The distinctive middle of the provider keys, too (a hint is fine, a fragment is not).
    expect(text).not.toContain("AUDITsecret");
    expect(text).not.toContain("AUDITreplaced");
    for (const row of rows) expect(row.at).toBe("2026-01-15T12:00:00.000Z");
  });

  test("reads and refused writes write nothing", async () => {
    const pk = await createProviderKey(app(), { name: "taken" });
    await createProxyKey(app(), pk.id);
    const rows = await added(async () => {
      for (const path of ["/api/provider-keys", `/api/provider-keys/${pk.id}`, "/api/proxy-keys", "/api/admin-tokens"]) {
        expectStatus(await app().call("GET", path), 200);
      }
      expectError(await app().call("POST", "/api/provider-keys", { name: "taken", provider: "openai", key: "sk-abcdefghijklmnop" }), 409, "conflict", "name");
      expectError(await app().call("DELETE", `/api/provider-keys/${pk.id}`, {}), 409, "conflict");
      expectError(await app().call("PATCH", "/api/proxy-keys/AAAAAAAAAAAA", { name: "x" }), 404, "not_found");
      expectError(await app().call("POST", "/api/admin-tokens", { name: "x", scopes: ["nope"] }), 422, "validation_failed", "scopes[0]");
    });
    expect(rows).toEqual([]);
  });

  test("GET /api/audit paginates newest first; next_cursor walks every row once", async () => {
    for (let i = 0; i < 4; i++) await createProviderKey(app());
    const total = app().store.audit.page({ limit: 1000 }).length;
    expect(total).toBe(5); // the bootstrap token plus four keys
    const { ids, pages } = await listAll(app(), "/api/audit", 2);
    expect(pages).toBe(3);
    expect(ids.map(Number)).toEqual(
      app()
        .store.audit.page({ limit: 1000 })
        .map((r) => r.id),
    );
    const numeric = ids.map(Number);
    expect([...numeric].sort((a, b) => b - a)).toEqual(numeric);
    expect(new Set(numeric).size).toBe(total);
    expectError(await app().call("GET", "/api/audit?cursor=abc"), 422, "validation_failed", "cursor");
  });
});
