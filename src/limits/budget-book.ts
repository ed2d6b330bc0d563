/**
 * One kind of budget (keys, or teams) as the ledger keeps it: each subject's
 * spend, reservations and period, the durable ceiling a single process raises
 * before spending past it, or, with a shared database, the slice this
 * instance was granted (src/limits/budget.ts composes two books).
 */
import type { SpendUpdate } from "../db/store.ts";
import type { BudgetLeases, LeaseUsage } from "../db/leases.ts";
import { storedSpend, type SpendView } from "./balance.ts";
import { periodEnd, periodStart, type BudgetPeriod } from "./period.ts";

/**
 * What has a budget: a proxy key's row or a team's. Both tables carry the
 * same fields, so one ledger keeps both, each in its own book.
 */
export interface Budgeted {
  id: string;
  budgetMicros: number | null;
  budgetPeriod: BudgetPeriod;
  spendMicros: number;
  periodStartedAt: number;
}

export interface BudgetState {
  spendMicros: number;
  periodStartedAt: number;
  reservedMicros: number;
  /** Spend this process may reach in the period without writing first (0: nothing granted yet). */
  ceilingMicros: number;
  /** With a shared database: this instance's slice of the budget in the period (see leases.ts). */
  lease?: LeaseState;
}

/**
 * An instance's slice of one budget. `spendMicros` of its state is then the
 * spend outside this instance as of the last grant plus what this instance
 * spent since: what views and alerts show. Admission counts the other
 * instances' whole slices instead (`outsideMicros`).
 */
interface LeaseState {
  usedMicros: number;
  grantedMicros: number;
  outsideMicros: number;
  /** A grant under way: requests that need more wait for it instead of asking again. */
  pending?: Promise<void>;
  /** What requests that came while a grant was under way need: the next grant asks for them too, so one round serves them all. */
  waitingMicros: number;
  /** Until then a request that does not fit is refused without asking: the database just said the budget has no more room. */
  exhaustedUntil: number;
  /** Until then a request that does not fit answers 503: the database could not be asked. */
  unavailableUntil: number;
  lastActivity: number;
  reported: number;
}

/** How long "no more room" and "cannot ask" answers stand before the database is asked again. */
const LEASE_ANSWER_MS = 1000;

export interface Reservation {
  keyId: string;
  /** The team the amount is held against too, when the key had one at admission. */
  teamId?: string;
  amountMicros: number;
  done: boolean;
}

/** A grant covers at least this many requests of the size that asked for it… */
const SLICE_REQUESTS = 8;
/** …or this fraction of the budget, whichever is more, but never more than half of what is left. */
const SLICE_FRACTION = 20;

/** Whose budget refused: the key's own, or its team's. */
export type BudgetHolder = "key" | "team";

export type ReserveOutcome =
  | { ok: true; reservation: Reservation }
  /** The budget's slice is being widened: try again once `wait` resolves. */
  | { ok: false; reason: "pending"; holder: BudgetHolder; wait: Promise<void> }
  | {
      ok: false;
      /** `unavailable`: the ceiling could not be written, so nothing may be spent past it. */
      reason: "budget" | "unavailable";
      holder: BudgetHolder;
      remainingMicros: number;
      reservedMicros: number;
      retryAfterSeconds?: number;
    };

/** One kind of budget (keys, or teams): their states, which changed since the last flush, where their ceilings go. */
export class Book {
  readonly states = new Map<string, BudgetState>();
  readonly dirty = new Set<string>();

  constructor(
    readonly holder: BudgetHolder,
    private readonly raise: (id: string, periodStartedAt: number, ceilingMicros: number) => void,
    private readonly close: ((id: string) => void) | undefined,
    readonly leases?: BudgetLeases,
  ) {}

  /** Current-period state, rolling over at the period boundary (UTC). */
  state(subject: Budgeted, now: number): BudgetState {
    let state = this.states.get(subject.id);
    if (!state) {
      state = { spendMicros: subject.spendMicros, periodStartedAt: subject.periodStartedAt, reservedMicros: 0, ceilingMicros: 0 };
      this.states.set(subject.id, state);
    }
    const start = periodStart(subject.budgetPeriod, now);
    if (start > state.periodStartedAt) {
      state.spendMicros = 0;
      state.periodStartedAt = start;
      state.ceilingMicros = 0;
      state.lease = undefined;
      this.dirty.add(subject.id);
    } else if (start < state.periodStartedAt) {
      // The admin switched to a longer period: keep what was spent, widen the window.
      state.periodStartedAt = start;
      this.dirty.add(subject.id);
    }
    return state;
  }

