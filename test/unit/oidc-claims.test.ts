import { describe, expect, test } from "bun:test";
import type { TrustPolicyRow } from "../../src/db/store.ts";
import { matchTrustPolicy } from "../../src/vault/oidc/claims.ts";
import { ReplayCache } from "../../src/vault/oidc/replay.ts";
import { TestClock } from "../helpers/app.ts";

function policy(name: string, claims: Record<string, string[]>): TrustPolicyRow {
  return {
    id: `tp_${name}`,
    name,
    issuer: "https://issuer",
    audience: "aud",
    claims,
    providerKeyId: "pk_a",
    ttlSeconds: 60,
    budgetMicros: 1,
    allowedModels: null,
    createdBy: null,
    createdAt: 0,
  };
}

describe("matchTrustPolicy", () => {
  const first = policy("first", { repository: ["acme/api"], ref: ["refs/heads/main"] });
  const second = policy("second", { repository: ["acme/web"], run_attempt: ["1"] });

  test("the first policy whose every claim matches wins; numbers and booleans compare as strings", () => {
    const claims = { repository: "acme/web", run_attempt: 1 };
    const matched = matchTrustPolicy([first, second], claims);
    expect(matched.ok && matched.value.name).toBe("second");
    const bool = matchTrustPolicy([policy("b", { ref_protected: ["true"] })], { ref_protected: true });
    expect(bool.ok).toBe(true);
  });

  test("no match: the first candidate's first failing claim, with the value received and nothing allowed", () => {
    const r = matchTrustPolicy([first, second], { repository: "evil/api", ref: "refs/heads/main" });
    if (r.ok) throw new Error("expected a refusal");
    expect(r.error.code).toBe("forbidden");
    expect(r.error.message).toContain('claim repository is "evil/api"');
    for (const hidden of ["acme/api", "acme/web", "first", "second"]) expect(r.error.message).not.toContain(hidden);
  });

  test("objects and arrays never match a string", () => {
    expect(matchTrustPolicy([first], { repository: { toString: "acme/api" }, ref: "refs/heads/main" }).ok).toBe(false);
  });
});

describe("ReplayCache", () => {
  test("a key is claimed once until it expires; when full of live entries it refuses", () => {
    const clock = new TestClock(1_000);
    const cache = new ReplayCache(clock, 2);
    expect(cache.claim("a", 2_000)).toBe("claimed");
    expect(cache.claim("a", 2_000)).toBe("replayed");
    expect(cache.claim("b", 5_000)).toBe("claimed");
    expect(cache.claim("c", 5_000)).toBe("full");
    clock.advance(1_000);
    expect(cache.claim("c", 5_000)).toBe("claimed");
    expect(cache.size).toBe(2);
  });
});
