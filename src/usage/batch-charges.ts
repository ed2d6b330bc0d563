import type { Clock } from "../clock.ts";
import type { BatchChargeRow, CheckedBatchFileRow, ProxyKeyRow, Store } from "../db/store.ts";
import type { BudgetLedger } from "../limits/budget.ts";

export interface BatchChargesDeps {
  store: Store;
  clock: Clock;
  ledger: BudgetLedger;
  /** Told when a batch cost more than its charged worst case (an upstream that ignored caps), after it is charged. */
  onOverrun?: (row: ProxyKeyRow, overrunMicros: number) => void;
}

/**
 * What batches cost, outside any request: a batch runs up to a day after the
 * request that created it was charged its worst case, so the charge is a row
 * that outlives restarts, settled once to the real cost when the batch ends.
 */
export class BatchCharges {
  constructor(private readonly deps: BatchChargesDeps) {}

  /** The check of a batch input file uploaded through keyward, if it had one. */
  checkedFile(providerKeyId: string, fileId: string): CheckedBatchFileRow | undefined {
    return this.deps.store.batches.file(providerKeyId, fileId);
  }

  /** A batch's charge, open or settled. */
  charge(providerKeyId: string, batchId: string): BatchChargeRow | undefined {
    return this.deps.store.batches.charge(providerKeyId, batchId);
  }

  /** Open charges, oldest first. */
  open(limit: number): BatchChargeRow[] {
    return this.deps.store.batches.openCharges(limit);
  }

  /**
   * Settles an open charge at the batch's real cost: spend moves from the
   * charged worst case to `costMicros` (a refund of the difference, or an
   * overrun charged in full). The write that closes the row decides, so a
   * retrieve and the background check, or two instances, settle a batch once;
   * false when it was settled already.
   */
  async settle(charge: BatchChargeRow, costMicros: number): Promise<boolean> {
    const { store, clock, ledger } = this.deps;
    const at = clock.now();
    const closed = await store.write((tx) => tx.batches.close(charge.providerKeyId, charge.batchId, costMicros, at));
    if (!closed) return false;
    const row = store.proxyKeys.byId(charge.proxyKeyId);
    // A deleted key took its spend with it.
    if (!row) return true;
    const team = charge.teamId === null ? undefined : store.teams.byId(charge.teamId);
    const delta = costMicros - charge.chargedMicros;
    ledger.adjust(row, delta, clock.now(), {
      periodStartedAt: charge.periodStartedAt,
      team,
      teamPeriodStartedAt: charge.teamPeriodStartedAt ?? undefined,
    });
    const budgeted = row.budgetMicros !== null || (team !== undefined && team.budgetMicros !== null);
    if (delta > 0 && budgeted) this.deps.onOverrun?.(row, delta);
    return true;
  }
}
