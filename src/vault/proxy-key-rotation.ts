import { recordAudit, type ActorId } from "../changes/audit.ts";
import type { ProxyKeyRow } from "../db/store.ts";
import { fail, ok, type Result } from "../errors.ts";
import { hashSecret } from "./hashing.ts";
import { generateKey, keyHint } from "./key-format.ts";
import type { CreatedProxyKey, ProxyKeyServiceDeps } from "./proxy-keys.ts";

/** The longest a rotated-out secret may keep working: a week, enough to roll a key out to every client. */
export const MAX_ROTATION_GRACE_SECONDS = 7 * 24 * 3600;

/** A dead key stays dead: a new secret must not look like a way back for a revoked or expired key. */
function cannotRotate(row: ProxyKeyRow, now: number): Result<CreatedProxyKey> | undefined {
  if (row.revokedAt !== null) return fail("conflict", `Cannot rotate proxy key ${row.id}: key is revoked; mint a new key`);
  if (row.expiresAt !== null && row.expiresAt <= now) {
    return fail("conflict", `Cannot rotate proxy key ${row.id}: key expired at ${new Date(row.expiresAt).toISOString()}; mint a new key`);
  }
  return undefined;
}

/**
 * A new secret for the same key id: everything hung on the id (limits,
 * spend, budget ceiling, team, metadata, owned objects, logs) stays. The old
 * secret is kept as `previous_secret_hash` until `grace_seconds` from now, or
 * dropped at once with no grace; a rotation within a grace replaces the one
 * kept, so the oldest secret stops at once. Hashing runs before the write
 * (whose function must not await, and may run again); the `secretChanged` event
 * makes the proxy check every token for the key again.
 */
export async function rotateProxyKey(deps: ProxyKeyServiceDeps, actor: ActorId, id: string, graceSeconds: number): Promise<Result<CreatedProxyKey>> {
  const { store, clock, events } = deps;
  if (!Number.isInteger(graceSeconds) || graceSeconds < 0 || graceSeconds > MAX_ROTATION_GRACE_SECONDS) {
    return fail("validation_failed", `Cannot rotate proxy key: grace_seconds must be an integer from 0 to ${MAX_ROTATION_GRACE_SECONDS}`, "grace_seconds");
  }
  const missing = () => fail<CreatedProxyKey>("not_found", `Cannot find proxy key ${id}`);
  const before = store.proxyKeys.byId(id);
  if (!before) return missing();
  // Checked before hashing too, so a refused rotation costs no argon2.
  const early = cannotRotate(before, clock.now());
  if (early) return early;
  const key = generateKey("proxy", id);
  const secretHash = await (deps.hash ?? hashSecret)(key.secret);
  const now = clock.now();
  const result = await store.write((tx) => {
    // Read again: the key may have been revoked, deleted or rotated while we hashed.
    const current = tx.proxyKeys.byId(id);
    if (!current) return missing();
    const refused = cannotRotate(current, now);
    if (refused) return refused;
    const graceEndsAt = graceSeconds > 0 ? now + graceSeconds * 1000 : null;
    const endedGrace = current.previousSecretExpiresAt !== null && current.previousSecretExpiresAt > now;
    tx.proxyKeys.update(id, {
      secretHash,
      keyHint: keyHint(key),
      // Without a grace nothing of the old secret is kept, not even a hash that could never verify.
      previousSecretHash: graceEndsAt === null ? null : current.secretHash,
      previousSecretExpiresAt: graceEndsAt,
      updatedAt: now,
    });
    recordAudit(tx, actor, now, {
      action: "proxy_key.rotate",
      targetType: "proxy_key",
      targetId: id,
      details: {
        grace_seconds: graceSeconds,
        previous_secret_expires_at: graceEndsAt === null ? null : new Date(graceEndsAt).toISOString(),
        // An earlier rotation's old secret was still in its grace: this rotation ended it.
        ...(endedGrace ? { ended_grace_of_earlier_rotation: true } : {}),
      },
    });
    // Webhooks: a `key.rotated` event (none is defined yet) would be queued here, in this transaction,
    // as revoke queues `key.revoked` (queueWebhookEvent, src/changes/webhook-events.ts): ids and times only.
    return ok({ row: tx.proxyKeys.byId(id) as ProxyKeyRow, key: key.token });
  });
  if (result.ok) events.emit({ kind: "proxy-key", id, secretChanged: true });
  return result;
}
