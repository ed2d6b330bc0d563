import { microsToUsd } from "./money.ts";
import { periodStart, type BudgetPeriod } from "./period.ts";

/**
 * A key's (or a team's) limits and budget as its answers show them: one
 * place for the figures, so the admin API (`GET /api/proxy-keys/{id}`) and
 * the key holder's own `GET /v1/key` can never disagree about them.
 */

/** A budget's terms as a proxy key or a team row carries them. */
export interface BudgetTerms {
  budgetMicros: number | null;
  budgetPeriod: BudgetPeriod;
  createdAt: number;
}

/** The budget ledger's figures for the current period (`BudgetLedger.view`). */
export interface SpendView {
  spendMicros: number;
  reservedMicros: number;
  periodStartedAt: number;
}

/** What a budget row stores of its spend, as `storedSpend` reads it. */
export interface StoredSpend {
  budgetPeriod: BudgetPeriod;
  spendMicros: number;
  periodStartedAt: number;
}

/**
 * The figures as the row stores them, in the period `now` falls in: nothing reserved, the spend reset if a new
 * period has begun, the period widened if the admin switched to a longer one. What the ledger shows for a
 * key it holds nothing for.
 */
export function storedSpend(row: StoredSpend, now: number): SpendView {
  const start = periodStart(row.budgetPeriod, now);
  if (start > row.periodStartedAt) return { spendMicros: 0, reservedMicros: 0, periodStartedAt: start };
  return { spendMicros: row.spendMicros, reservedMicros: 0, periodStartedAt: Math.min(start, row.periodStartedAt) };
}

export interface BudgetFigures {
  budget_usd: number | null;
  budget_period: BudgetPeriod;
  spend_usd: number;
  reserved_usd: number;
  /** `budget_usd − spend_usd`; null without a budget. Not clamped: an overrun shows as negative. */
  remaining_usd: number | null;
  period_started_at: string;
}

export function budgetFigures(terms: BudgetTerms, spend: SpendView): BudgetFigures {
  return {
    budget_usd: terms.budgetMicros === null ? null : microsToUsd(terms.budgetMicros),
    budget_period: terms.budgetPeriod,
    spend_usd: microsToUsd(spend.spendMicros),
    reserved_usd: microsToUsd(spend.reservedMicros),
    remaining_usd: terms.budgetMicros === null ? null : microsToUsd(terms.budgetMicros - spend.spendMicros),
    // A total budget never resets: its period is the holder's whole life.
    period_started_at: new Date(terms.budgetPeriod === "total" ? terms.createdAt : spend.periodStartedAt).toISOString(),
  };
}

/** Rate and model limits as a proxy key or a team row carries them. */
export interface LimitTerms {
  allowedModels: string[] | null;
  rpm: number | null;
  tpm: number | null;
  maxConcurrency: number | null;
}

export interface LimitFigures {
  allowed_models: string[] | null;
  rpm: number | null;
  tpm: number | null;
  max_concurrency: number | null;
}

export function limitFigures(terms: LimitTerms): LimitFigures {
  return { allowed_models: terms.allowedModels, rpm: terms.rpm, tpm: terms.tpm, max_concurrency: terms.maxConcurrency };
}
