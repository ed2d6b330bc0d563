/**
 * keys:issue admin tokens: created with a policy, and minting through
 * POST /api/proxy-keys only inside it. Every bound has a test that would fail
 * if the bound were not enforced (the same request passes within it).
 */
import { beforeEach, describe, expect, test } from "bun:test";
import { createAdminToken, createProviderKey, expectError, expectStatus, useApp } from "../helpers/admin-fixtures.ts";

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);

describe("keys:issue tokens", () => {
  const app = useApp();
  let openai: { id: string; name: string };
  let anthropic: { id: string; name: string };
  let outside: { id: string; name: string };
  let issuer: { id: string; token: string };

  const policy = () => ({
    provider_key_ids: [openai.id, anthropic.id],
    max_ttl_seconds: 3600,
    max_budget_usd: 2,
    allowed_models: ["gpt-4o-mini", "gpt-4o"],
    name_prefix: "ci-",
  });
  const mint = (body: Record<string, unknown>, token = issuer.token) => app().call("POST", "/api/proxy-keys", body, { token });

  /** A 403 naming the bound, with the field at fault. */
  async function expectBound(body: Record<string, unknown>, field: string, message: string): Promise<void> {
    const res = await mint(body);
    expectError(res, 403, "forbidden", field);
    expect(res.json.error.message).toBe(`Cannot issue proxy key: ${message}`);
  }

  beforeEach(async () => {
    openai = await createProviderKey(app(), { name: "openai-ci", provider: "openai" });
    anthropic = await createProviderKey(app(), { name: "anthropic-ci", provider: "anthropic" });
    outside = await createProviderKey(app(), { name: "openai-prod", provider: "openai" });
    issuer = await createAdminToken(app(), ["keys:issue"], { policy: policy() });
  });

  describe("creating the token", () => {
    test("the policy is stored and shown", async () => {
      const list = await app().call("GET", "/api/admin-tokens");
      const row = (list.json.data as Array<{ id: string; policy: unknown }>).find((r) => r.id === issuer.id);
      expect(row?.policy).toEqual(policy());
      expect(app().store.adminTokens.byId(issuer.id)?.policy).toEqual(policy());
    });

    test("a keys:issue token without a policy is 422 naming policy", async () => {
      expectError(await app().call("POST", "/api/admin-tokens", { name: "x", scopes: ["keys:issue"] }), 422, "validation_failed", "policy");
    });

    test("a policy on a token without keys:issue is 422", async () => {
      for (const scopes of [["read"], ["admin"]]) {
        const res = await app().call("POST", "/api/admin-tokens", { name: "x", scopes, policy: policy() });
        expectError(res, 422, "validation_failed", "policy");
      }
    });

    test("keys:issue with admin is refused: admin would ignore the policy", async () => {
      const res = await app().call("POST", "/api/admin-tokens", { name: "x", scopes: ["admin", "keys:issue"], policy: policy() });
      expectError(res, 422, "validation_failed", "scopes");
    });

    test("provider keys must exist", async () => {
      const res = await app().call("POST", "/api/admin-tokens", {
        name: "x",
        scopes: ["keys:issue"],
        policy: { ...policy(), provider_key_ids: [openai.id, "pk_doesnotexist"] },
      });
      expectError(res, 404, "not_found", "policy.provider_key_ids");
      expect(res.json.error.message).toContain("pk_doesnotexist");
    });

    test("malformed policies are 422 naming the field", async () => {
      for (const [bad, field] of [
        [{ ...policy(), max_ttl_seconds: 0 }, "policy.max_ttl_seconds"],
        [{ ...policy(), max_budget_usd: -1 }, "policy.max_budget_usd"],
        [{ ...policy(), provider_key_ids: [] }, "policy.provider_key_ids"],
        [{ ...policy(), extra: true }, "policy.extra"],
        [{ max_ttl_seconds: 60, max_budget_usd: 1 }, "policy.provider_key_ids"],
      ] as const) {
        const res = await app().call("POST", "/api/admin-tokens", { name: "x", scopes: ["keys:issue"], policy: bad });
        expectError(res, 422, "validation_failed", res.json?.error?.field);
        expect(res.json.error.field).toStartWith(field);
      }
    });
  });

  describe("minting", () => {
    test("defaults fill from the policy: max TTL, max budget, its models, a generated prefixed name", async () => {
      const res = await mint({ provider_key: "openai-ci" });
      expectStatus(res, 201);
      expect(res.json).toMatchObject({
        provider: "openai",
        provider_key_id: openai.id,
        expires_at: new Date(NOW + 3600_000).toISOString(),
        budget_usd: 2,
        budget_period: "total",
        allowed_models: ["gpt-4o-mini", "gpt-4o"],
        created_by: issuer.id,
        status: "active",
      });
      expect(res.json.name).toMatch(/^ci-[0-9A-Za-z]{10}$/);
      expect(res.json.key).toMatch(/^kwp_/);
    });

    test("a request inside every bound is honoured as asked", async () => {
      const res = await mint({ provider_key: anthropic.id, ttl_seconds: 3600, budget_usd: 2, allowed_models: ["gpt-4o"], name: "ci-build-42" });
      expectStatus(res, 201);
      expect(res.json).toMatchObject({ name: "ci-build-42", provider: "anthropic", budget_usd: 2, allowed_models: ["gpt-4o"] });
      expect(res.json.expires_at).toBe(new Date(NOW + 3600_000).toISOString());
      const smaller = await mint({ provider_key: "openai-ci", ttl_seconds: 60, budget_usd: 0.25 });
      expectStatus(smaller, 201);
      expect(smaller.json).toMatchObject({ budget_usd: 0.25, expires_at: new Date(NOW + 60_000).toISOString() });
    });

    test("ttl beyond max_ttl_seconds: 403 naming the bound", async () => {
      await expectBound({ provider_key: "openai-ci", ttl_seconds: 7200 }, "ttl_seconds", "ttl_seconds 7200 exceeds this token's max_ttl_seconds 3600");
      await expectBound({ provider_key: "openai-ci", ttl_seconds: 3601 }, "ttl_seconds", "ttl_seconds 3601 exceeds this token's max_ttl_seconds 3600");
      const far = new Date(NOW + 3601_000).toISOString();
      await expectBound({ provider_key: "openai-ci", expires_at: far }, "expires_at", `expires_at ${far} is more than this token's max_ttl_seconds 3600 away`);
      expectStatus(await mint({ provider_key: "openai-ci", expires_at: new Date(NOW + 3600_000).toISOString() }), 201);
    });

    test("budget beyond max_budget_usd, or a periodic budget: 403", async () => {
      await expectBound({ provider_key: "openai-ci", budget_usd: 2.01 }, "budget_usd", "budget_usd 2.01 exceeds this token's max_budget_usd 2");
      await expectBound(
        { provider_key: "openai-ci", budget_period: "daily" },
        "budget_period",
        "budget_period daily is not allowed; keys:issue tokens mint keys with a total budget",
      );
    });

    test("a name without the prefix: 403", async () => {
      await expectBound({ provider_key: "openai-ci", name: "prod-key" }, "name", 'name "prod-key" does not start with this token\'s name_prefix "ci-"');
    });

    test("a provider key outside the policy, by id and by name: 403, the same whether it exists or not", async () => {
      await expectBound({ provider_key: outside.id }, "provider_key", `provider key "${outside.id}" is not in this token's provider_key_ids`);
      await expectBound({ provider_key: "openai-prod" }, "provider_key", 'provider key "openai-prod" is not in this token\'s provider_key_ids');
      await expectBound({ provider_key_id: outside.id }, "provider_key_id", `provider key "${outside.id}" is not in this token's provider_key_ids`);
      await expectBound({ provider_key: "no-such-key" }, "provider_key", 'provider key "no-such-key" is not in this token\'s provider_key_ids');
      expect(app().store.proxyKeys.page({ limit: 10 }, { providerKeyId: outside.id })).toEqual([]);
    });

    test("a provider key is required", async () => {
      expectError(await mint({}), 422, "validation_failed", "provider_key");
    });

    test("models outside the policy: 403", async () => {
      await expectBound({ provider_key: "openai-ci", allowed_models: ["gpt-4o", "o1"] }, "allowed_models", 'model "o1" is not in this token\'s allowed_models');
    });

    test("a policy without models or prefix: any model list, any name, names generated as ci-…", async () => {
      const loose = await createAdminToken(app(), ["keys:issue"], {
        policy: { provider_key_ids: [openai.id], max_ttl_seconds: 600, max_budget_usd: 1 },
      });
      const res = await mint({ provider_key: "openai-ci", allowed_models: ["o1"], name: "anything" }, loose.token);
      expectStatus(res, 201);
      expect(res.json).toMatchObject({ name: "anything", allowed_models: ["o1"] });
      const unnamed = await mint({ provider_key: "openai-ci" }, loose.token);
      expect(unnamed.json.name).toMatch(/^ci-[0-9A-Za-z]{10}$/);
      expect(unnamed.json.allowed_models).toBeNull();
    });

    test("a deleted provider key of the policy: 404", async () => {
      expectStatus(await app().call("DELETE", `/api/provider-keys/${anthropic.id}`, {}), 200);
      const res = await mint({ provider_key: anthropic.id });
      expectError(res, 404, "not_found", "provider_key");
    });

    test("the audit row names that issuer token as actor", async () => {
      const res = await mint({ provider_key: "openai-ci" });
      expectStatus(res, 201);
      const row = app().store.audit.page({ limit: 1 })[0];
      expect(row).toMatchObject({ actorId: issuer.id, action: "proxy_key.create", targetId: res.json.id });
      expect(row?.details).toMatchObject({ issuer_token_id: issuer.id, provider_key_id: openai.id });
    });

    test("the batch route stays admin-only", async () => {
      const res = await app().call("POST", "/api/proxy-keys/batch", { count: 2, name_prefix: "ci-", provider_key_id: openai.id }, { token: issuer.token });
      expectError(res, 403, "forbidden");
    });

    test("the admin path is unchanged: name and provider key required, any bound", async () => {
      expectError(await app().call("POST", "/api/proxy-keys", { provider_key_id: outside.id }), 422, "validation_failed", "name");
      expectError(await app().call("POST", "/api/proxy-keys", { name: "x" }), 422, "validation_failed", "provider_key_id");
      const res = await app().call("POST", "/api/proxy-keys", { name: "prod", provider_key_id: outside.id, ttl_seconds: 86_400 * 365, budget_usd: 500 });
      expectStatus(res, 201);
      expect(res.json).toMatchObject({ name: "prod", provider: "openai", budget_usd: 500 });
      const byName = await app().call("POST", "/api/proxy-keys", { name: "by-name", provider_key: "anthropic-ci" });
      expectStatus(byName, 201);
      expect(byName.json).toMatchObject({ provider_key_id: anthropic.id, provider: "anthropic" });
    });
  });
});
