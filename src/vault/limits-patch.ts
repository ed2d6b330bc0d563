import type { TeamRow } from "../db/store.ts";
import { usdToMicros } from "../limits/money.ts";
import type { BudgetPeriod } from "../limits/period.ts";

/** The limits a proxy key and a team both have, with the same meanings; `null` on update removes one. */
export interface SharedLimitsInput {
  allowed_models?: string[] | null;
  rpm?: number | null;
  tpm?: number | null;
  max_concurrency?: number | null;
  budget_usd?: number | null;
  budget_period?: BudgetPeriod;
}

type SharedLimitFields = Pick<TeamRow, "allowedModels" | "rpm" | "tpm" | "maxConcurrency" | "budgetMicros" | "budgetPeriod">;

/**
 * The row fields for the shared limits the input mentions, so an update leaves
 * the others alone: one function, so a key's and a team's limits are stored alike.
 */
export function sharedLimitsPatch(input: SharedLimitsInput): Partial<SharedLimitFields> {
  const patch: Partial<SharedLimitFields> = {};
  if (input.allowed_models !== undefined) patch.allowedModels = input.allowed_models === null ? null : [...new Set(input.allowed_models)];
  if (input.rpm !== undefined) patch.rpm = input.rpm;
  if (input.tpm !== undefined) patch.tpm = input.tpm;
  if (input.max_concurrency !== undefined) patch.maxConcurrency = input.max_concurrency;
  if (input.budget_usd !== undefined) patch.budgetMicros = input.budget_usd === null ? null : usdToMicros(input.budget_usd);
  if (input.budget_period !== undefined) patch.budgetPeriod = input.budget_period;
  return patch;
}

/** Whether `patch` changes the budget or its period: the budget ledger's ceiling was granted under the old terms and must be re-granted. */
export function budgetTermsChanged(
  patch: Partial<Pick<SharedLimitFields, "budgetMicros" | "budgetPeriod">>,
  current: Pick<SharedLimitFields, "budgetMicros" | "budgetPeriod">,
): boolean {
  return (
    (patch.budgetMicros !== undefined && patch.budgetMicros !== current.budgetMicros) ||
    (patch.budgetPeriod !== undefined && patch.budgetPeriod !== current.budgetPeriod)
  );
}
