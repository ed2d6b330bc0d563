/**
 * Policies of `keys:issue` admin tokens: the bounds inside which CI may mint
 * its own proxy keys. Pure functions returning Results; the routes apply them
 * and the proxy-key service does the minting.
 */
import type { ProviderKeyRow, Store } from "../db/store.ts";
import { fail, ok, type Result } from "../errors.ts";
import { MAX_USD, microsToUsd, usdToMicros } from "../limits/money.ts";
import type { BudgetPeriod } from "../limits/period.ts";
import type { Scope } from "./scopes.ts";
import { randomBase62 } from "./key-format.ts";
import { MAX_TTL_SECONDS, type CreateProxyKeyInput, type MintAdmission } from "./proxy-keys.ts";

/** As stored in `admin_tokens.policy` and shown by the API. */
export interface IssuerPolicy {
  provider_key_ids: string[];
  max_ttl_seconds: number;
  max_budget_usd: number;
  allowed_models?: string[];
  name_prefix?: string;
  /** Keys the token may mint in any hour (a sliding one). */
  max_keys_per_hour?: number;
  /** The most the budgets of the token's live keys (neither revoked nor expired) may add up to. */
  max_outstanding_budget_usd?: number;
  /** Every key the token mints goes into this team, and into no other. */
  team_id?: string;
}

/** Every field a policy may have, for callers without a schema (the CLI) to refuse anything else. */
export const ISSUER_POLICY_FIELDS = [
  "provider_key_ids",
  "max_ttl_seconds",
  "max_budget_usd",
  "allowed_models",
  "name_prefix",
  "max_keys_per_hour",
  "max_outstanding_budget_usd",
  "team_id",
] as const satisfies ReadonlyArray<keyof IssuerPolicy>;

/** Largest `max_keys_per_hour`: a bound, not a rate anyone needs. */
export const MAX_KEYS_PER_HOUR = 100_000;
const HOUR_MS = 3_600_000;

/** What an issuer sends to `POST /api/proxy-keys`. */
export interface IssueRequest {
  name?: string;
  /** A provider key id or name, resolved within the policy. */
  provider_key?: string;
  provider_key_id?: string;
  ttl_seconds?: number;
  expires_at?: string;
  budget_usd?: number;
  budget_period?: BudgetPeriod;
  allowed_models?: string[];
  rpm?: number;
  tpm?: number;
  max_concurrency?: number;
  metadata?: Record<string, unknown>;
  /** Only the policy's own team (which it is anyway). */
  team_id?: string;
}

export interface IssueDecision {
  input: CreateProxyKeyInput;
  providerKey: ProviderKeyRow;
}

const forbidden = <T>(message: string, field: string) => fail<T>("forbidden", `Cannot issue proxy key: ${message}`, field);

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === "string");
}

/** A stored policy, or `undefined` when the column holds none (or something that is not one). */
export function readIssuerPolicy(stored: Record<string, unknown> | null): IssuerPolicy | undefined {
  if (stored === null) return undefined;
  const { provider_key_ids, max_ttl_seconds, max_budget_usd, allowed_models, name_prefix, max_keys_per_hour, max_outstanding_budget_usd, team_id } = stored;
  if (!isStringArray(provider_key_ids) || typeof max_ttl_seconds !== "number" || typeof max_budget_usd !== "number") {
    return undefined;
  }
  const policy: IssuerPolicy = { provider_key_ids, max_ttl_seconds, max_budget_usd };
  if (isStringArray(allowed_models)) policy.allowed_models = allowed_models;
  if (typeof name_prefix === "string") policy.name_prefix = name_prefix;
  if (typeof max_keys_per_hour === "number") policy.max_keys_per_hour = max_keys_per_hour;
  if (typeof max_outstanding_budget_usd === "number") policy.max_outstanding_budget_usd = max_outstanding_budget_usd;
  if (typeof team_id === "string") policy.team_id = team_id;
  return policy;
}

/**
 * Checks a policy sent with `POST /api/admin-tokens`: required exactly for
 * `keys:issue` tokens, which cannot also be `admin` (an admin mints without
 * bounds, so the policy would be a false promise). Every provider key, and
 * the team when one is named, must exist.
 */
