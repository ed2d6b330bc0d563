/**
 * OIDC details a hostile review found, against real local issuers (discovery
 * and JWKS over HTTP, tokens signed with jose): a token with an unknown
 * critical header extension is the caller's problem (401), not the issuer's
 * (502); `typ`, when present, must say JWT; and a discovery document that puts
 * the JWKS on another host is refused unless a trust policy names that host.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createProviderKey, expectError, expectStatus } from "../helpers/admin-fixtures.ts";
import { startOidcIssuer, type OidcIssuer, type TokenOptions } from "../helpers/oidc-issuer.ts";
import { useProxyHarness } from "../helpers/proxy.ts";

const AUDIENCE = "keyward-test";
const h = useProxyHarness();

let idp: OidcIssuer;
/** An issuer whose discovery document points the JWKS at 127.0.0.2: another host. */
let elsewhere: OidcIssuer;
let providerKeyId: string;

const nowS = () => Math.floor(h.clock.now() / 1000);
const exchange = (jwt: string) => h.t.call("POST", "/api/oidc/exchange", undefined, { token: jwt });

function policyBody(name: string, issuer: string, extra: Record<string, unknown> = {}) {
  return { name, issuer, audience: AUDIENCE, claims: { repository: ["acme/api"] }, provider_key_id: providerKeyId, ttl_seconds: 600, budget_usd: 1, ...extra };
}

beforeAll(async () => {
  idp = await startOidcIssuer();
  elsewhere = await startOidcIssuer({ jwksElsewhere: true });
  providerKeyId = (await createProviderKey(h.t, { provider: "openai", base_url: h.mock.baseUrl, key: "sk-upstream-oidc-0123456789" })).id;
  expectStatus(await h.t.call("POST", "/api/oidc/trust-policies", policyBody("acme", idp.issuer)), 201);
});

afterAll(async () => {
  await idp?.stop();
  await elsewhere?.stop();
});

describe("the token's header", () => {
  const token = (options: Partial<TokenOptions> = {}) => idp.token({ now: nowS(), ...options });

  test("an unknown critical extension is 401 naming it, not 502", async () => {
    const res = await exchange(await token({ header: { crit: ["urn:example:must-understand"], "urn:example:must-understand": true } }));
    expectError(res, 401, "unauthorized");
    expect(res.json.error.message).toBe(
      'Cannot exchange token: token header marks extensions as critical that keyward does not support (crit: "urn:example:must-understand")',
    );
  });

  test("a typ other than JWT is 401: an access token or logout token is not an ID token", async () => {
    for (const typ of ["at+jwt", "logout+jwt", "dpop+jwt", "JOSE"]) {
      const res = await exchange(await token({ header: { typ } }));
      expectError(res, 401, "unauthorized");
      expect(res.json.error.message).toBe(`Cannot exchange token: token type "${typ}" is not an ID token's (typ must be JWT when present)`);
    }
  });

  test("typ JWT in any case, application/jwt, or no typ at all are accepted", async () => {
    for (const typ of ["JWT", "jwt", "application/jwt", undefined]) {
      expectStatus(await exchange(await token({ header: { typ } })), 201);
    }
  });
});

describe("where the JWKS comes from", () => {
  const token = () => elsewhere.token({ now: nowS() });

  test("a jwks_uri on another host is refused, without fetching it, unless a trust policy names the host", async () => {
    const unnamed = await h.t.call("POST", "/api/oidc/trust-policies", policyBody("elsewhere-unnamed", elsewhere.issuer));
    expectStatus(unnamed, 201);
    expect(unnamed.json.jwks_hosts).toEqual([]);
    const refused = await exchange(await token());
    expectError(refused, 502, "bad_gateway");
    expect(refused.json.error.message).toBe(
      `Cannot exchange token: cannot fetch the signing keys of issuer ${elsewhere.issuer}: its jwks_uri is on host ${elsewhere.jwksHost}, not the issuer's; a trust policy must name that host in jwks_hosts`,
    );
    expect(elsewhere.served.jwks).toBe(0);

    // A policy for the issuer names the host: the same token's issuer is now trusted to keep its keys there.
    const named = await h.t.call("POST", "/api/oidc/trust-policies", policyBody("elsewhere-named", elsewhere.issuer, { jwks_hosts: [elsewhere.jwksHost] }));
    expectStatus(named, 201);
    expect(named.json.jwks_hosts).toEqual([elsewhere.jwksHost]);
    expect(named.json.claims).toEqual({ repository: ["acme/api"] });
    expectStatus(await exchange(await token()), 201);
    expect(elsewhere.served.jwks).toBeGreaterThan(0);

    // Checked on every exchange: with the naming policy gone, the cached keys are not used again.
    expectStatus(await h.t.call("DELETE", `/api/oidc/trust-policies/${named.json.id}`), 200);
    expectError(await exchange(await token()), 502, "bad_gateway");
  });

  test("jwks_hosts are validated, normalised and shown; they never act as a claim", async () => {
    const bad = await h.t.call(
      "POST",
      "/api/oidc/trust-policies",
      policyBody("bad-hosts", elsewhere.issuer, { jwks_hosts: ["https://keys.example.com/jwks"] }),
    );
    expectError(bad, 422, "validation_failed", "jwks_hosts");
    const created = await h.t.call(
      "POST",
      "/api/oidc/trust-policies",
      policyBody("google-like", "https://accounts.example.com", { jwks_hosts: ["WWW.Example.com", "www.example.com", "keys.example.com:8443"] }),
    );
    expectStatus(created, 201);
    expect(created.json.jwks_hosts).toEqual(["www.example.com", "keys.example.com:8443"]);
    expect(created.json.claims).toEqual({ repository: ["acme/api"] });
    const got = await h.t.call("GET", `/api/oidc/trust-policies/${created.json.id}`);
    expect(got.json).toEqual(created.json);
  });
});
