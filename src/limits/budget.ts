import type { SpendUpdate } from "../db/store.ts";
import type { BudgetLeases, LeaseUsage } from "../db/leases.ts";
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

interface BudgetState {
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

/**
 * Where a budget's ceiling is made durable. `raise` and `raiseTeam` must have
 * committed when they return: the request that needed it is admitted right after.
 */
export interface CeilingStore {
  raise(keyId: string, periodStartedAt: number, ceilingMicros: number): void;
  /** Drops the key's ceiling (nothing of it is left to protect); without it, `rebase` leaves the old one. */
  close?(keyId: string): void;
  /** A team's ceiling: the team's keys spend its budget together, so it has one of its own. */
  raiseTeam(teamId: string, periodStartedAt: number, ceilingMicros: number): void;
  closeTeam?(teamId: string): void;
}

/** No durability: for tests and tools that keep no ceilings. */
const NO_CEILINGS: CeilingStore = { raise: () => {}, raiseTeam: () => {} };

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

/** Percentages of a budget whose crossing is announced (webhooks, alerts). */
export const BUDGET_THRESHOLDS = [50, 80, 100] as const;

/** Settled spend reached a threshold of a budget in a period. */
export interface BudgetCrossing {
  holder: BudgetHolder;
  /** The proxy key's or the team's id. */
  id: string;
  threshold: (typeof BUDGET_THRESHOLDS)[number];
  budgetMicros: number;
  spendMicros: number;
  /** The period the spend belongs to: with `id` and `threshold`, what makes an alert once per period. */
  periodStartedAt: number;
}

export type CrossingListener = (crossing: BudgetCrossing) => void;

/** One kind of budget (keys, or teams): their states, which changed since the last flush, where their ceilings go. */
class Book {
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
 *
 * A key of a team spends the team's budget too: its reservation is held
 * against both in the same synchronous step, or against neither, and settles
 * against both. Teams have their own states, ceilings and spend rows.
 */
export class BudgetLedger {
  private readonly keys: Book;
  private readonly teams: Book;
  private readonly crossingListeners = new Set<CrossingListener>();

  /** `leases`: instances share the budgets through a database (durable ceilings are then not used). */
  constructor(ceilings: CeilingStore = NO_CEILINGS, leases?: BudgetLeases) {
    this.keys = new Book("key", (id, period, ceiling) => ceilings.raise(id, period, ceiling), ceilings.close && ((id) => ceilings.close?.(id)), leases);
    this.teams = new Book(
      "team",
      (id, period, ceiling) => ceilings.raiseTeam(id, period, ceiling),
      ceilings.closeTeam && ((id) => ceilings.closeTeam?.(id)),
      leases,
    );
  }

  /** True when budgets are leased from a shared database. */
  get leased(): boolean {
    return this.keys.leases !== undefined;
  }

  /** What was spent under each slice since the last call, to report to the shared database. */
  leaseUsage(): LeaseUsage[] {
    const out: LeaseUsage[] = [];
    this.keys.leaseUsage(out);
    this.teams.leaseUsage(out);
    return out;
  }

  /**
   * With budgets shared by several instances: reads what the others spent on
   * these keys (or teams) and shows it in their spend, so a view on this
   * instance is current to the others' last report (each second), not to
   * this instance's own last grant. Without leases there is nothing to read.
   */
  async refreshShared(holder: BudgetHolder, subjects: Budgeted[], now: number): Promise<void> {
    const book = holder === "key" ? this.keys : this.teams;
    const leases = book.leases;
    const budgeted = subjects.filter((subject) => subject.budgetMicros !== null);
    if (!leases || budgeted.length === 0) return;
    const states = new Map(budgeted.map((subject) => [subject.id, book.state(subject, now)]));
    const spent = await leases.spentElsewhere([...states].map(([id, state]) => ({ holder, id, periodStartedAt: state.periodStartedAt })));
    for (const [id, state] of states) {
      const elsewhere = spent.get(id);
      if (elsewhere !== undefined) state.spendMicros = elsewhere + (state.lease?.usedMicros ?? 0);
    }
  }

  /** Slices unused since `before` (every idle one without it), ended here; the caller closes them in the database. */
  endLeases(before?: number): LeaseUsage[] {
    const out: LeaseUsage[] = [];
    this.keys.endLeases(out, before);
    this.teams.endLeases(out, before);
    return out;
  }