export function validateIssuerPolicy(
  scopes: readonly Scope[],
  policy: IssuerPolicy | undefined,
  providerKeyExists: (id: string) => boolean,
  teamExists: (id: string) => boolean = () => false,
): Result<IssuerPolicy | null> {
  const issues = scopes.includes("keys:issue");
  if (!issues) {
    if (policy !== undefined) {
      return fail("validation_failed", "Cannot create admin token: policy is only for tokens with the keys:issue scope", "policy");
    }
    return ok(null);
  }
  if (scopes.includes("admin")) {
    return fail("validation_failed", "Cannot create admin token: keys:issue cannot be combined with admin, which mints keys without a policy", "scopes");
  }
  if (policy === undefined) {
    return fail("validation_failed", "Cannot create admin token: a keys:issue token needs a policy", "policy");
  }
  // The API's schema checks these too; repeated for the host-side CLI, which has no schema.
  if (!Number.isInteger(policy.max_ttl_seconds) || policy.max_ttl_seconds < 1 || policy.max_ttl_seconds > MAX_TTL_SECONDS) {
    return fail("validation_failed", `Cannot create admin token: max_ttl_seconds must be an integer from 1 to ${MAX_TTL_SECONDS}`, "policy.max_ttl_seconds");
  }
  if (!Number.isFinite(policy.max_budget_usd) || policy.max_budget_usd < 0 || policy.max_budget_usd > MAX_USD) {
    return fail("validation_failed", `Cannot create admin token: max_budget_usd must be from 0 to ${MAX_USD}`, "policy.max_budget_usd");
  }
  const aggregate = validateAggregateBounds(policy);
  if (!aggregate.ok) return aggregate;
  if (policy.provider_key_ids.length === 0) {
    return fail("validation_failed", "Cannot create admin token: policy.provider_key_ids must name at least one provider key", "policy.provider_key_ids");
  }
  const ids = [...new Set(policy.provider_key_ids)];
  const missing = ids.find((id) => !providerKeyExists(id));
  if (missing !== undefined) {
    return fail("not_found", `Cannot create admin token: provider key ${missing} does not exist`, "policy.provider_key_ids");
  }
  if (policy.team_id !== undefined && !teamExists(policy.team_id)) {
    return fail("not_found", `Cannot create admin token: team ${policy.team_id} does not exist`, "policy.team_id");
  }
  const clean: IssuerPolicy = { provider_key_ids: ids, max_ttl_seconds: policy.max_ttl_seconds, max_budget_usd: policy.max_budget_usd };
  if (policy.allowed_models !== undefined) clean.allowed_models = [...new Set(policy.allowed_models)];
  if (policy.name_prefix !== undefined) clean.name_prefix = policy.name_prefix;
  if (policy.max_keys_per_hour !== undefined) clean.max_keys_per_hour = policy.max_keys_per_hour;
  if (policy.max_outstanding_budget_usd !== undefined) clean.max_outstanding_budget_usd = policy.max_outstanding_budget_usd;
  if (policy.team_id !== undefined) clean.team_id = policy.team_id;
  return ok(clean);
}

/** The aggregate bounds, when present (the API's schema checks them too; the CLI has none). */
function validateAggregateBounds(policy: IssuerPolicy): Result<null> {
  const { max_keys_per_hour: perHour, max_outstanding_budget_usd: outstanding } = policy;
  if (perHour !== undefined && (!Number.isInteger(perHour) || perHour < 1 || perHour > MAX_KEYS_PER_HOUR)) {
    return fail(
      "validation_failed",
      `Cannot create admin token: max_keys_per_hour must be an integer from 1 to ${MAX_KEYS_PER_HOUR}`,
      "policy.max_keys_per_hour",
    );
  }
  if (outstanding === undefined) return ok(null);
  if (!Number.isFinite(outstanding) || outstanding < 0 || outstanding > MAX_USD) {
    return fail("validation_failed", `Cannot create admin token: max_outstanding_budget_usd must be from 0 to ${MAX_USD}`, "policy.max_outstanding_budget_usd");
  }
  // Below it, a key minted with the default budget (max_budget_usd) could never fit.
  if (usdToMicros(outstanding) < usdToMicros(policy.max_budget_usd)) {
    return fail(
      "validation_failed",
      `Cannot create admin token: max_outstanding_budget_usd ${outstanding} is below max_budget_usd ${policy.max_budget_usd}, the budget a key gets by default`,
      "policy.max_outstanding_budget_usd",
    );
  }
  return ok(null);
}

