/**
 * A proxy key's row as the store holds it, for tests of the parts that take
 * rows (the budget ledger, the stores): every field set, nothing limited,
 * created a month before `at`; tests override what they are about.
 */
import type { ProxyKeyRow } from "../../src/db/store.ts";

const MONTH = 30 * 86_400_000;

export function proxyKeyRow(fields: Partial<ProxyKeyRow> & { at?: number } = {}): ProxyKeyRow {
  const { at = Date.UTC(2026, 0, 15, 12, 0, 0), ...rest } = fields;
  return {
    id: `k-${Math.random().toString(36).slice(2)}`,
    name: "k",
    providerKeyId: "p",
    secretHash: "",
    keyHint: "",
    expiresAt: null,
    revokedAt: null,
    metadata: null,
    createdBy: null,
    createdAt: at - MONTH,
    updatedAt: at,
    allowedModels: null,
    rpm: null,
    tpm: null,
    maxConcurrency: null,
    budgetMicros: null,
    budgetPeriod: "total",
    spendMicros: 0,
    periodStartedAt: 0,
    unboundedReservationMicros: null,
    teamId: null,
    previousSecretHash: null,
    previousSecretExpiresAt: null,
    ...rest,
  };
}
