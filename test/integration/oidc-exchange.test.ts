/**
 * POST /api/oidc/exchange against a real local OIDC issuer (discovery + JWKS
 * over HTTP, tokens signed with jose) and a real mock provider behind the
 * minted key. Bad tokens are 401, tokens no policy accepts 403, each with a reason.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { generateKeyPair } from "jose";
import { generateKey } from "../../src/vault/key-format.ts";
import { startOidcIssuer, type OidcIssuer, type TokenOptions } from "../helpers/oidc-issuer.ts";
import { chatBody, closedPort, fetchText, useProxyHarness } from "../helpers/proxy.ts";
import { createProviderKey, expectError, expectStatus } from "../helpers/admin-fixtures.ts";

let idp: OidcIssuer;
let providerKeyId: string;
let policyId: string;
/** Every fetch keyward made, by URL: proves discovery and JWKS go through the app's injected fetch. */
const fetched: string[] = [];
const recording = Object.assign(
  (input: string | URL | Request, init?: RequestInit) => {
    fetched.push(input instanceof Request ? input.url : String(input));
    return fetch(input, init);
  },
  { preconnect: fetch.preconnect },
);
const h = useProxyHarness({ fetch: recording });

const AUDIENCE = "keyward-test";

const nowS = () => Math.floor(h.clock.now() / 1000);
const token = (options: Partial<TokenOptions> = {}) => idp.token({ now: nowS(), ...options });
const exchange = (jwt: string | null) => h.t.call("POST", "/api/oidc/exchange", undefined, { token: jwt });

beforeAll(async () => {
  idp = await startOidcIssuer();
  providerKeyId = (await createProviderKey(h.t, { provider: "openai", base_url: h.mock.baseUrl, key: "sk-upstream-oidc-0123456789" })).id;
  const policy = await h.t.call("POST", "/api/oidc/trust-policies", {
    name: "acme-main",
    issuer: idp.issuer,
    audience: AUDIENCE,
    claims: { repository: ["acme/api", "acme/web"], repository_id: [4242], ref: ["refs/heads/main"] },
    provider_key_id: providerKeyId,
    ttl_seconds: 900,
    budget_usd: 2,
    allowed_models: ["gpt-4o-mini"],
  });
  expectStatus(policy, 201);
  policyId = policy.json.id;
  // Another policy, for another issuer: an exchange must never reveal it.
  expectStatus(
    await h.t.call("POST", "/api/oidc/trust-policies", {
      name: "hidden-policy-name",
      issuer: "https://gitlab.example.com",
      audience: AUDIENCE,
      claims: { project_path: ["secret-group/secret-project"] },
      provider_key_id: providerKeyId,
      ttl_seconds: 60,
      budget_usd: 1,
    }),
    201,
  );
});

afterAll(() => idp.stop());

/** A 401 whose message names the reason. */
async function expectRefused(jwt: string, reason: RegExp): Promise<void> {
  const res = await exchange(jwt);
  expectError(res, 401, "unauthorized");
  expect(res.json.error.message).toMatch(reason);
}

/** A 403 naming the failing claim and the value received, never what the policies allow. */
async function expectMismatch(claims: Record<string, unknown>, message: string): Promise<void> {
  const res = await exchange(await token({ claims }));
  expectError(res, 403, "forbidden");
  expect(res.json.error.message).toContain(message);
  for (const secret of ["acme/web", 'refs/heads/main"', "hidden-policy-name", "secret-project", "acme-main"]) {
    expect(res.json.error.message).not.toContain(secret);
  }
}

