import { describe, expect, test } from "bun:test";
import { createTestApp } from "../helpers/app.ts";
import { createProviderKey, createProxyKey, expectError, expectStatus, listAll, useApp } from "../helpers/admin-fixtures.ts";

const VIEW_KEYS = ["base_url", "created_at", "disabled", "id", "key_hint", "name", "provider", "updated_at"];
/** Fields that would leak the sealed key if a view ever grew them. */
const SECRET_FIELDS = ["key", "secret", "ciphertext", "nonce", "key_version", "api_key"];

describe("provider keys", () => {
  const app = useApp();

  test("create answers 201 with a key_hint and never the key", async () => {
    const secret = "sk-proj-CREATEtest0123456789abcdefWXYZ";
    const res = await app().call("POST", "/api/provider-keys", { name: "openai-prod", provider: "openai", key: secret });
    expectStatus(res, 201);
    for (const field of VIEW_KEYS) expect(res.json).toHaveProperty(field);
    for (const field of SECRET_FIELDS) expect(res.json).not.toHaveProperty(field);
    expect(res.json).toMatchObject({
      name: "openai-prod",
      provider: "openai",
      base_url: "https://api.openai.com/v1",
      key_hint: "sk-…WXYZ",
      disabled: false,
      created_at: "2026-01-15T12:00:00.000Z",
    });
    expect(res.json.id).toMatch(/^pk_[0-9A-Za-z]{12}$/);
    expect(res.text).not.toContain(secret);
    expect(res.text).not.toContain("CREATEtest");

    const got = await app().call("GET", `/api/provider-keys/${res.json.id}`);
    expectStatus(got, 200);
    expect(got.json).toEqual(res.json);
    expect(got.text).not.toContain("CREATEtest");

    // The stored key decrypts to exactly what was sent.
    const row = app().store.providerKeys.byId(res.json.id);
    expect(row).toBeDefined();
    expect(await app().services.providerKeys.reveal(row!)).toBe(secret);
  });

  test("the key is trimmed before it is stored", async () => {
    const created = await createProviderKey(app(), { key: "  sk-trimmed-abcdefghijklmnop1234\n" });
    const row = app().store.providerKeys.byId(created.id);
    expect(await app().services.providerKeys.reveal(row!)).toBe("sk-trimmed-abcdefghijklmnop1234");
    expect(created.key_hint).toBe("sk-…1234");
  });

  test("each provider gets its default base_url", async () => {
    const expected: Record<string, string> = {
      openai: "https://api.openai.com/v1",
      anthropic: "https://api.anthropic.com/v1",
      gemini: "https://generativelanguage.googleapis.com/v1beta/openai",
    };
    for (const [provider, baseUrl] of Object.entries(expected)) {
      const created = await createProviderKey(app(), { provider });
      expect(created.provider).toBe(provider);
      expect(created.base_url).toBe(baseUrl);
    }
  });

  test("an explicit base_url overrides the default and loses its trailing slash", async () => {
    const created = await createProviderKey(app(), { provider: "openai", base_url: "https://proxy.example.com/openai/v1/" });
    expect(created.base_url).toBe("https://proxy.example.com/openai/v1");
  });

  test("base_url is required for openai-compatible and azure-openai", async () => {
    for (const provider of ["openai-compatible", "azure-openai"]) {
      const res = await app().call("POST", "/api/provider-keys", { name: `n-${provider}`, provider, key: "sk-abcdefghijklmnop" });
      expectError(res, 422, "validation_failed", "base_url");
      expect(res.json.error.message).toContain("base_url");
      expect(res.json.error.message).toContain(provider);
    }
    const azure = await createProviderKey(app(), {
      provider: "azure-openai",
      base_url: "https://my-resource.openai.azure.com/openai/v1",
    });
    expect(azure.base_url).toBe("https://my-resource.openai.azure.com/openai/v1");
    const local = await createProviderKey(app(), { provider: "openai-compatible", base_url: "http://127.0.0.1:11434/v1" });
    expect(local.base_url).toBe("http://127.0.0.1:11434/v1");
  });

  test("an unknown provider is 422 naming provider", async () => {
    const res = await app().call("POST", "/api/provider-keys", { name: "x", provider: "openia", key: "sk-abcdefghijklmnop" });
    expectError(res, 422, "validation_failed", "provider");
  });

  test("base_urls with credentials, query, fragment or another scheme are refused", async () => {
    for (const baseUrl of [
      "https://user:pass@api.example.com/v1",
      "https://api.example.com/v1?x=1",
      "https://api.example.com/v1#frag",
      "ftp://api.example.com/v1",
      "not a url",
      "/relative/v1",
    ]) {
      const res = await app().call("POST", "/api/provider-keys", {
        name: "bad-url",
        provider: "openai-compatible",
        key: "sk-abcdefghijklmnop",
        base_url: baseUrl,
      });
      expectError(res, 422, "validation_failed", "base_url");
    }
    expect(app().store.providerKeys.all()).toEqual([]);
  });

  test("get of an unknown id is 404", async () => {
    expectError(await app().call("GET", "/api/provider-keys/pk_doesnotexist"), 404, "not_found");
    expectError(await app().call("PATCH", "/api/provider-keys/pk_doesnotexist", { name: "x" }), 404, "not_found");
    expectError(await app().call("DELETE", "/api/provider-keys/pk_doesnotexist"), 404, "not_found");
  });

  test("a duplicate name is 409 on create and on rename; renaming to its own name is fine", async () => {
    const a = await createProviderKey(app(), { name: "shared" });
    expectError(
      await app().call("POST", "/api/provider-keys", { name: "shared", provider: "anthropic", key: "sk-ant-abcdefghijklmnop" }),
      409,
      "conflict",
      "name",
    );
    const b = await createProviderKey(app(), { name: "other" });
    expectError(await app().call("PATCH", `/api/provider-keys/${b.id}`, { name: "shared" }), 409, "conflict", "name");
    expect((await app().call("GET", `/api/provider-keys/${b.id}`)).json.name).toBe("other");
    expectStatus(await app().call("PATCH", `/api/provider-keys/${a.id}`, { name: "shared" }), 200);
  });

  describe("update", () => {
    test("rename", async () => {
      const created = await createProviderKey(app(), { name: "before" });
      app().clock.advance(5_000);
      const res = await app().call("PATCH", `/api/provider-keys/${created.id}`, { name: "after" });
      expectStatus(res, 200);
      expect(res.json.name).toBe("after");
      expect(res.json.updated_at).toBe("2026-01-15T12:00:05.000Z");
      expect(res.json.created_at).toBe("2026-01-15T12:00:00.000Z");
      expect((await app().call("GET", `/api/provider-keys/${created.id}`)).json.name).toBe("after");
    });

    test("replacing the key keeps the id, changes key_hint and re-seals the new key", async () => {
      const created = await createProviderKey(app(), { key: "sk-old-abcdefghijklmnopOLD1" });
      const proxy = await createProxyKey(app(), created.id);
      const before = app().store.providerKeys.byId(created.id)!;
      const res = await app().call("PATCH", `/api/provider-keys/${created.id}`, { key: "sk-new-abcdefghijklmnopNEW2" });
      expectStatus(res, 200);
      expect(res.json.id).toBe(created.id);
      expect(res.json.key_hint).toBe("sk-…NEW2");
      expect(res.text).not.toContain("abcdefghijklmnopNEW2");
      const after = app().store.providerKeys.byId(created.id)!;
      expect(Buffer.from(after.nonce).equals(Buffer.from(before.nonce))).toBe(false);
      expect(await app().services.providerKeys.reveal(after)).toBe("sk-new-abcdefghijklmnopNEW2");
      // Its proxy keys still point at it and are still active.
      const proxyView = await app().call("GET", `/api/proxy-keys/${proxy.id}`);
      expect(proxyView.json).toMatchObject({ provider_key_id: created.id, status: "active" });
    });

    test("base_url", async () => {
      const created = await createProviderKey(app());
      const res = await app().call("PATCH", `/api/provider-keys/${created.id}`, { base_url: "https://gateway.example.com/v1/" });
      expectStatus(res, 200);
      expect(res.json.base_url).toBe("https://gateway.example.com/v1");
      expectError(await app().call("PATCH", `/api/provider-keys/${created.id}`, { base_url: "https://a@b.example.com" }), 422, "validation_failed", "base_url");
      expect((await app().call("GET", `/api/provider-keys/${created.id}`)).json.base_url).toBe("https://gateway.example.com/v1");
    });

    test("disable and enable; a disabled provider key makes its proxy keys provider-disabled", async () => {
      const created = await createProviderKey(app());
      const proxy = await createProxyKey(app(), created.id);
      const off = await app().call("PATCH", `/api/provider-keys/${created.id}`, { disabled: true });
      expectStatus(off, 200);
      expect(off.json.disabled).toBe(true);
      expect((await app().call("GET", `/api/proxy-keys/${proxy.id}`)).json.status).toBe("provider-disabled");
      const on = await app().call("PATCH", `/api/provider-keys/${created.id}`, { disabled: false });
      expect(on.json.disabled).toBe(false);
      expect((await app().call("GET", `/api/proxy-keys/${proxy.id}`)).json.status).toBe("active");
    });

    test("a PATCH leaves the fields it does not mention alone", async () => {
      const created = await createProviderKey(app(), { disabled: true, base_url: "https://custom.example.com/v1" });
      const off = await app().call("PATCH", `/api/provider-keys/${created.id}`, { inject_stream_usage: false });
      expectStatus(off, 200);
      expect(off.json.inject_stream_usage).toBe(false);
      const res = await app().call("PATCH", `/api/provider-keys/${created.id}`, { name: "renamed-only" });
      expectStatus(res, 200);
      expect(res.json).toMatchObject({
        name: "renamed-only",
        disabled: true,
        base_url: "https://custom.example.com/v1",
        inject_stream_usage: false,
      });
      const row = app().store.providerKeys.byId(created.id)!;
      expect(row.injectStreamUsage).toBe(false);
      expect(row.disabled).toBe(true);
    });

    test("openai_organization and openai_project: pinned on create, shown, replaced and unpinned by PATCH, audited by name", async () => {
      const created = await app().call("POST", "/api/provider-keys", {
        name: "openai-pinned",
        provider: "openai",
        key: "sk-proj-PINNEDtest0123456789abcdef",
        openai_organization: "org-Abc123",
        openai_project: "proj_Def456",
      });
      expectStatus(created, 201);
      expect(created.json).toMatchObject({ openai_organization: "org-Abc123", openai_project: "proj_Def456" });
      const id = String(created.json.id);
      expect((await app().call("GET", `/api/provider-keys/${id}`)).json).toMatchObject({ openai_organization: "org-Abc123" });
      const moved = await app().call("PATCH", `/api/provider-keys/${id}`, { openai_project: "proj_Other789" });
      expect(moved.json).toMatchObject({ openai_organization: "org-Abc123", openai_project: "proj_Other789" });
      const unpinned = await app().call("PATCH", `/api/provider-keys/${id}`, { openai_organization: null, openai_project: null });
      expect(unpinned.json).toMatchObject({ openai_organization: null, openai_project: null });
      const audit = await app().call("GET", "/api/audit");
      const updates = (audit.json.data as Array<{ action: string; target_id: string; details: { fields?: string[] } }>)
        .filter((e) => e.action === "provider_key.update" && e.target_id === id)
        .map((e) => e.details.fields);
      expect(updates).toEqual([["openai_organization", "openai_project"], ["openai_project"]]);
      // Unpinned keys show null.
      const plain = await createProviderKey(app());
      expect((await app().call("GET", `/api/provider-keys/${plain.id}`)).json).toMatchObject({ openai_organization: null, openai_project: null });
    });

    test("openai_organization and openai_project: header-safe ids only, and on openai keys only", async () => {
      for (const bad of ["org Abc", "org-Abc\r\nx-evil: 1", "", "o".repeat(129)]) {
        const res = await app().call("POST", "/api/provider-keys", {
          name: `bad-${bad.length}`,
          provider: "openai",
          key: "sk-proj-0123456789abcdefghij",
          openai_organization: bad,
        });
        expect(res.status).toBe(422);
      }
      const anthropic = await app().call("POST", "/api/provider-keys", {
        name: "anthropic-pinned",
        provider: "anthropic",
        key: "sk-ant-0123456789abcdefghij",
        openai_project: "proj_Def456",
      });
      expectError(anthropic, 422, "validation_failed", "openai_project");
      const other = await createProviderKey(app(), { provider: "anthropic" });
      expectError(
        await app().call("PATCH", `/api/provider-keys/${other.id}`, { openai_organization: "org-Abc123" }),
        422,
        "validation_failed",
        "openai_organization",
      );
      // Unpinning (null) is always allowed.
      expectStatus(await app().call("PATCH", `/api/provider-keys/${other.id}`, { openai_organization: null }), 200);
    });

    test("a key can be created disabled", async () => {
      const created = await createProviderKey(app(), { disabled: true });
      expect(created.disabled).toBe(true);
    });

    test("an invalid new key is refused and the old one kept", async () => {
      const created = await createProviderKey(app(), { key: "sk-keep-abcdefghijklmnopKEEP" });
      expectError(await app().call("PATCH", `/api/provider-keys/${created.id}`, { key: "sk bad key" }), 422, "validation_failed", "key");
      expectError(await app().call("PATCH", `/api/provider-keys/${created.id}`, { key: "   " }), 422, "validation_failed", "key");
      const row = app().store.providerKeys.byId(created.id)!;
      expect(await app().services.providerKeys.reveal(row)).toBe("sk-keep-abcdefghijklmnopKEEP");
    });
  });

  test("list paginates newest first; following next_cursor visits every row exactly once", async () => {
    const created: string[] = [];
    for (let i = 0; i < 5; i++) {
      created.push((await createProviderKey(app())).id);
      // Two rows share each timestamp, so the id tie-breaker is exercised too.
      if (i % 2 === 1) app().clock.advance(1_000);
    }
    const { ids, pages } = await listAll(app(), "/api/provider-keys", 2);
    expect(pages).toBe(3);
    expect(ids).toHaveLength(5);
    expect(new Set(ids)).toEqual(new Set(created));

    const all = await app().call("GET", "/api/provider-keys");
    expect(all.json.next_cursor).toBeNull();
    expect(all.json.data.map((r: { id: string }) => r.id)).toEqual(ids);
    const times: string[] = all.json.data.map((r: { created_at: string }) => r.created_at);
    expect([...times].sort().reverse()).toEqual(times);

    const exact = await app().call("GET", "/api/provider-keys?limit=5");
    expect(exact.json.data).toHaveLength(5);
    expect(exact.json.next_cursor).toBeNull();
  });

  test("a cursor the server did not issue is 422 naming cursor", async () => {
    expectError(await app().call("GET", "/api/provider-keys?cursor=not-a-cursor!"), 422, "validation_failed", "cursor");
    expectError(await app().call("GET", `/api/provider-keys?cursor=${btoa("garbage")}`), 422, "validation_failed", "cursor");
  });

  describe("delete", () => {
    test("refused with 409 while an active proxy key uses it", async () => {
      const created = await createProviderKey(app());
      await createProxyKey(app(), created.id);
      const res = await app().call("DELETE", `/api/provider-keys/${created.id}`);
      expectError(res, 409, "conflict");
      expect(res.json.error.message).toContain("cascade=true");
      expectStatus(await app().call("GET", `/api/provider-keys/${created.id}`), 200);
    });

    test("an unexpired key with a future expiry still blocks", async () => {
      const created = await createProviderKey(app());
      await createProxyKey(app(), created.id, { ttl_seconds: 60 });
      expectError(await app().call("DELETE", `/api/provider-keys/${created.id}`), 409, "conflict");
    });

    test("cascade=true revokes the active proxy keys, reports them and deletes everything", async () => {
      const created = await createProviderKey(app());
      const other = await createProviderKey(app());
      const a = await createProxyKey(app(), created.id);
      const b = await createProxyKey(app(), created.id);
      const revoked = await createProxyKey(app(), created.id);
      expectStatus(await app().call("POST", `/api/proxy-keys/${revoked.id}/revoke`), 200);
      const bystander = await createProxyKey(app(), other.id);

      const res = await app().call("DELETE", `/api/provider-keys/${created.id}?cascade=true`);
      expectStatus(res, 200);
      expect(res.json.deleted).toBe(true);
      expect(res.json.id).toBe(created.id);
      const revokedIds: string[] = res.json.revoked_proxy_key_ids;
      expect([...revokedIds].sort()).toEqual([a.id, b.id].sort());

      expectError(await app().call("GET", `/api/provider-keys/${created.id}`), 404, "not_found");
      for (const id of [a.id, b.id, revoked.id]) {
        expectError(await app().call("GET", `/api/proxy-keys/${id}`), 404, "not_found");
      }
      expect((await app().call("GET", `/api/proxy-keys/${bystander.id}`)).json.status).toBe("active");
      expectStatus(await app().call("GET", `/api/provider-keys/${other.id}`), 200);
    });

    test("allowed without cascade when its only proxy keys are revoked or expired", async () => {
      const created = await createProviderKey(app());
      const revoked = await createProxyKey(app(), created.id);
      await createProxyKey(app(), created.id, { ttl_seconds: 60 });
      expectStatus(await app().call("POST", `/api/proxy-keys/${revoked.id}/revoke`), 200);
      expectError(await app().call("DELETE", `/api/provider-keys/${created.id}`), 409, "conflict");
      app().clock.advance(60_000);
      const res = await app().call("DELETE", `/api/provider-keys/${created.id}`);
      expectStatus(res, 200);
      expect(res.json).toEqual({ deleted: true, id: created.id, revoked_proxy_key_ids: [] });
      expect(app().store.providerKeys.byId(created.id)).toBeUndefined();
      expect(app().store.proxyKeys.countForProviderKey(created.id)).toBe(0);
    });

    test("a key without proxy keys deletes at once", async () => {
      const created = await createProviderKey(app());
      const res = await app().call("DELETE", `/api/provider-keys/${created.id}`);
      expect(res.json).toEqual({ deleted: true, id: created.id, revoked_proxy_key_ids: [] });
      expectError(await app().call("DELETE", `/api/provider-keys/${created.id}`), 404, "not_found");
    });
  });
});

