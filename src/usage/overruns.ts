import { recordAudit } from "../changes/audit.ts";
import type { Clock } from "../clock.ts";
import type { ProxyKeyRow, Store } from "../db/store.ts";
import { microsToUsd } from "../limits/money.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { Metrics } from "../telemetry/metrics.ts";

/**
 * What happens when a request cost more than keyward reserved for it (its
 * upstream ignored a cap keyward sent): it was charged in full already; here
 * it is counted, logged and written to the audit log, so an admin sees which
 * key and provider key overran. The key itself is refused from then on while
 * its spend is over its budget, by the ledger.
 */
export function overrunRecorder(deps: { store: Store; clock: Clock; metrics: Metrics; logger: Logger }): (row: ProxyKeyRow, overrunMicros: number) => void {
  return (row, overrunMicros) => {
    deps.metrics.overruns.inc();
    deps.metrics.overrunCost.inc({}, overrunMicros / 1_000_000);
    const details = { provider_key_id: row.providerKeyId, overrun_usd: microsToUsd(overrunMicros) };
    deps.logger.warn("A request cost more than its reservation: its upstream ignored the output cap", { key_id: row.id, ...details });
    const at = deps.clock.now();
    // Not waited for: this runs while a request settles, which must not wait on the database.
    deps.store
      .write((tx) => recordAudit(tx, "proxy", at, { action: "proxy_key.overrun", targetType: "proxy_key", targetId: row.id, details }))
      .catch((err: unknown) => {
        deps.logger.error("Cannot write the audit row of an overrun", { key_id: row.id, error: err instanceof Error ? err.message : String(err) });
      });
  };
}