  /**
   * The figures `state` would give, changing nothing: views read thousands of keys, which would otherwise each
   * stay in the book for the life of the process, and a view's row may be older than the ledger's (a page the
   * read worker read), whose period must not roll or widen the ledger's state.
   */
  peek(subject: Budgeted, now: number): SpendView {
    const state = this.states.get(subject.id);
    if (!state) return storedSpend(subject, now);
    const rolled = storedSpend({ budgetPeriod: subject.budgetPeriod, spendMicros: state.spendMicros, periodStartedAt: state.periodStartedAt }, now);
    return { ...rolled, reservedMicros: state.reservedMicros };
  }

  /** Why `amountMicros` does not fit the subject's budget, or undefined when it does (or it has none). */
  refusal(subject: Budgeted, state: BudgetState, amountMicros: number, now: number): ReserveOutcome | undefined {
    if (subject.budgetMicros === null) return undefined;
    const remaining = subject.budgetMicros - state.spendMicros - state.reservedMicros;
    if (amountMicros <= remaining) return undefined;
    const end = periodEnd(subject.budgetPeriod, state.periodStartedAt);
    // Only promise a retry when the next period could actually fit this request.
    const retry = end !== undefined && amountMicros <= subject.budgetMicros ? Math.max(1, Math.ceil((end - now) / 1000)) : undefined;
    return {
      ok: false,
      reason: "budget",
      holder: this.holder,
      remainingMicros: Math.max(0, remaining),
      reservedMicros: state.reservedMicros,
      retryAfterSeconds: retry,
    };
  }

  /** Raises the durable ceiling when this reservation would pass it; false when that write failed. */
  cover(id: string, budgetMicros: number, state: BudgetState, amountMicros: number): boolean {
    const needed = state.spendMicros + state.reservedMicros + amountMicros;
    if (needed <= state.ceilingMicros) return true;
    const slice = Math.max(amountMicros * SLICE_REQUESTS, Math.ceil(budgetMicros / SLICE_FRACTION));
    const ceiling = Math.max(needed, Math.min(budgetMicros, needed + Math.min(slice, Math.floor((budgetMicros - needed) / 2))));
    return this.raiseCeiling(id, state, ceiling);
  }

  raiseCeiling(id: string, state: BudgetState, ceilingMicros: number): boolean {
    try {
      this.raise(id, state.periodStartedAt, ceilingMicros);
    } catch {
      return false;
    }
    state.ceilingMicros = ceilingMicros;
    return true;
  }

  /**
   * With leases: undefined when the request fits this instance's slice; a
   * pending outcome while the slice is widened (the caller waits and tries
   * again); a refusal when the database said there is no more room, or could
   * not be asked.
   */
  leased(subject: Budgeted, state: BudgetState, amountMicros: number, now: number): ReserveOutcome | undefined {
    const leases = this.leases;
    const budget = subject.budgetMicros;
    if (!leases || budget === null) return undefined;
    const lease = (state.lease ??= {
      usedMicros: 0,
      grantedMicros: 0,
      outsideMicros: state.spendMicros,
      waitingMicros: 0,
      exhaustedUntil: 0,
      unavailableUntil: 0,
      lastActivity: now,
      reported: 0,
    });
    lease.lastActivity = now;
    const need = lease.usedMicros + state.reservedMicros + amountMicros;
    if (need <= lease.grantedMicros) return undefined;
    if (lease.pending) {
      lease.waitingMicros += amountMicros;
      return { ok: false, reason: "pending", holder: this.holder, wait: lease.pending };
    }
    const remainingMicros = Math.max(0, budget - lease.outsideMicros - lease.usedMicros - state.reservedMicros);
    if (now < lease.unavailableUntil)
      return { ok: false, reason: "unavailable", holder: this.holder, remainingMicros, reservedMicros: state.reservedMicros, retryAfterSeconds: 1 };
    if (now < lease.exhaustedUntil) {
      const end = periodEnd(subject.budgetPeriod, state.periodStartedAt);
      const retry = end !== undefined && amountMicros <= budget ? Math.max(1, Math.ceil((end - now) / 1000)) : undefined;
      return { ok: false, reason: "budget", holder: this.holder, remainingMicros, reservedMicros: state.reservedMicros, retryAfterSeconds: retry };
    }
    const room = budget - lease.outsideMicros;
    const slice = Math.max(amountMicros * SLICE_REQUESTS, Math.ceil(budget / SLICE_FRACTION));
    // The waiting requests are not held yet: whatever they need on top of this one is asked for now, as long as it fits.
    const wanted = Math.min(Math.max(need, room), need + lease.waitingMicros);
    lease.waitingMicros = 0;
    const want = Math.max(wanted, Math.min(room, wanted + Math.min(slice, Math.floor((room - wanted) / 2))));
    const request = {
      holder: this.holder,
      id: subject.id,
      periodStartedAt: state.periodStartedAt,
      usedMicros: lease.usedMicros,
      minMicros: need,
      wantMicros: want,
    };
    lease.pending = leases
      .grant(request)
      .then(
        (answer) => {
          // A period that rolled over meanwhile started a lease of its own.
          if (state.lease !== lease) return;
          lease.grantedMicros = answer.grantedMicros;
          lease.outsideMicros = answer.outsideMicros;
          state.spendMicros = answer.spentOutsideMicros + lease.usedMicros;
          if (answer.grantedMicros < need) lease.exhaustedUntil = now + LEASE_ANSWER_MS;
        },
        () => {
          lease.unavailableUntil = now + LEASE_ANSWER_MS;
        },
      )
      .finally(() => {
        lease.pending = undefined;
      });
    return { ok: false, reason: "pending", holder: this.holder, wait: lease.pending };
  }

