import type { ProxyKeyRow, SpendUpdate } from "../db/store.ts";
import { periodEnd, periodStart } from "./period.ts";

interface BudgetState {
  spendMicros: number;
  periodStartedAt: number;
  reservedMicros: number;
  /** Spend this process may reach in the period without writing first (0: nothing granted yet). */
  ceilingMicros: number;
}

/**
 * Where a budget's ceiling is made durable. `raise` must have committed when
 * it returns: the request that needed it is admitted right after.
 */
export interface CeilingStore {
  raise(keyId: string, periodStartedAt: number, ceilingMicros: number): void;
  /** Drops the key's ceiling (nothing of it is left to protect); without it, `rebase` leaves the old one. */
  close?(keyId: string): void;
}

export interface Reservation {
  keyId: string;
  amountMicros: number;
  done: boolean;
}

/** A grant covers at least this many requests of the size that asked for it… */
const SLICE_REQUESTS = 8;
/** …or this fraction of the budget, whichever is more, but never more than half of what is left. */
const SLICE_FRACTION = 20;

export type ReserveOutcome =
  | { ok: true; reservation: Reservation }
  | {
      ok: false;
      /** `unavailable`: the ceiling could not be written, so nothing may be spent past it. */
      reason: "budget" | "unavailable";
      remainingMicros: number;
      reservedMicros: number;
      retryAfterSeconds?: number;
    };

/**
 * The spend ledger, in memory and authoritative while the server runs: one
 * process, one writer, so check-and-reserve is a plain synchronous step with
 * no race between concurrent requests. Settled spend is written to SQLite by
 * the request-log flush (absolute values, in the same transaction as the log
 * rows), so it survives restarts and never goes backwards.
 *
 * That flush runs every few hundred milliseconds, so a crash would forget the
 * spend of its last moments and of every request in flight. So before spend
 * and reservations may pass a budget's durable ceiling, the ledger raises the
 * ceiling and waits for the write; a restart after a crash takes each key's
 * spend to be at least its ceiling. A grant covers the request plus a slice
 * sized to the budget, halving as the budget drains, so most requests write
 * nothing and a crash loses at most a slice of unspent budget.
 */
export class BudgetLedger {
  private readonly states = new Map<string, BudgetState>();
  private readonly dirty = new Set<string>();

  constructor(private readonly ceilings: CeilingStore = { raise: () => {} }) {}

  /** Current-period state, rolling over at the period boundary (UTC). */
  private state(row: ProxyKeyRow, now: number): BudgetState {
    let state = this.states.get(row.id);
    if (!state) {
      state = { spendMicros: row.spendMicros, periodStartedAt: row.periodStartedAt, reservedMicros: 0, ceilingMicros: 0 };
      this.states.set(row.id, state);
    }
    const start = periodStart(row.budgetPeriod, now);
    if (start > state.periodStartedAt) {
      state.spendMicros = 0;
      state.periodStartedAt = start;
      state.ceilingMicros = 0;
      this.dirty.add(row.id);
    } else if (start < state.periodStartedAt) {
      // The admin switched to a longer period: keep what was spent, widen the window.
      state.periodStartedAt = start;
      this.dirty.add(row.id);
    }
    return state;
  }

  view(row: ProxyKeyRow, now: number): { spendMicros: number; reservedMicros: number; periodStartedAt: number } {
    const s = this.state(row, now);
    return { spendMicros: s.spendMicros, reservedMicros: s.reservedMicros, periodStartedAt: s.periodStartedAt };
  }

  /** Holds `amountMicros` against the key's budget if it fits; keys without a budget always fit. */
  reserve(row: ProxyKeyRow, amountMicros: number, now: number): ReserveOutcome {
    const state = this.state(row, now);
    // A request that costs nothing (no model, no usage) is never refused by a budget.
    if (row.budgetMicros !== null && amountMicros > 0) {
      const remaining = row.budgetMicros - state.spendMicros - state.reservedMicros;
      if (amountMicros > remaining) {
        const end = periodEnd(row.budgetPeriod, state.periodStartedAt);
        // Only promise a retry when the next period could actually fit this request.
        const retry = end !== undefined && amountMicros <= row.budgetMicros ? Math.max(1, Math.ceil((end - now) / 1000)) : undefined;
        return { ok: false, reason: "budget", remainingMicros: Math.max(0, remaining), reservedMicros: state.reservedMicros, retryAfterSeconds: retry };
      }
    }
    if (row.budgetMicros !== null && amountMicros > 0 && !this.cover(row.id, row.budgetMicros, state, amountMicros)) {
      const remainingMicros = Math.max(0, row.budgetMicros - state.spendMicros - state.reservedMicros);
      return { ok: false, reason: "unavailable", remainingMicros, reservedMicros: state.reservedMicros, retryAfterSeconds: 1 };
    }
    state.reservedMicros += amountMicros;
    return { ok: true, reservation: { keyId: row.id, amountMicros, done: false } };
  }

