/**
 * When a page of keys made from their stored spend may be sent as it is
 * (`storedSpendHolds`, src/admin/proxy-keys/views.ts): only while the budget
 * ledger shows exactly what the rows store.
 */
import { expect, test } from "bun:test";
import { proxyKeyViews } from "../../src/admin/proxy-keys/views.ts";
import type { Store } from "../../src/db/store.ts";
import { BudgetLedger } from "../../src/limits/budget.ts";
import { periodStart } from "../../src/limits/period.ts";
import { proxyKeyRow } from "../helpers/rows.ts";

const NOW = Date.UTC(2026, 0, 15, 12);

test("stored spend holds until a key reserves or spends, and again once the spend is written", () => {
  const ledger = new BudgetLedger();
  // The store is never read for this.
  const views = proxyKeyViews({} as Store, { now: () => NOW }, ledger);
  const row = proxyKeyRow({ at: NOW, budgetMicros: 1_000, budgetPeriod: "daily", spendMicros: 100, periodStartedAt: periodStart("daily", NOW) });
  expect(views.storedPagesUsable()).toBe(true);
  expect(views.storedSpendHolds([row], NOW)).toBe(true);
  const held = ledger.reserve(row, 300, NOW);
  if (!held.ok) throw new Error("expected admission");
  // A request in flight: reserved, nothing spent yet.
  expect(views.storedSpendHolds([row], NOW)).toBe(false);
  ledger.settle(row, held.reservation, 250, NOW);
  // Spent, not yet written: the row still says 100.
  expect(views.storedSpendHolds([row], NOW)).toBe(false);
  expect(views.storedSpendHolds([{ ...row, spendMicros: 350 }], NOW)).toBe(true);
  // Past midnight both read as a fresh day.
  expect(views.storedSpendHolds([{ ...row, spendMicros: 350 }], Date.UTC(2026, 0, 16))).toBe(true);
});