/**
 * The policy's aggregate bounds as a check for the transaction that inserts
 * the key (`ProxyKeyService.create`), or undefined when it sets none. Keys
 * count from their `createdBy`: the keys the token minted, deleted ones
 * excepted. Live keys are read among those minted within the token's
 * `max_ttl_seconds`: older ones have expired, unless an admin extended them,
 * and an admin's extension is the admin's budget, not the issuer's.
 */
export function issuerQuota(policy: IssuerPolicy, tokenId: string, input: CreateProxyKeyInput): MintAdmission | undefined {
  const { max_keys_per_hour: perHour, max_outstanding_budget_usd: outstanding } = policy;
  if (perHour === undefined && outstanding === undefined) return undefined;
  const budgetMicros = input.budget_usd === undefined || input.budget_usd === null ? 0 : usdToMicros(input.budget_usd);
  return (tx: Store, now: number) => {
    const countSince = now - HOUR_MS;
    const issued = tx.proxyKeys.issuedBy(tokenId, { since: Math.min(countSince, now - policy.max_ttl_seconds * 1000), countSince, now });
    if (perHour !== undefined && issued.minted >= perHour) {
      return forbidden(`this token minted ${issued.minted} keys in the last hour, its max_keys_per_hour is ${perHour}; retry later`, "max_keys_per_hour");
    }
    if (outstanding !== undefined && issued.liveBudgetMicros + budgetMicros > usdToMicros(outstanding)) {
      return forbidden(
        `budget_usd ${microsToUsd(budgetMicros)} would bring this token's live keys' budgets to ${microsToUsd(issued.liveBudgetMicros + budgetMicros)}, above its max_outstanding_budget_usd ${outstanding}; revoke keys or wait for them to expire`,
        "budget_usd",
      );
    }
    return ok(null);
  };
}

/** `<prefix>-<random>`, without doubling a separator the prefix already ends with. */
export function generatedName(prefix: string): string {
  const separator = /[-_./:]$/.test(prefix) ? "" : "-";
  return `${prefix}${separator}${randomBase62(10)}`;
}

function resolveProviderKey(policy: IssuerPolicy, request: IssueRequest, lookup: (id: string) => ProviderKeyRow | undefined): Result<ProviderKeyRow> {
  if (request.provider_key !== undefined && request.provider_key_id !== undefined) {
    return fail("validation_failed", "Cannot issue proxy key: give provider_key or provider_key_id, not both", "provider_key");
  }
  const field = request.provider_key_id !== undefined ? "provider_key_id" : "provider_key";
  const ref = request.provider_key_id ?? request.provider_key;
  if (ref === undefined) {
    return fail("validation_failed", "Cannot issue proxy key: provider_key (a provider key id or name) is required", "provider_key");
  }
  for (const id of policy.provider_key_ids) {
    const row = lookup(id);
    if (row && (row.id === ref || (field === "provider_key" && row.name === ref))) return ok(row);
    if (!row && id === ref) return fail("not_found", `Cannot issue proxy key: provider key ${id} in this token's policy no longer exists`, field);
  }
  // The same answer whether or not such a provider key exists elsewhere: an issuer learns nothing beyond its policy.
  return forbidden(`provider key ${JSON.stringify(ref)} is not in this token's provider_key_ids`, field);
}

