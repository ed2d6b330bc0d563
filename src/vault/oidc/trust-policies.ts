import type { Clock } from "../../clock.ts";
import { pageOf } from "../../db/cursor.ts";
import type { PageCursor, Store, TrustPolicyRow } from "../../db/store.ts";
import { fail, ok, type Result } from "../../errors.ts";
import { usdToMicros } from "../../limits/money.ts";
import { recordAudit, type ActorId } from "../../changes/audit.ts";
import { randomBase62 } from "../key-format.ts";

/** Longest lifetime of a key minted by an exchange: a week (CI jobs are shorter). */
export const MAX_EXCHANGE_TTL_SECONDS = 7 * 24 * 3600;

export interface CreateTrustPolicyInput {
  name: string;
  issuer: string;
  audience: string;
  /** Claim name → allowed values; numbers and booleans are compared as their string form. */
  claims: Record<string, Array<string | number | boolean>>;
  provider_key_id: string;
  ttl_seconds: number;
  budget_usd: number;
  allowed_models?: string[];
  /** Hosts besides the issuer's own that its discovery document may point the JWKS at. */
  jwks_hosts?: string[];
  /** The team every minted key joins. */
  team_id?: string;
}

/**
 * Where a policy's `jwks_hosts` are stored: in its `claims` JSON, under a
 * name no claim can have (`CLAIM_NAME` has no `$`), so no migration is needed.
 * Read the column only through `policyClaims` and `policyJwksHosts`. Were a
 * reader to take it for a claim anyway, tokens would have to carry it and the
 * policy would match nothing: it fails closed.
 */
const JWKS_HOSTS_KEY = "$jwks_hosts";
/** The policy's team, stored the same way (as a one-element list, the column's shape). */
const TEAM_KEY = "$team_id";

/** The claims a token must match: every name but the reserved ones, which start with `$`. */
export function policyClaims(row: TrustPolicyRow): Record<string, string[]> {
  if (!Object.hasOwn(row.claims, JWKS_HOSTS_KEY) && !Object.hasOwn(row.claims, TEAM_KEY)) return row.claims;
  const { [JWKS_HOSTS_KEY]: _hosts, [TEAM_KEY]: _team, ...claims } = row.claims;
  return claims;
}

/** The team keys minted under the policy join, if it names one. */
export function policyTeamId(row: TrustPolicyRow): string | undefined {
  return row.claims[TEAM_KEY]?.[0];
}

/** Hosts (`host` or `host:port`, lower case) besides the issuer's own its JWKS may be fetched from. */
export function policyJwksHosts(row: TrustPolicyRow): string[] {
  return row.claims[JWKS_HOSTS_KEY] ?? [];
}

/** A host as `URL.host` spells it: lower case, a port only when given; IPv6 in brackets. */
const HOST = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::\d{1,5})?$/;

function cleanJwksHosts(hosts: string[]): Result<string[]> {
  const clean: string[] = [];
  for (const raw of hosts) {
    const host = raw.trim().toLowerCase();
    if (!HOST.test(host)) {
      return fail(
        "validation_failed",
        `Cannot create trust policy: jwks_hosts entry ${JSON.stringify(raw.slice(0, 100))} is not a host (name or name:port)`,
        "jwks_hosts",
      );
    }
    if (!clean.includes(host)) clean.push(host);
  }
  return ok(clean);
}

export interface TrustPolicyServiceDeps {
  store: Store;
  clock: Clock;
  allowHttpIssuers: boolean;
}

/** An issuer URL exactly as tokens carry it in `iss`: https (http only when allowed), no credentials, query or fragment. */
export function validateIssuerUrl(raw: string, allowHttp: boolean): Result<string> {
  const issuer = raw.trim();
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    return fail("validation_failed", "Cannot use issuer: it is not an absolute URL", "issuer");
  }
  if (url.protocol !== "https:" && !(allowHttp && url.protocol === "http:")) {
    return fail(
      "validation_failed",
      allowHttp
        ? "Cannot use issuer: scheme must be http or https"
        : "Cannot use issuer: scheme must be https (plain http only when the server runs with --allow-http-upstreams)",
      "issuer",
    );
  }
  if (url.username || url.password || url.search || url.hash) {
    return fail("validation_failed", "Cannot use issuer: credentials, query and fragment are not allowed", "issuer");
  }
  return ok(issuer);
}

/** Claim names as CI issuers use them (`repository`, `job_workflow_ref`, `namespace_path`…). */
const CLAIM_NAME = /^[A-Za-z0-9_.:-]{1,100}$/;

