import type { ProxyKeyRow, SpendUpdate } from "../db/store.ts";
import { periodEnd, periodStart } from "./period.ts";

interface BudgetState {
  spendMicros: number;
  periodStartedAt: number;
  reservedMicros: number;
}

export interface Reservation {
  keyId: string;
  amountMicros: number;
  done: boolean;
}

export type ReserveOutcome =
  | { ok: true; reservation: Reservation }
  | { ok: false; remainingMicros: number; reservedMicros: number; retryAfterSeconds?: number };

/**
 * The spend ledger, in memory and authoritative while the server runs: one
 * process, one writer, so check-and-reserve is a plain synchronous step with
 * no race between concurrent requests. Settled spend is written to SQLite by
 * the request-log flush (absolute values, in the same transaction as the log
 * rows), so it survives restarts and never goes backwards.
 */
export class BudgetLedger {
  private readonly states = new Map<string, BudgetState>();
  private readonly dirty = new Set<string>();

  /** Current-period state, rolling over at the period boundary (UTC). */
  private state(row: ProxyKeyRow, now: number): BudgetState {
    let state = this.states.get(row.id);
    if (!state) {
      state = { spendMicros: row.spendMicros, periodStartedAt: row.periodStartedAt, reservedMicros: 0 };
      this.states.set(row.id, state);
    }
    const start = periodStart(row.budgetPeriod, now);
    if (start > state.periodStartedAt) {
      state.spendMicros = 0;
      state.periodStartedAt = start;
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
        return { ok: false, remainingMicros: Math.max(0, remaining), reservedMicros: state.reservedMicros, retryAfterSeconds: retry };
      }
    }
    state.reservedMicros += amountMicros;
    return { ok: true, reservation: { keyId: row.id, amountMicros, done: false } };
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

  forget(id: string): void {
    this.states.delete(id);
    this.dirty.delete(id);
  }
}
