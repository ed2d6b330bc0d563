/**
 * Spend settled outside a request (`BudgetLedger.adjust`, used when a batch
 * ends): an overrun is charged and announced, a refund gives back spend in the
 * period it was charged in only, never below zero, on the key and its team.
 */
import { expect, test } from "bun:test";
import type { ProxyKeyRow, TeamRow } from "../../src/db/store.ts";
import { BudgetLedger, type BudgetCrossing } from "../../src/limits/budget.ts";
import { periodStart } from "../../src/limits/period.ts";
import { proxyKeyRow } from "../helpers/rows.ts";

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const DAY = 86_400_000;

function key(budgetMicros: number | null, spendMicros: number): ProxyKeyRow {
  return proxyKeyRow({ at: NOW, budgetMicros, budgetPeriod: "daily", spendMicros, periodStartedAt: periodStart("daily", NOW) });
}

function team(budgetMicros: number, spendMicros: number): TeamRow {
  return {
    id: `t-${Math.random().toString(36).slice(2)}`,
    name: "t",
    allowedModels: null,
    rpm: null,
    tpm: null,
    maxConcurrency: null,
    budgetMicros,
    budgetPeriod: "daily",
    spendMicros,
    periodStartedAt: periodStart("daily", NOW),
    disabled: false,
    metadata: null,
    createdBy: null,
    createdAt: NOW - 30 * DAY,
    updatedAt: NOW,
  };
}

const today = periodStart("daily", NOW);

test("a refund gives back spend on the key and its team, and the next flush writes it", () => {
  const ledger = new BudgetLedger();
  const row = key(10_000, 6_000);
  const group = team(50_000, 20_000);
  ledger.adjust(row, -4_000, NOW, { periodStartedAt: today, team: group, teamPeriodStartedAt: today });
  expect(ledger.view(row, NOW).spendMicros).toBe(2_000);
  expect(ledger.viewTeam(group, NOW).spendMicros).toBe(16_000);
  expect(ledger.drain()).toEqual([
    { id: row.id, spendMicros: 2_000, periodStartedAt: today },
    { id: group.id, spendMicros: 16_000, periodStartedAt: today, team: true },
  ]);
});

test("a refund never takes spend below zero", () => {
  const ledger = new BudgetLedger();
  const row = key(10_000, 1_000);
  ledger.adjust(row, -5_000, NOW, { periodStartedAt: today });
  expect(ledger.view(row, NOW).spendMicros).toBe(0);
});

test("a refund for an earlier period gives nothing back: that period's budget is closed, this one never spent it", () => {
  const ledger = new BudgetLedger();
  const row = key(10_000, 3_000);
  ledger.adjust(row, -2_000, NOW, { periodStartedAt: today - DAY });
  expect(ledger.view(row, NOW).spendMicros).toBe(3_000);
  // Charged today, settled tomorrow, after tomorrow's own spend: tomorrow keeps it.
  const tomorrow = NOW + DAY;
  ledger.adjust(row, 1_500, tomorrow, { periodStartedAt: today + DAY });
  ledger.adjust(row, -1_000, tomorrow, { periodStartedAt: today });
  expect(ledger.view(row, tomorrow).spendMicros).toBe(1_500);
});

test("an overrun is charged and announced like a request's", () => {
  const ledger = new BudgetLedger();
  const crossings: BudgetCrossing[] = [];
  ledger.onThreshold((crossing) => crossings.push(crossing));
  const row = key(10_000, 4_000);
  ledger.adjust(row, 7_000, NOW, { periodStartedAt: today });
  expect(ledger.view(row, NOW).spendMicros).toBe(11_000);
  expect(crossings.map((c) => c.threshold)).toEqual([50, 80, 100]);
  // Nothing to settle: a key without a budget still keeps its spend.
  const open = key(null, 0);
  ledger.adjust(open, 0, NOW, { periodStartedAt: today });
  expect(ledger.view(open, NOW).spendMicros).toBe(0);
});