  view(row: Budgeted, now: number): { spendMicros: number; reservedMicros: number; periodStartedAt: number } {
    const s = this.keys.state(row, now);
    return { spendMicros: s.spendMicros, reservedMicros: s.reservedMicros, periodStartedAt: s.periodStartedAt };
  }

  /** A team's spend, reservations and period, as `view` gives a key's. */
  viewTeam(team: Budgeted, now: number): { spendMicros: number; reservedMicros: number; periodStartedAt: number } {
    const s = this.teams.state(team, now);
    return { spendMicros: s.spendMicros, reservedMicros: s.reservedMicros, periodStartedAt: s.periodStartedAt };
  }

  /**
   * Holds `amountMicros` against the key's budget, and its team's when it has
   * one, if it fits both; keys and teams without a budget always fit. Nothing
   * is held when either refuses.
   */
  reserve(row: Budgeted, amountMicros: number, now: number, team?: Budgeted): ReserveOutcome {
    const keyState = this.keys.state(row, now);
    const teamState = team === undefined ? undefined : this.teams.state(team, now);
    // A request that costs nothing (no model, no usage) is never refused by a budget.
    if (amountMicros > 0 && this.keys.leases) {
      // Each within this instance's slices, or widen them first: both before either holds.
      const leased =
        this.keys.leased(row, keyState, amountMicros, now) ?? (team && teamState ? this.teams.leased(team, teamState, amountMicros, now) : undefined);
      if (leased) return leased;
    } else if (amountMicros > 0) {
      const refused = this.keys.refusal(row, keyState, amountMicros, now);
      if (refused) return refused;
      const teamRefused = team && teamState ? this.teams.refusal(team, teamState, amountMicros, now) : undefined;
      if (teamRefused) return teamRefused;
      // Both ceilings before either hold: a failed write leaves nothing reserved (a raised ceiling is only ever safe).
      if (row.budgetMicros !== null && !this.keys.cover(row.id, row.budgetMicros, keyState, amountMicros)) {
        return this.unavailable("key", row, keyState);
      }
      if (team && teamState && team.budgetMicros !== null && !this.teams.cover(team.id, team.budgetMicros, teamState, amountMicros)) {
        return this.unavailable("team", team, teamState);
      }
    }
    keyState.reservedMicros += amountMicros;
    if (teamState) teamState.reservedMicros += amountMicros;
    const reservation: Reservation = { keyId: row.id, amountMicros, done: false };
    if (team) reservation.teamId = team.id;
    return { ok: true, reservation };
  }

  private unavailable(holder: BudgetHolder, subject: Budgeted, state: BudgetState): ReserveOutcome {
    const remainingMicros = Math.max(0, (subject.budgetMicros ?? 0) - state.spendMicros - state.reservedMicros);
    return { ok: false, reason: "unavailable", holder, remainingMicros, reservedMicros: state.reservedMicros, retryAfterSeconds: 1 };
  }

  /**
   * Replaces the hold with the real cost, on the key and on the team the
   * reservation was made against (`team`: that team's row, as admitted).
   * Idempotent per reservation.
   */
  settle(row: Budgeted, reservation: Reservation, actualMicros: number, now: number, team?: Budgeted): void {
    if (reservation.done) return;
    reservation.done = true;
    const keyState = this.keys.state(row, now);
    keyState.reservedMicros = Math.max(0, keyState.reservedMicros - reservation.amountMicros);
    if (actualMicros > 0) this.announce(this.keys, row, this.keys.charge(row.id, row.budgetMicros, keyState, actualMicros), keyState);
    if (reservation.teamId === undefined) return;
    // The team's row as admitted gives its period and budget; without it, the state the reservation made (no rollover, no ceiling).
    const known = team !== undefined && team.id === reservation.teamId;
    const teamState = known ? this.teams.state(team, now) : this.teams.states.get(reservation.teamId);
    if (!teamState) return;
    teamState.reservedMicros = Math.max(0, teamState.reservedMicros - reservation.amountMicros);
    if (actualMicros <= 0) return;
    const before = this.teams.charge(reservation.teamId, known ? team.budgetMicros : null, teamState, actualMicros);
    if (known) this.announce(this.teams, team, before, teamState);
  }

