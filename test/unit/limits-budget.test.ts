/**
 * The budget ledger (src/limits/budget.ts) on its own: reserve-then-settle,
 * release, Retry-After only when a period reset can help, rollover, and the
 * spend rows handed to the request-log flush.
 */
import { describe, expect, test } from "bun:test";
import type { ProxyKeyRow } from "../../src/db/store.ts";
import { BudgetLedger } from "../../src/limits/budget.ts";
import { periodStart, type BudgetPeriod } from "../../src/limits/period.ts";
import { proxyKeyRow } from "../helpers/rows.ts";

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0); // a Thursday
const HOUR = 3_600_000;

function key(budgetMicros: number | null, period: BudgetPeriod = "total", spendMicros = 0): ProxyKeyRow {
  return proxyKeyRow({ at: NOW, budgetMicros, budgetPeriod: period, spendMicros, periodStartedAt: periodStart(period, NOW) });
}

describe("BudgetLedger", () => {
  test("reservations hold budget until settled; settle charges the real cost only", () => {
    const ledger = new BudgetLedger();
    const row = key(1_000);
    const a = ledger.reserve(row, 400, NOW);
    const b = ledger.reserve(row, 400, NOW);
    expect(a.ok && b.ok).toBe(true);
    // 800 held: another 400 does not fit although nothing is spent yet.
    const c = ledger.reserve(row, 400, NOW);
    expect(c.ok).toBe(false);
    if (!c.ok && c.reason !== "pending") {
      expect(c.remainingMicros).toBe(200);
      expect(c.reservedMicros).toBe(800);
      expect(c.retryAfterSeconds).toBeUndefined(); // total budgets never reset
    }
    if (!a.ok || !b.ok) throw new Error("unreachable");
    ledger.settle(row, a.reservation, 150, NOW);
    expect(ledger.view(row, NOW)).toMatchObject({ spendMicros: 150, reservedMicros: 400 });
    // Settling twice changes nothing.
    ledger.settle(row, a.reservation, 150, NOW);
    expect(ledger.view(row, NOW)).toMatchObject({ spendMicros: 150, reservedMicros: 400 });
    ledger.release(b.reservation);
    expect(ledger.view(row, NOW)).toMatchObject({ spendMicros: 150, reservedMicros: 0 });
    // A released reservation cannot be settled afterwards.
    ledger.settle(row, b.reservation, 999, NOW);
    expect(ledger.view(row, NOW)).toMatchObject({ spendMicros: 150, reservedMicros: 0 });
  });

  test("an exact fit is admitted; one micro-dollar more is not", () => {
    const ledger = new BudgetLedger();
    const row = key(1_000, "total", 400);
    expect(ledger.reserve(row, 601, NOW).ok).toBe(false);
    expect(ledger.reserve(row, 600, NOW).ok).toBe(true);
    expect(ledger.reserve(row, 1, NOW).ok).toBe(false);
  });

  test("free requests (estimate 0) are never refused, even with the budget gone", () => {
    const ledger = new BudgetLedger();
    const row = key(100, "daily", 100);
    expect(ledger.reserve(row, 0, NOW).ok).toBe(true);
    const zero = key(0);
    expect(ledger.reserve(zero, 0, NOW).ok).toBe(true);
    expect(ledger.reserve(zero, 1, NOW).ok).toBe(false);
  });

  test("keys without a budget always fit", () => {
    const ledger = new BudgetLedger();
    const row = key(null);
    expect(ledger.reserve(row, Number.MAX_SAFE_INTEGER, NOW).ok).toBe(true);
  });

  test("Retry-After points at the period end, but only if the request fits a fresh period", () => {
    const ledger = new BudgetLedger();
    const daily = key(1_000, "daily", 900);
    const refused = ledger.reserve(daily, 500, NOW);
    expect(refused.ok).toBe(false);
    if (!refused.ok && refused.reason !== "pending") expect(refused.retryAfterSeconds).toBe(12 * 3600); // 12:00 → midnight UTC
    const tooBig = ledger.reserve(daily, 1_001, NOW);
    expect(tooBig.ok).toBe(false);
    if (!tooBig.ok && tooBig.reason !== "pending") expect(tooBig.retryAfterSeconds).toBeUndefined();

    const weekly = ledger.reserve(key(1_000, "weekly", 1_000), 1, NOW);
    if (weekly.ok || weekly.reason === "pending") throw new Error("expected a refusal");
    expect(weekly.retryAfterSeconds).toBe(3.5 * 24 * 3600); // Thursday noon → Monday 00:00

    const monthly = ledger.reserve(key(1_000, "monthly", 1_000), 1, NOW);
    if (monthly.ok || monthly.reason === "pending") throw new Error("expected a refusal");
    expect(monthly.retryAfterSeconds).toBe(16.5 * 24 * 3600); // Jan 15 noon → Feb 1

    const late = ledger.reserve(key(1_000, "daily", 1_000), 1, Date.UTC(2026, 0, 15, 23, 59, 59, 500));
    if (late.ok || late.reason === "pending") throw new Error("expected a refusal");
    expect(late.retryAfterSeconds).toBe(1); // never 0
  });

  test("spend resets at the period boundary and the new period is reported", () => {
    const ledger = new BudgetLedger();
    const row = key(1_000, "daily");
    const r = ledger.reserve(row, 800, NOW);
    if (!r.ok) throw new Error("expected admission");
    ledger.settle(row, r.reservation, 700, NOW);
    expect(ledger.reserve(row, 800, NOW + 11 * HOUR).ok).toBe(false);
    const midnight = Date.UTC(2026, 0, 16);
    expect(ledger.view(row, midnight - 1)).toMatchObject({ spendMicros: 700, periodStartedAt: Date.UTC(2026, 0, 15) });
    expect(ledger.view(row, midnight)).toMatchObject({ spendMicros: 0, periodStartedAt: midnight });
    expect(ledger.reserve(row, 800, midnight).ok).toBe(true);
  });

  test("viewing keys the ledger holds nothing for gives the stored figures and keeps nothing", () => {
    const ledger = new BudgetLedger();
    // A listing of a thousand keys: each view is the row's spend in its period, and the ledger stays empty.
    const rows = Array.from({ length: 1_000 }, (_, i) => ({ ...key(1_000, "daily", i), id: `k${i}` }));
    for (const row of rows) expect(ledger.view(row, NOW)).toEqual({ spendMicros: row.spendMicros, reservedMicros: 0, periodStartedAt: Date.UTC(2026, 0, 15) });
    expect(ledger.drain()).toEqual([]);
    const held = (ledger as unknown as { keys: { states: Map<string, unknown> } }).keys.states;
    expect(held.size).toBe(0);
    // The same figures `state` gives: rolled over past midnight, and widened to a longer period with the spend kept.
    const midnight = Date.UTC(2026, 0, 16);
    const stored = rows[700] as ProxyKeyRow;
    expect(ledger.view(stored, midnight)).toEqual({ spendMicros: 0, reservedMicros: 0, periodStartedAt: midnight });
    expect(ledger.view({ ...stored, budgetPeriod: "monthly" }, NOW)).toEqual({ spendMicros: 700, reservedMicros: 0, periodStartedAt: Date.UTC(2026, 0, 1) });
    // A key in use is viewed through its state: reservations included.
    const r = ledger.reserve(stored, 200, NOW);
    expect(r.ok).toBe(true);
    expect(ledger.view(stored, NOW)).toEqual({ spendMicros: 700, reservedMicros: 200, periodStartedAt: Date.UTC(2026, 0, 15) });
    expect(held.size).toBe(1);
  });

  test("a view changes nothing: a stale row's period neither rolls nor widens the ledger's state", () => {
    const ledger = new BudgetLedger();
    const row = key(1_000, "monthly");
    const r = ledger.reserve(row, 500, NOW);
    if (!r.ok) throw new Error("expected admission");
    ledger.settle(row, r.reservation, 500, NOW);
    ledger.drain();
    // A page read before the admin switched the key from daily to monthly, viewed after midnight.
    const stale = { ...row, budgetPeriod: "daily" as const };
    const midnight = Date.UTC(2026, 0, 16);
    expect(ledger.view(stale, midnight)).toEqual({ spendMicros: 0, reservedMicros: 0, periodStartedAt: midnight });
    // The month's spend is still there, and nothing was queued to be written.
    expect(ledger.view(row, midnight)).toEqual({ spendMicros: 500, reservedMicros: 0, periodStartedAt: Date.UTC(2026, 0, 1) });
    expect(ledger.drain()).toEqual([]);
    expect(ledger.reserve(row, 501, midnight).ok).toBe(false);
  });

  test("a request reserved before midnight and settled after is charged to the new day", () => {
    const ledger = new BudgetLedger();
    const row = key(1_000, "daily");
    const r = ledger.reserve(row, 800, Date.UTC(2026, 0, 15, 23, 59, 59));
    if (!r.ok) throw new Error("expected admission");
    const after = Date.UTC(2026, 0, 16, 0, 0, 1);
    ledger.settle(row, r.reservation, 300, after);
    expect(ledger.view(row, after)).toMatchObject({ spendMicros: 300, reservedMicros: 0 });
  });

  test("switching to a longer period keeps what was spent", () => {
    const ledger = new BudgetLedger();
    const row = key(1_000, "daily");
    const r = ledger.reserve(row, 500, NOW);
    if (!r.ok) throw new Error("expected admission");
    ledger.settle(row, r.reservation, 500, NOW);
    const monthly = { ...row, budgetPeriod: "monthly" as const };
    expect(ledger.view(monthly, NOW)).toMatchObject({ spendMicros: 500, periodStartedAt: Date.UTC(2026, 0, 1) });
  });

  test("drain hands over changed spend once; requeue hands it over again", () => {
    const ledger = new BudgetLedger();
    const row = key(1_000, "total", 50);
    const r = ledger.reserve(row, 100, NOW);
    if (!r.ok) throw new Error("expected admission");
    expect(ledger.drain()).toEqual([]); // a reservation is not spend
    ledger.settle(row, r.reservation, 30, NOW);
    const drained = ledger.drain();
    expect(drained).toEqual([{ id: row.id, spendMicros: 80, periodStartedAt: 0 }]);
    expect(ledger.drain()).toEqual([]);
    ledger.requeue(drained);
    expect(ledger.drain()).toEqual(drained);
  });
});