  /** Raises the durable ceiling when this reservation would pass it; false when that write failed. */
  private cover(keyId: string, budgetMicros: number, state: BudgetState, amountMicros: number): boolean {
    const needed = state.spendMicros + state.reservedMicros + amountMicros;
    if (needed <= state.ceilingMicros) return true;
    const slice = Math.max(amountMicros * SLICE_REQUESTS, Math.ceil(budgetMicros / SLICE_FRACTION));
    const ceiling = Math.max(needed, Math.min(budgetMicros, needed + Math.min(slice, Math.floor((budgetMicros - needed) / 2))));
    return this.raiseCeiling(keyId, state, ceiling);
  }

  private raiseCeiling(keyId: string, state: BudgetState, ceilingMicros: number): boolean {
    try {
      this.ceilings.raise(keyId, state.periodStartedAt, ceilingMicros);
    } catch {
      return false;
    }
    state.ceilingMicros = ceilingMicros;
    return true;
  }

  /** Replaces the hold with the real cost. Idempotent per reservation. */
  settle(row: ProxyKeyRow, reservation: Reservation, actualMicros: number, now: number): void {
    if (reservation.done) return;
    reservation.done = true;
    const state = this.state(row, now);
    state.reservedMicros = Math.max(0, state.reservedMicros - reservation.amountMicros);
    if (actualMicros > 0) {
      state.spendMicros += actualMicros;
      this.dirty.add(row.id);
      // An upstream that ignored a cap spent past the reservation: keep the ceiling at least at the spend,
      // so a crash before the next flush cannot forget it. Best effort: the spend flush follows anyway.
      if (row.budgetMicros !== null && state.spendMicros > state.ceilingMicros) this.raiseCeiling(row.id, state, state.spendMicros);
    }
  }

  release(reservation: Reservation): void {
    if (reservation.done) return;
    reservation.done = true;
    const state = this.states.get(reservation.keyId);
    if (state) state.reservedMicros = Math.max(0, state.reservedMicros - reservation.amountMicros);
  }

  /** Spend rows changed since the last call, for the next flush. */
  drain(): SpendUpdate[] {
    const out: SpendUpdate[] = [];
    for (const id of this.dirty) {
      const state = this.states.get(id);
      if (state) out.push({ id, spendMicros: state.spendMicros, periodStartedAt: state.periodStartedAt });
    }
    this.dirty.clear();
    return out;
  }

  /** After a failed flush: write these again next time. */
  requeue(updates: SpendUpdate[]): void {
    for (const update of updates) this.dirty.add(update.id);
  }

  /** Marks every known key's spend for the next flush (after a writer lost what it held). */
  dirtyAll(): void {
    for (const id of this.states.keys()) this.dirty.add(id);
  }

  /**
   * After an admin changed the key's budget or period. Its ceiling was granted
   * under the old terms, and a crash would take it as spent under the new ones:
   * a slice of the old budget against a lowered one, or against a key without a
   * budget. So it is replaced now by a ceiling covering exactly what is spent and
   * reserved under the new terms (none without a budget); the next reservation
   * grants a slice again. False when that write failed: the old ceiling stands,
   * which is safe, since a burn can only take too much as spent, never too little.
   */
  rebase(row: ProxyKeyRow, now: number): boolean {
    const state = this.state(row, now);
    const covered = row.budgetMicros === null ? 0 : state.spendMicros + state.reservedMicros;
    try {
      if (covered > 0) this.ceilings.raise(row.id, state.periodStartedAt, covered);
      else this.ceilings.close?.(row.id);
    } catch {
      return false;
    }
    state.ceilingMicros = covered;
    return true;
  }

  /**
   * Asked after the request log's last flush: true when nothing is reserved and
   * no spend change waits for a write (a failed flush puts its changes back), so
   * a clean stop may close the ceilings. A request still in flight, or a last
   * flush that failed, leaves spend that only the ceilings cover.
   */
  settled(): boolean {
    if (this.dirty.size > 0) return false;
    for (const state of this.states.values()) if (state.reservedMicros > 0) return false;
    return true;
  }

  forget(id: string): void {
    this.states.delete(id);
    this.dirty.delete(id);
  }
}