describe("provider keys without --allow-http-upstreams", () => {
  const app = useApp(() => ({ config: { allowHttpUpstreams: false } }));

  test("an http base_url is refused on create and update; https works", async () => {
    const res = await app().call("POST", "/api/provider-keys", {
      name: "local",
      provider: "openai-compatible",
      key: "sk-abcdefghijklmnop",
      base_url: "http://127.0.0.1:11434/v1",
    });
    expectError(res, 422, "validation_failed", "base_url");
    expect(res.json.error.message).toContain("--allow-http-upstreams");

    const created = await createProviderKey(app(), { provider: "openai-compatible", base_url: "https://llm.internal/v1" });
    expectError(await app().call("PATCH", `/api/provider-keys/${created.id}`, { base_url: "http://llm.internal/v1" }), 422, "validation_failed", "base_url");
    expect((await app().call("GET", `/api/provider-keys/${created.id}`)).json.base_url).toBe("https://llm.internal/v1");
  });
});

test("the test app helper allows http upstreams by default (so the refusal above is the flag's doing)", async () => {
  const app = await createTestApp();
  try {
    const res = await app.call("POST", "/api/provider-keys", {
      name: "local",
      provider: "openai-compatible",
      key: "sk-abcdefghijklmnop",
      base_url: "http://127.0.0.1:11434/v1",
    });
    expectStatus(res, 201);
  } finally {
    await app.cleanup();
  }
});
