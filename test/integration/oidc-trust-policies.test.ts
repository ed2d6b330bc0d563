import { describe, expect, test } from "bun:test";
import { createProviderKey, expectError, expectStatus, useApp } from "../helpers/admin-fixtures.ts";

const GITHUB = "https://token.actions.githubusercontent.com";

function body(providerKeyId: string, extra: Record<string, unknown> = {}) {
  return {
    name: "acme-main",
    issuer: GITHUB,
    audience: "keyward",
    claims: { repository: ["acme/api"], repository_id: [4242], ref_protected: [true] },
    provider_key_id: providerKeyId,
    ttl_seconds: 3600,
    budget_usd: 2.5,
    ...extra,
  };
}

describe("OIDC trust policies", () => {
  const app = useApp(() => ({ config: { allowHttpUpstreams: false } }));

  test("create, get, list, delete; claim values are stored as strings; audited", async () => {
    const pk = await createProviderKey(app());
    const created = await app().call("POST", "/api/oidc/trust-policies", body(pk.id, { allowed_models: ["gpt-4o-mini"] }));
    expectStatus(created, 201);
    expect(created.json).toMatchObject({
      name: "acme-main",
      issuer: GITHUB,
      audience: "keyward",
      claims: { repository: ["acme/api"], repository_id: ["4242"], ref_protected: ["true"] },
      provider_key_id: pk.id,
      ttl_seconds: 3600,
      budget_usd: 2.5,
      allowed_models: ["gpt-4o-mini"],
    });
    expect(created.json.id).toMatch(/^tp_[0-9A-Za-z]{12}$/);
    const got = await app().call("GET", `/api/oidc/trust-policies/${created.json.id}`);
    expect(got.json).toEqual(created.json);
    const list = await app().call("GET", "/api/oidc/trust-policies");
    expect(list.json).toEqual({ data: [created.json], next_cursor: null });
    expectStatus(await app().call("DELETE", `/api/oidc/trust-policies/${created.json.id}`), 200);
    expectError(await app().call("GET", `/api/oidc/trust-policies/${created.json.id}`), 404, "not_found");
    expectError(await app().call("DELETE", `/api/oidc/trust-policies/${created.json.id}`), 404, "not_found");
    const actions = app()
      .store.audit.page({ limit: 2 })
      .map((r) => r.action);
    expect(actions).toEqual(["oidc_trust_policy.delete", "oidc_trust_policy.create"]);
  });

  test("an issuer must be https (plain http only with --allow-http-upstreams)", async () => {
    const pk = await createProviderKey(app());
    for (const issuer of ["http://issuer.example.com", "ftp://x", "not a url", "https://user:pw@x.example.com", "https://x.example.com/?q=1"]) {
      expectError(await app().call("POST", "/api/oidc/trust-policies", body(pk.id, { issuer })), 422, "validation_failed", "issuer");
    }
  });

  test("bad input: 422 naming the field; unknown provider key 404; duplicate name 409", async () => {
    const pk = await createProviderKey(app());
    for (const [extra, field] of [
      [{ claims: {} }, "claims"],
      [{ claims: { repository: [] } }, "claims.repository"],
      [{ claims: { "bad claim": ["x"] } }, "claims"],
      [{ ttl_seconds: 0 }, "ttl_seconds"],
      [{ ttl_seconds: 8 * 86_400 }, "ttl_seconds"],
      [{ budget_usd: -1 }, "budget_usd"],
      [{ audience: "" }, "audience"],
    ] as const) {
      const res = await app().call("POST", "/api/oidc/trust-policies", body(pk.id, extra));
      expectError(res, 422, "validation_failed", res.json?.error?.field);
      expect(res.json.error.field).toStartWith(field);
    }
    expectError(await app().call("POST", "/api/oidc/trust-policies", body("pk_nonexistent00")), 404, "not_found", "provider_key_id");
    expectStatus(await app().call("POST", "/api/oidc/trust-policies", body(pk.id)), 201);
    expectError(await app().call("POST", "/api/oidc/trust-policies", body(pk.id)), 409, "conflict", "name");
  });

  test("a provider key that a trust policy names cannot be deleted, even with cascade", async () => {
    const pk = await createProviderKey(app());
    const policy = await app().call("POST", "/api/oidc/trust-policies", body(pk.id));
    for (const query of ["", "?cascade=true"]) {
      const res = await app().call("DELETE", `/api/provider-keys/${pk.id}${query}`, {});
      expectError(res, 409, "conflict");
      expect(res.json.error.message).toContain("trust polic");
    }
    expectStatus(await app().call("DELETE", `/api/oidc/trust-policies/${policy.json.id}`), 200);
    expectStatus(await app().call("DELETE", `/api/provider-keys/${pk.id}`, {}), 200);
  });

  test("read and keys:issue tokens cannot see or change trust policies", async () => {
    const pk = await createProviderKey(app());
    const reader = await app().call("POST", "/api/admin-tokens", { name: "r", scopes: ["read"] });
    for (const [method, path] of [
      ["GET", "/api/oidc/trust-policies"],
      ["POST", "/api/oidc/trust-policies"],
    ] as const) {
      const res = await app().call(method, path, method === "POST" ? body(pk.id) : undefined, { token: reader.json.token });
      expectError(res, 403, "forbidden");
    }
  });
});
