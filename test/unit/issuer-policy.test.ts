import { describe, expect, test } from "bun:test";
import type { ProviderKeyRow } from "../../src/db/store.ts";
import { applyIssuerPolicy, generatedName, readIssuerPolicy, validateIssuerPolicy, type IssuerPolicy } from "../../src/vault/issuer-policy.ts";

const NOW = Date.UTC(2026, 0, 15, 12);

function providerKey(id: string, name: string): ProviderKeyRow {
  return {
    id,
    name,
    provider: "openai",
    baseUrl: "https://api.openai.com/v1",
    keyVersion: 1,
    nonce: Buffer.alloc(12),
    ciphertext: Buffer.alloc(16),
    keyHint: "sk-…abcd",
    disabled: false,
    injectStreamUsage: true,
    deployments: null,
    openaiOrganization: null,
    openaiProject: null,
    createdAt: NOW,
    updatedAt: NOW,
  };
}

const rows = new Map([
  ["pk_a", providerKey("pk_a", "alpha")],
  ["pk_b", providerKey("pk_b", "beta")],
  ["pk_x", providerKey("pk_x", "outside")],
]);
const lookup = (id: string) => rows.get(id);
const policy: IssuerPolicy = {
  provider_key_ids: ["pk_a", "pk_b"],
  max_ttl_seconds: 600,
  max_budget_usd: 1.5,
  allowed_models: ["m1", "m2"],
  name_prefix: "ci/",
};

describe("applyIssuerPolicy", () => {
  test("fills defaults from the policy", () => {
    const decided = applyIssuerPolicy(policy, { provider_key: "beta" }, lookup, NOW);
    if (!decided.ok) throw new Error(decided.error.message);
    expect(decided.value.providerKey.id).toBe("pk_b");
    expect(decided.value.input).toMatchObject({
      provider_key_id: "pk_b",
      ttl_seconds: 600,
      budget_usd: 1.5,
      budget_period: "total",
      allowed_models: ["m1", "m2"],
    });
    expect(decided.value.input.name).toMatch(/^ci\/[0-9A-Za-z]{10}$/);
  });

  test("each bound, at and beyond its limit", () => {
    const at = applyIssuerPolicy(policy, { provider_key: "pk_a", ttl_seconds: 600, budget_usd: 1.5, allowed_models: ["m2"], name: "ci/x" }, lookup, NOW);
    expect(at.ok).toBe(true);
    const refused = (request: Parameters<typeof applyIssuerPolicy>[1]) => {
      const r = applyIssuerPolicy(policy, { provider_key: "pk_a", ...request }, lookup, NOW);
      if (r.ok) throw new Error("expected a refusal");
      expect(r.error.code).toBe("forbidden");
      return r.error.field;
    };
    expect(refused({ ttl_seconds: 601 })).toBe("ttl_seconds");
    expect(refused({ expires_at: new Date(NOW + 601_000).toISOString() })).toBe("expires_at");
    expect(refused({ budget_usd: 1.500001 })).toBe("budget_usd");
    expect(refused({ budget_period: "monthly" })).toBe("budget_period");
    expect(refused({ name: "prod" })).toBe("name");
    expect(refused({ allowed_models: ["m3"] })).toBe("allowed_models");
    expect(refused({ provider_key: "outside" })).toBe("provider_key");
    expect(refused({ provider_key: "pk_x" })).toBe("provider_key");
  });

  test("provider_key_id is matched by id only, never by name", () => {
    const r = applyIssuerPolicy(policy, { provider_key_id: "alpha" }, lookup, NOW);
    expect(r.ok ? "ok" : r.error.code).toBe("forbidden");
  });
});

describe("validateIssuerPolicy and readIssuerPolicy", () => {
  const exists = (id: string) => rows.has(id);
  test("dedupes and round-trips", () => {
    const v = validateIssuerPolicy(["keys:issue", "read"], { ...policy, provider_key_ids: ["pk_a", "pk_a"] }, exists);
    if (!v.ok || v.value === null) throw new Error("expected a policy");
    expect(v.value.provider_key_ids).toEqual(["pk_a"]);
    expect(readIssuerPolicy({ ...v.value })).toEqual(v.value);
    expect(readIssuerPolicy(null)).toBeUndefined();
    expect(readIssuerPolicy({ provider_key_ids: "pk_a" })).toBeUndefined();
  });

  test("generated names do not double a separator", () => {
    expect(generatedName("ci-")).toMatch(/^ci-[0-9A-Za-z]{10}$/);
    expect(generatedName("ci")).toMatch(/^ci-[0-9A-Za-z]{10}$/);
  });
});
