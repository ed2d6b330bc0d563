import type { BudgetLeases, LeaseUsage } from "../db/leases.ts";
import type { SpendUpdate } from "../db/store.ts";
import { Book, type BudgetHolder, type Budgeted, type BudgetState, type Reservation, type ReserveOutcome } from "./budget-book.ts";

export type { BudgetHolder, Budgeted, Reservation, ReserveOutcome } from "./budget-book.ts";

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

  /** True when budgets are leased from a shared database: a key's stored spend is then not all of it. */
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
    const s = this.keys.peek(row, now);
    return { spendMicros: s.spendMicros, reservedMicros: s.reservedMicros, periodStartedAt: s.periodStartedAt };
  }

  /** A team's spend, reservations and period, as `view` gives a key's. */
  viewTeam(team: Budgeted, now: number): { spendMicros: number; reservedMicros: number; periodStartedAt: number } {
    const s = this.teams.peek(team, now);
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