  /**
   * Spend settled outside any request: a batch charged its worst case when it
   * was created settles hours later at its real cost. A positive delta is
   * charged like a request's overrun (thresholds announced); a negative one is
   * refunded, through the same state the charge went to, in the period it was
   * charged in only (a later period never spent it), and never below zero.
   *
   * Refunds take the simplest safe path rather than a lease protocol of their
   * own. Without leases, spend falls and is written by the next flush; the
   * durable ceiling stays where it was, which is safe: a crash burns it and
   * the refund is lost, never the charge. With leases, this instance's slice
   * gives back at most what it used: PostgreSQL keeps each slice's highest
   * reported use, so the shared figure keeps the charge until this instance
   * spends past it again, and a charge made under another slice stays spent.
   * Either way the budget may count more than was billed, never less.
   */
  adjust(row: Budgeted, deltaMicros: number, now: number, charged: { periodStartedAt: number; team?: Budgeted; teamPeriodStartedAt?: number }): void {
    const keyState = this.keys.state(row, now);
    const team = charged.team;
    const teamState = team === undefined ? undefined : this.teams.state(team, now);
    if (deltaMicros > 0) {
      this.announce(this.keys, row, this.keys.charge(row.id, row.budgetMicros, keyState, deltaMicros), keyState);
      if (team && teamState) this.announce(this.teams, team, this.teams.charge(team.id, team.budgetMicros, teamState, deltaMicros), teamState);
    } else if (deltaMicros < 0) {
      this.keys.refund(row.id, keyState, charged.periodStartedAt, -deltaMicros);
      if (team && teamState && charged.teamPeriodStartedAt !== undefined) this.teams.refund(team.id, teamState, charged.teamPeriodStartedAt, -deltaMicros);
    }
  }

  release(reservation: Reservation): void {
    if (reservation.done) return;
    reservation.done = true;
    this.keys.unhold(reservation.keyId, reservation.amountMicros);
    if (reservation.teamId !== undefined) this.teams.unhold(reservation.teamId, reservation.amountMicros);
  }

  /**
   * Calls `listener` whenever settled spend crosses 50, 80 or 100% of a key's
   * or a team's budget in a period. It runs inside the settling of a proxied
   * request, on the serving thread: it must only note the crossing (queue it),
   * never write or wait. Returns the unsubscribe function.
   */
  onThreshold(listener: CrossingListener): () => void {
    this.crossingListeners.add(listener);
    return () => this.crossingListeners.delete(listener);
  }

  private announce(book: Book, subject: Budgeted, before: number, state: BudgetState): void {
    const budget = subject.budgetMicros;
    if (budget === null || budget <= 0 || this.crossingListeners.size === 0) return;
    for (const threshold of BUDGET_THRESHOLDS) {
      // Integer arithmetic: spend × 100 against budget × threshold, so no rounding decides a crossing.
      if (before * 100 >= budget * threshold || state.spendMicros * 100 < budget * threshold) continue;
      const crossing: BudgetCrossing = {
        holder: book.holder,
        id: subject.id,
        threshold,
        budgetMicros: budget,
        spendMicros: state.spendMicros,
        periodStartedAt: state.periodStartedAt,
      };
      for (const listener of this.crossingListeners) {
        try {
          listener(crossing);
        } catch {
          // A listener's failure must not fail the request that settled.
        }
      }
    }
  }

  /** Spend rows changed since the last call, keys' and teams', for the next flush. */
  drain(): SpendUpdate[] {
    const out: SpendUpdate[] = [];
    this.keys.drainInto(out, false);
    this.teams.drainInto(out, true);
    return out;
  }

  /** After a failed flush: write these again next time. */
  requeue(updates: SpendUpdate[]): void {
    for (const update of updates) (update.team ? this.teams : this.keys).dirty.add(update.id);
  }

  /** Marks every known key's and team's spend for the next flush (after a writer lost what it held). */
  dirtyAll(): void {
    for (const book of [this.keys, this.teams]) for (const id of book.states.keys()) book.dirty.add(id);
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
  rebase(row: Budgeted, now: number): boolean {
    return this.keys.rebase(row, now);
  }

  /** `rebase` for a team whose budget or period an admin changed. */
  rebaseTeam(team: Budgeted, now: number): boolean {
    return this.teams.rebase(team, now);
  }

  /**
   * Asked after the request log's last flush: true when nothing is reserved and
   * no spend change waits for a write (a failed flush puts its changes back), so
   * a clean stop may close the ceilings. A request still in flight, or a last
   * flush that failed, leaves spend that only the ceilings cover.
   */
  settled(): boolean {
    return this.keys.settled() && this.teams.settled();
  }

  forget(id: string): void {
    this.keys.states.delete(id);
    this.keys.dirty.delete(id);
  }
}
