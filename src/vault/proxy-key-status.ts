/**
 * A proxy key's status, derived from its row: apart from the key service so
 * that the admin API's read worker can show keys without loading what the
 * service needs (argon2 among it).
 */
import type { ProxyKeyRow } from "../db/store.ts";

export const PROXY_KEY_STATUSES = ["active", "expired", "revoked", "provider-disabled"] as const;
export type ProxyKeyStatus = (typeof PROXY_KEY_STATUSES)[number];

/** Revocation is final and outranks everything; a disabled provider key outranks expiry. */
export function proxyKeyStatus(row: ProxyKeyRow, providerDisabled: boolean, now: number): ProxyKeyStatus {
  if (row.revokedAt !== null) return "revoked";
  if (row.expiresAt !== null && row.expiresAt <= now) return "expired";
  if (providerDisabled) return "provider-disabled";
  return "active";
}
