import type { Clock } from "../clock.ts";
import type { Store } from "../db/store.ts";
import type { Logger } from "../telemetry/logger.ts";
import { recordAudit } from "../changes/audit.ts";
import type { VaultEvents } from "../changes/events.ts";
import { PURGED_SECRET_HASH } from "./hashing.ts";

const DAY = 86_400_000;
/** Ids listed in one audit row; a bigger sweep records only the count. */
const AUDIT_IDS_MAX = 1000;

export interface SweeperOptions {
  /** Days after expiry or revocation before a key's secret hash is deleted (0: at the first sweep after). */
  retentionDays: number;
  intervalMs: number;
}

export interface SweeperDeps {
  store: Store;
  clock: Clock;
  events: VaultEvents;
  logger: Logger;
  /** Drops a key from the proxy's verified-secret cache. */
  forget: (id: string) => void;
}

/**
 * Deletes the secret hashes of proxy keys that expired or were revoked more
 * than the retention period ago (status itself is derived, so there is
 * nothing to mark). The rows stay, so listings, usage and logs keep their
 * history; `secret_hash` becomes an empty marker no secret can match.
 */
export class ExpiredKeySweeper {
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly deps: SweeperDeps,
    private readonly options: SweeperOptions,
  ) {}

  start(): void {
    // `sweep` catches its own failures: a pass that cannot write is logged and retried at the next tick.
    this.timer ??= setInterval(() => void this.sweep(), this.options.intervalMs);
    void this.sweep();
  }

  /** One pass; returns the ids purged. Safe to call any time. */
  async sweep(): Promise<string[]> {
    const { store, clock, events, logger, forget } = this.deps;
    const now = clock.now();
    let purged: string[] = [];
    try {
      purged = await store.write((tx) => {
        const ids = tx.proxyKeys.purgeSecrets(now - this.options.retentionDays * DAY, PURGED_SECRET_HASH);
        if (ids.length > 0) {
          recordAudit(tx, "sweeper", now, {
            action: "proxy_key.purge_secrets",
            targetType: "proxy_key",
            details: ids.length <= AUDIT_IDS_MAX ? { count: ids.length, ids } : { count: ids.length },
          });
        }
        return ids;
      });
    } catch (err) {
      logger.warn("Expired key sweep failed; will retry", { error: err instanceof Error ? err.message : String(err) });
      return [];
    }
    for (const id of purged) {
      forget(id);
      events.emit({ kind: "proxy-key", id });
    }
    if (purged.length > 0) logger.info("Purged secret hashes of expired and revoked proxy keys", { count: purged.length });
    return purged;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