describe("OIDC exchange", () => {
  test("a valid RS256 token for a matching policy gets a working key, recorded with sub, repository and run id", async () => {
    const res = await exchange(await token());
    expectStatus(res, 201);
    expect(res.json.key).toMatch(/^kwp_/);
    expect(res.json).toMatchObject({
      provider: "openai",
      provider_key_id: providerKeyId,
      expires_at: new Date(h.clock.now() + 900_000).toISOString(),
      budget_usd: 2,
      budget_period: "total",
      allowed_models: ["gpt-4o-mini"],
      created_by: `oidc:${policyId}`,
      metadata: {
        oidc_trust_policy: "acme-main",
        oidc_issuer: idp.issuer,
        oidc_sub: "repo:acme/api:ref:refs/heads/main",
        repository: "acme/api",
        run_id: "987654321",
      },
    });
    expect(res.json.name).toStartWith("acme-main-");

    const call = await fetchText(`${h.baseUrl}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${res.json.key}`, "content-type": "application/json" },
      body: chatBody(),
    });
    expect(call.status).toBe(200);
    expect(h.mock.requests).toHaveLength(1);
    expect(h.mock.requests[0]?.headers.authorization).toBe("Bearer sk-upstream-oidc-0123456789");

    const audit = await h.t.call("GET", "/api/audit?limit=5");
    const row = (audit.json.data as Array<Record<string, unknown>>).find((r) => r.target_id === res.json.id);
    expect(row).toMatchObject({
      actor_id: `oidc:${policyId}`,
      action: "proxy_key.create",
      details: { trust_policy_id: policyId, oidc_sub: "repo:acme/api:ref:refs/heads/main", repository: "acme/api", run_id: "987654321" },
    });
    expect(JSON.stringify(audit.json)).not.toContain(res.json.key);
  });

  test('an ES256 token works too; claims compare as strings (4242 matches "4242")', async () => {
    expectStatus(await exchange(await token({ alg: "ES256", claims: { repository_id: 4242, repository: "acme/web" } })), 201);
  });

  test("discovery and the JWKS go through the injected fetch and are cached", async () => {
    for (let i = 0; i < 3; i++) expectStatus(await exchange(await token()), 201);
    expect(fetched.filter((u) => u.startsWith(idp.issuer)).length).toBeGreaterThan(0);
    expect(idp.served.discovery).toBe(1);
    expect(idp.served.jwks).toBe(1);
  });

  test("a replayed jti is refused", async () => {
    const jwt = await token();
    expectStatus(await exchange(jwt), 201);
    await expectRefused(jwt, /already exchanged/);
  });

  test("wrong audience: 401", async () => {
    await expectRefused(await token({ claims: { aud: "someone-else" } }), /audience "someone-else" is not accepted/);
  });

  test("wrong issuer: 401, and keyward fetches nothing from it", async () => {
    const before = fetched.length;
    await expectRefused(await token({ claims: { iss: "https://evil.example.com" } }), /issuer "https:\/\/evil\.example\.com" is not trusted/);
    expect(fetched.length).toBe(before);
  });

  test("expired, not yet valid, issued in the future: 401 (30 s of clock skew tolerated)", async () => {
    const now = nowS();
    await expectRefused(await token({ claims: { iat: now - 600, nbf: now - 600, exp: now - 31 } }), /expired/);
    expectStatus(await exchange(await token({ claims: { iat: now - 600, nbf: now - 600, exp: now - 20 } })), 201);
    await expectRefused(await token({ claims: { nbf: now + 60 } }), /not valid yet/);
    await expectRefused(await token({ claims: { iat: now + 120, nbf: undefined } }), /issued in the future/);
  });

  test("an unknown kid, or a key not in the JWKS: 401", async () => {
    const rogue = await generateKeyPair("RS256");
    await expectRefused(await token({ key: rogue.privateKey, kid: "rogue-1" }), /no key in .*JWKS matches the token's kid and alg/);
    await expectRefused(await token({ key: rogue.privateKey }), /signature is invalid/);
  });

  test("alg none: 401", async () => {
    await expectRefused(idp.unsignedToken({ now: nowS() }), /algorithm "none" is not accepted/);
  });

  test("HS256 keyed with the RSA public key: 401", async () => {
    await expectRefused(await idp.hmacWithPublicKey({ now: nowS() }), /algorithm "HS256" is not accepted/);
  });

  test("a tampered payload: 401", async () => {
    const [header, , signature] = (await token()).split(".");
    const forged = Buffer.from(JSON.stringify({ iss: idp.issuer, aud: AUDIENCE, repository: "acme/api", exp: nowS() + 60, jti: "x" })).toString("base64url");
    await expectRefused(`${header}.${forged}.${signature}`, /signature is invalid/);
  });

  test("no jti: 401", async () => {
    await expectRefused(await token({ claims: { jti: undefined } }), /no jti claim/);
  });

  test("each claim mismatch is 403 naming the claim and the value received", async () => {
    await expectMismatch({ repository: "evil/api" }, 'claim repository is "evil/api", which is not allowed');
    await expectMismatch({ repository_id: "4243" }, 'claim repository_id is "4243"');
    await expectMismatch({ repository_id: 4243 }, "claim repository_id is 4243");
    await expectMismatch({ ref: "refs/heads/feature" }, 'claim ref is "refs/heads/feature"');
    await expectMismatch({ ref: undefined }, "claim ref is missing");
    await expectMismatch({ repository: ["acme/api"] }, 'claim repository is ["acme/api"]');
  });

  test("missing or non-JWT credentials: 401 in the admin error shape", async () => {
    const none = await exchange(null);
    expectError(none, 401, "unauthorized");
    expect(none.json.error.message).toContain("Authorization: Bearer");
    await expectRefused(h.t.rootToken, /not a keyward key or token/);
    await expectRefused(generateKey("proxy").token, /not a keyward key or token/);
    await expectRefused("not-a-jwt", /not a JWT/);
  });

  test("an issuer that cannot be reached: 502 bad_gateway", async () => {
    const down = `http://127.0.0.1:${await closedPort()}`;
    expectStatus(
      await h.t.call("POST", "/api/oidc/trust-policies", {
        name: "down",
        issuer: down,
        audience: AUDIENCE,
        claims: { repository: ["acme/api"] },
        provider_key_id: providerKeyId,
        ttl_seconds: 60,
        budget_usd: 1,
      }),
      201,
    );
    const res = await exchange(await token({ claims: { iss: down } }));
    expectError(res, 502, "bad_gateway");
    expect(res.json.error.message).toContain(down);
  });
});