function checkExpiry(policy: IssuerPolicy, request: IssueRequest, now: number): Result<Pick<CreateProxyKeyInput, "ttl_seconds" | "expires_at">> {
  const max = policy.max_ttl_seconds;
  if (request.ttl_seconds !== undefined && request.expires_at !== undefined) {
    return fail("validation_failed", "Cannot set expiry: give expires_at or ttl_seconds, not both", "ttl_seconds");
  }
  if (request.ttl_seconds !== undefined) {
    if (request.ttl_seconds > max) return forbidden(`ttl_seconds ${request.ttl_seconds} exceeds this token's max_ttl_seconds ${max}`, "ttl_seconds");
    return ok({ ttl_seconds: request.ttl_seconds });
  }
  if (request.expires_at !== undefined) {
    const at = Date.parse(request.expires_at);
    // A malformed or past date is left to the proxy-key service, which answers 422 as for admins.
    if (!Number.isNaN(at) && at - now > max * 1000) {
      return forbidden(`expires_at ${request.expires_at} is more than this token's max_ttl_seconds ${max} away`, "expires_at");
    }
    return ok({ expires_at: request.expires_at });
  }
  return ok({ ttl_seconds: max });
}

function checkModels(policy: IssuerPolicy, requested: string[] | undefined): Result<string[] | undefined> {
  if (policy.allowed_models === undefined) return ok(requested);
  if (requested === undefined) return ok(policy.allowed_models);
  const allowed = new Set(policy.allowed_models);
  const outside = requested.find((m) => !allowed.has(m));
  if (outside !== undefined) return forbidden(`model ${JSON.stringify(outside)} is not in this token's allowed_models`, "allowed_models");
  return ok(requested);
}

/**
 * Turns an issuer's request into a proxy-key input inside its token's policy,
 * filling the defaults (maximum TTL and budget, the policy's models, a
 * generated name), or answers 403 naming the first bound it would break.
 */
export function applyIssuerPolicy(
  policy: IssuerPolicy,
  request: IssueRequest,
  lookup: (id: string) => ProviderKeyRow | undefined,
  now: number,
): Result<IssueDecision> {
  const providerKey = resolveProviderKey(policy, request, lookup);
  if (!providerKey.ok) return providerKey;
  const expiry = checkExpiry(policy, request, now);
  if (!expiry.ok) return expiry;

  const maxMicros = usdToMicros(policy.max_budget_usd);
  const budget = request.budget_usd ?? policy.max_budget_usd;
  if (usdToMicros(budget) > maxMicros) {
    return forbidden(`budget_usd ${budget} exceeds this token's max_budget_usd ${microsToUsd(maxMicros)}`, "budget_usd");
  }
  if (request.budget_period !== undefined && request.budget_period !== "total") {
    return forbidden(`budget_period ${request.budget_period} is not allowed; keys:issue tokens mint keys with a total budget`, "budget_period");
  }

  const prefix = policy.name_prefix;
  if (request.name !== undefined && prefix !== undefined && !request.name.startsWith(prefix)) {
    return forbidden(`name ${JSON.stringify(request.name)} does not start with this token's name_prefix ${JSON.stringify(prefix)}`, "name");
  }
  const models = checkModels(policy, request.allowed_models);
  if (!models.ok) return models;
  // An issuer mints only into its policy's team: another team's budget is not its to spend.
  if (request.team_id !== undefined && request.team_id !== policy.team_id) {
    return forbidden(
      policy.team_id === undefined
        ? `team_id ${JSON.stringify(request.team_id)} is not allowed; this token's policy names no team`
        : `team_id ${JSON.stringify(request.team_id)} is not this token's team ${policy.team_id}`,
      "team_id",
    );
  }

  const input: CreateProxyKeyInput = {
    name: request.name ?? generatedName(prefix ?? "ci"),
    provider_key_id: providerKey.value.id,
    ...expiry.value,
    budget_usd: budget,
    budget_period: "total",
  };
  if (models.value !== undefined) input.allowed_models = models.value;
  if (request.rpm !== undefined) input.rpm = request.rpm;
  if (request.tpm !== undefined) input.tpm = request.tpm;
  if (request.max_concurrency !== undefined) input.max_concurrency = request.max_concurrency;
  if (request.metadata !== undefined) input.metadata = request.metadata;
  if (policy.team_id !== undefined) input.team_id = policy.team_id;
  return ok({ input, providerKey: providerKey.value });
}
