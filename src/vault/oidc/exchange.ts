import { decodeJwt, type JWTPayload } from "jose";
import type { Store, TrustPolicyRow } from "../../db/store.ts";
import { fail, ok, type Result } from "../../errors.ts";
import { microsToUsd } from "../../limits/money.ts";
import { generatedName } from "../issuer-policy.ts";
import type { CreatedProxyKey, CreateProxyKeyInput, ProxyKeyService } from "../proxy-keys.ts";
import { matchTrustPolicy } from "./claims.ts";
import { policyJwksHosts, policyTeamId } from "./trust-policies.ts";
import type { ReplayCache } from "./replay.ts";
import { OIDC_CLOCK_TOLERANCE_S, type OidcTokenVerifier } from "./verify.ts";

export interface OidcExchangeDeps {
  store: Store;
  verifier: OidcTokenVerifier;
  replay: ReplayCache;
  proxyKeys: ProxyKeyService;
}

export interface Exchanged extends CreatedProxyKey {
  policy: TrustPolicyRow;
}

const unauthorized = <T>(why: string) => fail<T>("unauthorized", `Cannot exchange token: ${why}`);

/** A claim as a short string for metadata and audit, or undefined when absent or not a scalar. */
function label(payload: JWTPayload, claim: string): string | undefined {
  const value = payload[claim];
  if (typeof value === "string") return value.slice(0, 500);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return undefined;
}

function audiencesOf(payload: JWTPayload): string[] {
  if (typeof payload.aud === "string") return [payload.aud];
  return Array.isArray(payload.aud) ? payload.aud.filter((a): a is string => typeof a === "string") : [];
}

/** Facts about the CI job, for the key's metadata and the audit row (never the token itself). */
function identity(payload: JWTPayload, policy: TrustPolicyRow): Record<string, string> {
  const facts: Record<string, string> = { oidc_trust_policy: policy.name, oidc_issuer: policy.issuer };
  for (const [key, claim] of [
    ["oidc_sub", "sub"],
    ["repository", "repository"],
    ["run_id", "run_id"],
  ] as const) {
    const value = label(payload, claim);
    if (value !== undefined) facts[key] = value;
  }
  return facts;
}

/**
 * `POST /api/oidc/exchange`: a CI's OIDC ID token for a short-lived proxy
 * key. Cheapest refusals first: the token's (unverified) issuer must be one a
 * trust policy names, then signature, audience and times are verified, then
 * the claims must satisfy a policy, then the `jti` must be new.
 */
export class OidcExchange {
  constructor(private readonly deps: OidcExchangeDeps) {}

  async exchange(token: string): Promise<Result<Exchanged>> {
    let unverified: JWTPayload;
    try {
      unverified = decodeJwt(token);
    } catch {
      return unauthorized("the bearer credential is not a JWT (send the CI's OIDC ID token)");
    }
    if (typeof unverified.iss !== "string") return unauthorized("token has no iss claim");
    const issuer = unverified.iss;
    const forIssuer = this.deps.store.trustPolicies.forIssuer(issuer);
    if (forIssuer.length === 0) return unauthorized(`issuer ${JSON.stringify(issuer.slice(0, 200))} is not trusted by any trust policy`);

    const audiences = [...new Set(forIssuer.map((p) => p.audience))];
    const jwksHosts = [...new Set(forIssuer.flatMap(policyJwksHosts))];
    const verified = await this.deps.verifier.verify(token, { issuer, audiences, jwksHosts });
    if (!verified.ok) return verified;
    const payload = verified.value;
    const tokenAudiences = new Set(audiencesOf(payload));
    const candidates = forIssuer.filter((p) => tokenAudiences.has(p.audience));

    const replayKey = `${issuer} ${String(payload.jti)}`;
    if (this.deps.replay.has(replayKey)) return unauthorized("token was already exchanged (its jti was seen before)");
    const matched = matchTrustPolicy(candidates, payload);
    if (!matched.ok) return matched;
    const policy = matched.value;

    // exp is a required claim, so it is a number here; the entry outlives the token's tolerated life.
    const until = ((payload.exp ?? 0) + OIDC_CLOCK_TOLERANCE_S) * 1000;
    const claimed = this.deps.replay.claim(replayKey, until);
    if (claimed === "replayed") return unauthorized("token was already exchanged (its jti was seen before)");
    if (claimed === "full") return fail("conflict", "Cannot exchange token: too many recent exchanges to guard against replays; retry later");

    const facts = identity(payload, policy);
    const input: CreateProxyKeyInput = {
      name: generatedName(policy.name),
      provider_key_id: policy.providerKeyId,
      ttl_seconds: policy.ttlSeconds,
      budget_usd: microsToUsd(policy.budgetMicros),
      budget_period: "total",
      metadata: facts,
    };
    if (policy.allowedModels !== null) input.allowed_models = policy.allowedModels;
    const teamId = policyTeamId(policy);
    if (teamId !== undefined) input.team_id = teamId;
    const created = await this.deps.proxyKeys.create(`oidc:${policy.id}`, input, { trust_policy_id: policy.id, ...facts });
    return created.ok ? ok({ ...created.value, policy }) : created;
  }
}
