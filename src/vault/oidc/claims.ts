import type { TrustPolicyRow } from "../../db/store.ts";
import { fail, ok, type Result } from "../../errors.ts";
import { policyClaims } from "./trust-policies.ts";

/** A claim's value as policies compare it: scalars as strings (4242 and "4242" are equal); anything else never matches. */
function claimText(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return undefined;
}

/** Shown in error messages: the received value, quoted and cut short. */
function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** The first claim of `policy` that `claims` does not satisfy, described without the allowed values. */
function firstMismatch(policy: TrustPolicyRow, claims: Record<string, unknown>): string | undefined {
  for (const [name, allowed] of Object.entries(policyClaims(policy))) {
    if (!Object.hasOwn(claims, name)) return `claim ${name} is missing`;
    const value = claims[name];
    const text = claimText(value);
    if (text === undefined || !allowed.includes(text)) return `claim ${name} is ${shown(value)}, which is not allowed`;
  }
  return undefined;
}

/**
 * The first policy (oldest first) whose every required claim matches, or a
 * 403 naming the first failing claim of the first candidate and the value the
 * token carried, never the values a policy allows nor other policies' names.
 */
export function matchTrustPolicy(candidates: readonly TrustPolicyRow[], claims: Record<string, unknown>): Result<TrustPolicyRow> {
  let reason: string | undefined;
  for (const policy of candidates) {
    const mismatch = firstMismatch(policy, claims);
    if (mismatch === undefined) return ok(policy);
    reason ??= mismatch;
  }
  return fail("forbidden", `Cannot exchange token: no trust policy for this issuer and audience accepts it: ${reason ?? "no policy"}`);
}