function cleanClaims(claims: CreateTrustPolicyInput["claims"]): Result<Record<string, string[]>> {
  const entries = Object.entries(claims);
  if (entries.length === 0) {
    return fail("validation_failed", "Cannot create trust policy: claims must name at least one claim (e.g. repository)", "claims");
  }
  const clean: Record<string, string[]> = {};
  for (const [name, values] of entries) {
    if (!CLAIM_NAME.test(name)) {
      return fail(
        "validation_failed",
        `Cannot create trust policy: claim name ${JSON.stringify(name.slice(0, 100))} is not a claim name (letters, digits, _ . : -)`,
        "claims",
      );
    }
    if (values.length === 0) return fail("validation_failed", `Cannot create trust policy: claim ${name} lists no values`, `claims.${name}`);
    clean[name] = [...new Set(values.map(String))];
  }
  return ok(clean);
}

/** OIDC trust policies: which CI identities may exchange their ID token for a proxy key. */
export class TrustPolicyService {
  constructor(private readonly deps: TrustPolicyServiceDeps) {}

  async create(actor: ActorId, input: CreateTrustPolicyInput): Promise<Result<TrustPolicyRow>> {
    const { store, clock } = this.deps;
    const issuer = validateIssuerUrl(input.issuer, this.deps.allowHttpIssuers);
    if (!issuer.ok) return issuer;
    const claims = cleanClaims(input.claims);
    if (!claims.ok) return claims;
    if (!Number.isInteger(input.ttl_seconds) || input.ttl_seconds < 1 || input.ttl_seconds > MAX_EXCHANGE_TTL_SECONDS) {
      return fail("validation_failed", `Cannot create trust policy: ttl_seconds must be an integer from 1 to ${MAX_EXCHANGE_TTL_SECONDS}`, "ttl_seconds");
    }
    const jwksHosts = cleanJwksHosts(input.jwks_hosts ?? []);
    if (!jwksHosts.ok) return jwksHosts;
    const now = clock.now();
    const row: TrustPolicyRow = {
      id: `tp_${randomBase62(12)}`,
      name: input.name,
      issuer: issuer.value,
      audience: input.audience,
      claims: {
        ...claims.value,
        ...(jwksHosts.value.length === 0 ? {} : { [JWKS_HOSTS_KEY]: jwksHosts.value }),
        ...(input.team_id === undefined ? {} : { [TEAM_KEY]: [input.team_id] }),
      },
      providerKeyId: input.provider_key_id,
      ttlSeconds: input.ttl_seconds,
      budgetMicros: usdToMicros(input.budget_usd),
      allowedModels: input.allowed_models === undefined ? null : [...new Set(input.allowed_models)],
      createdBy: actor,
      createdAt: now,
    };
    return store.write((tx) => {
      if (!tx.providerKeys.byId(input.provider_key_id)) {
        return fail<TrustPolicyRow>("not_found", `Cannot create trust policy: provider key ${input.provider_key_id} does not exist`, "provider_key_id");
      }
      if (input.team_id !== undefined && !tx.teams.byId(input.team_id)) {
        return fail<TrustPolicyRow>("not_found", `Cannot create trust policy: team ${input.team_id} does not exist`, "team_id");
      }
      if (tx.trustPolicies.byName(input.name)) {
        return fail<TrustPolicyRow>("conflict", `Cannot create trust policy: name "${input.name}" is taken`, "name");
      }
      tx.trustPolicies.insert(row);
      recordAudit(tx, actor, now, {
        action: "oidc_trust_policy.create",
        targetType: "oidc_trust_policy",
        targetId: row.id,
        details: {
          name: row.name,
          issuer: row.issuer,
          audience: row.audience,
          claims: Object.keys(claims.value),
          provider_key_id: row.providerKeyId,
          ...(jwksHosts.value.length > 0 ? { jwks_hosts: jwksHosts.value } : {}),
          ...(input.team_id === undefined ? {} : { team_id: input.team_id }),
        },
      });
      return ok(row);
    });
  }

  list(limit: number, after?: PageCursor): { rows: TrustPolicyRow[]; nextCursor: string | null } {
    return pageOf(this.deps.store.trustPolicies.page({ limit: limit + 1, after }), limit);
  }

  get(id: string): Result<TrustPolicyRow> {
    const row = this.deps.store.trustPolicies.byId(id);
    return row ? ok(row) : fail("not_found", `Cannot find trust policy ${id}`);
  }

  /** Keys already minted under the policy keep working until they expire; revoke them separately. */
  async remove(actor: ActorId, id: string): Promise<Result<null>> {
    const { store, clock } = this.deps;
    const now = clock.now();
    return store.write((tx) => {
      const current = tx.trustPolicies.byId(id);
      if (!current) return fail<null>("not_found", `Cannot find trust policy ${id}`);
      tx.trustPolicies.delete(id);
      recordAudit(tx, actor, now, {
        action: "oidc_trust_policy.delete",
        targetType: "oidc_trust_policy",
        targetId: id,
        details: { name: current.name },
      });
      return ok(null);
    });
  }
}
