import type { Store } from "../db/store.ts";

/** Who performed a change: an admin token id, or a host-side actor such as `cli`. */
export type ActorId = string;

export interface AuditEntry {
  action: string;
  targetType: "provider_key" | "proxy_key" | "admin_token" | "master_key" | "price" | "oidc_trust_policy" | "webhook" | "team";
  targetId?: string;
  /** Never secrets: names, ids and changed field names only. */
  details?: Record<string, unknown>;
}

/** Call inside the same `store.write` as the change it records. */
export function recordAudit(store: Store, actor: ActorId, at: number, entry: AuditEntry): void {
  store.audit.append({
    at,
    actorId: actor,
    action: entry.action,
    targetType: entry.targetType,
    targetId: entry.targetId ?? null,
    details: entry.details ?? null,
  });
}
