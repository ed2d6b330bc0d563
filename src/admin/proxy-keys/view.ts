/**
 * A proxy key as the admin API shows it: apart from model.ts (its schemas)
 * so that the read worker, which makes pages of keys, loads no Elysia.
 */
import type { ProviderKeyRow, ProxyKeyRow } from "../../db/store.ts";
import { budgetFigures, type SpendView } from "../../limits/balance.ts";
import { microsToUsd } from "../../limits/money.ts";
import { proxyKeyStatus, type ProxyKeyStatus } from "../../vault/proxy-key-status.ts";
import { iso } from "../time.ts";

/** `provider` comes from the provider key row ("unknown" if it is gone). */
export function proxyKeyView(row: ProxyKeyRow, status: ProxyKeyStatus, spend: SpendView, provider: string) {
  // The same figures as the key holder's GET /v1/key (src/limits/balance.ts).
  const budget = budgetFigures(row, spend);
  return {
    id: row.id,
    name: row.name,
    provider_key_id: row.providerKeyId,
    provider,
    key_hint: row.keyHint,
    status,
    expires_at: iso(row.expiresAt),
    revoked_at: iso(row.revokedAt),
    metadata: row.metadata ?? null,
    created_by: row.createdBy,
    created_at: iso(row.createdAt) as string,
    updated_at: iso(row.updatedAt) as string,
    allowed_models: row.allowedModels,
    rpm: row.rpm,
    tpm: row.tpm,
    max_concurrency: row.maxConcurrency,
    budget_usd: budget.budget_usd,
    budget_period: budget.budget_period,
    team_id: row.teamId,
    unbounded_reservation_usd: row.unboundedReservationMicros === null ? null : microsToUsd(row.unboundedReservationMicros),
    spend_usd: budget.spend_usd,
    reserved_usd: budget.reserved_usd,
    budget_remaining_usd: budget.remaining_usd,
    period_started_at: budget.period_started_at,
    previous_secret_expires_at: iso(row.previousSecretExpiresAt),
  };
}

/** A key's view from its row, its provider key's (undefined if it is gone) and its spend. */
export function proxyKeyViewOf(row: ProxyKeyRow, providerKey: ProviderKeyRow | undefined, spend: SpendView, now: number) {
  return proxyKeyView(row, proxyKeyStatus(row, providerKey?.disabled ?? false, now), spend, providerKey?.provider ?? "unknown");
}