  /** Leases spent under since they were last reported; `reported` remembers the figure sent. */
  leaseUsage(out: LeaseUsage[]): void {
    for (const [id, state] of this.states) {
      const lease = state.lease;
      if (!lease || lease.usedMicros === lease.reported) continue;
      lease.reported = lease.usedMicros;
      out.push({ holder: this.holder, id, periodStartedAt: state.periodStartedAt, usedMicros: lease.usedMicros });
    }
  }

  /**
   * Ends the leases nothing used since `before` (all of them without it) that hold no reservation:
   * their unspent slice goes back to the budget for other instances. Their spend stays counted here.
   */
  endLeases(out: LeaseUsage[], before?: number): void {
    for (const [id, state] of this.states) {
      const lease = state.lease;
      if (!lease || lease.pending || state.reservedMicros > 0 || (before !== undefined && lease.lastActivity >= before)) continue;
      out.push({ holder: this.holder, id, periodStartedAt: state.periodStartedAt, usedMicros: lease.usedMicros });
      state.lease = undefined;
    }
  }

  /** Adds settled spend (`budgetMicros` null: unknown or none); returns the spend before it, for threshold crossings. */
  charge(id: string, budgetMicros: number | null, state: BudgetState, actualMicros: number): number {
    const before = state.spendMicros;
    state.spendMicros += actualMicros;
    if (state.lease) {
      // Past the slice only when an upstream ignored a cap: the next report says so, and others count it.
      state.lease.usedMicros += actualMicros;
      return before;
    }
    this.dirty.add(id);
    // An upstream that ignored a cap spent past the reservation: keep the ceiling at least at the spend,
    // so a crash before the next flush cannot forget it. Best effort: the spend flush follows anyway.
    if (budgetMicros !== null && state.spendMicros > state.ceilingMicros) this.raiseCeiling(id, state, state.spendMicros);
    return before;
  }

  /**
   * Takes back spend charged in the period that started at `periodStartedAt`
   * (see `BudgetLedger.adjust`); returns how much was taken back.
   */
  refund(id: string, state: BudgetState, periodStartedAt: number, amountMicros: number): number {
    if (state.periodStartedAt !== periodStartedAt) return 0;
    const lease = state.lease;
    const amount = Math.min(amountMicros, state.spendMicros, lease ? lease.usedMicros : amountMicros);
    if (amount <= 0) return 0;
    state.spendMicros -= amount;
    if (lease) lease.usedMicros -= amount;
    else this.dirty.add(id);
    return amount;
  }

  unhold(id: string, amountMicros: number): void {
    const state = this.states.get(id);
    if (state) state.reservedMicros = Math.max(0, state.reservedMicros - amountMicros);
  }

  rebase(subject: Budgeted, now: number): boolean {
    const state = this.state(subject, now);
    if (this.leases) {
      // The slice was granted under the old terms: shrink it to what is spent and held, so the next request
      // asks the database, which grants under the new ones. The lease stays (not closed and begun anew):
      // its spend must keep counting against the budget in that same grant, not arrive later with a close.
      const lease = state.lease;
      if (lease) {
        lease.grantedMicros = Math.min(lease.grantedMicros, lease.usedMicros + state.reservedMicros);
        lease.exhaustedUntil = 0;
      }
      return true;
    }
    const covered = subject.budgetMicros === null ? 0 : state.spendMicros + state.reservedMicros;
    try {
      if (covered > 0) this.raise(subject.id, state.periodStartedAt, covered);
      else this.close?.(subject.id);
    } catch {
      return false;
    }
    state.ceilingMicros = covered;
    return true;
  }

  drainInto(out: SpendUpdate[], team: boolean): void {
    for (const id of this.dirty) {
      const state = this.states.get(id);
      if (!state) continue;
      const update: SpendUpdate = { id, spendMicros: state.spendMicros, periodStartedAt: state.periodStartedAt };
      if (team) update.team = true;
      out.push(update);
    }
    this.dirty.clear();
  }

  settled(): boolean {
    if (this.dirty.size > 0 && !this.leases) return false;
    for (const state of this.states.values()) if (state.reservedMicros > 0) return false;
    return true;
  }
}
