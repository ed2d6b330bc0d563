/**
 * The budget ledger with leases (several instances sharing budgets): a
 * request that does not fit this instance's slice waits for one grant, which
 * asks for every request then waiting; a budget the database says is spent
 * refuses with a budget refusal; a database that cannot be asked answers
 * "unavailable"; and a slice is never exceeded by what this instance admits.
 * The database side is a scripted `BudgetLeases` here: its own tests run on
 * PostgreSQL (test/e2e/cluster-budgets.test.ts).
 */
import { describe, expect, test } from "bun:test";
import type { BudgetLeases, LeaseAnswer, LeaseRequest, LeaseSubject, LeaseUsage } from "../../src/db/leases.ts";
import type { ProxyKeyRow } from "../../src/db/store.ts";
import { BudgetLedger, type ReserveOutcome } from "../../src/limits/budget.ts";
import { proxyKeyRow } from "../helpers/rows.ts";

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);

function key(budgetMicros: number | null, id = "k1"): ProxyKeyRow {
  return proxyKeyRow({ at: NOW, id, budgetMicros });
}

/** A database holding one budget for this instance alone, with `othersMicros` granted to other instances. */
class ScriptedLeases implements BudgetLeases {
  grants: LeaseRequest[] = [];
  granted = 0;
  closed: LeaseUsage[] = [];
  failing = false;
  constructor(
    public budget: number,
    private readonly othersMicros = 0,
  ) {}
  grant(request: LeaseRequest): Promise<LeaseAnswer> {
    this.grants.push(request);
    if (this.failing) return Promise.reject(new Error("connection refused"));
    // As PostgreSQL grants: never past the room, whatever was granted before.
    this.granted = Math.max(0, Math.min(request.wantMicros, this.budget - this.othersMicros));
    return Promise.resolve({ grantedMicros: this.granted, outsideMicros: this.othersMicros, spentOutsideMicros: 0, budgetMicros: this.budget });
  }
  report(): Promise<void> {
    return Promise.resolve();
  }
  close(usage: LeaseUsage[]): Promise<void> {
    this.closed.push(...usage);
    return Promise.resolve();
  }
  spentElsewhere(subjects: LeaseSubject[]): Promise<Map<string, number>> {
    return Promise.resolve(new Map(subjects.map((subject) => [subject.id, 777])));
  }
}

/** "ok", "waited" (for a grant), or the refusal's reason. */
async function settled(outcome: ReserveOutcome): Promise<string> {
  if (!outcome.ok && outcome.reason === "pending") {
    await outcome.wait;
    return "waited";
  }
  return outcome.ok ? "ok" : outcome.reason;
}

describe("a leased budget", () => {
  test("the first request waits for a grant of more than itself; the next ones fit without asking", async () => {
    const leases = new ScriptedLeases(10_000);
    const ledger = new BudgetLedger(undefined, leases);
    const row = key(10_000);
    expect(await settled(ledger.reserve(row, 1_000, NOW))).toBe("waited");
    expect(leases.grants).toHaveLength(1);
    expect(leases.grants[0]?.minMicros).toBe(1_000);
    expect(leases.grants[0]?.wantMicros).toBeGreaterThan(1_000);
    const first = ledger.reserve(row, 1_000, NOW);
    const second = ledger.reserve(row, 1_000, NOW);
    expect(first.ok && second.ok).toBe(true);
    expect(leases.grants).toHaveLength(1);
  });

  test("requests arriving while a grant is under way are asked for in the next one together", async () => {
    const leases = new ScriptedLeases(100_000);
    const ledger = new BudgetLedger(undefined, leases);
    const row = key(100_000);
    const waits = [ledger.reserve(row, 1_000, NOW), ledger.reserve(row, 1_000, NOW), ledger.reserve(row, 1_000, NOW)];
    expect(waits.every((outcome) => !outcome.ok && outcome.reason === "pending")).toBe(true);
    expect(leases.grants).toHaveLength(1);
    await Promise.all(waits.map(settled));
    // Admitting the first fills the slice the first grant sized for one request; the next grant asks for the others too.
    let asked = 0;
    for (let i = 0; i < 3; i++) {
      const outcome = ledger.reserve(row, 1_000, NOW);
      if (!outcome.ok && outcome.reason === "pending") {
        asked++;
        await outcome.wait;
        expect(ledger.reserve(row, 1_000, NOW).ok).toBe(true);
      } else expect(outcome.ok).toBe(true);
    }
    expect(asked).toBeLessThanOrEqual(1);
  });

  test("never admits past the slice: the budget the database says is spent refuses, as a budget does", async () => {
    const leases = new ScriptedLeases(3_000, 1_500);
    const ledger = new BudgetLedger(undefined, leases);
    const row = key(3_000);
    expect(await settled(ledger.reserve(row, 1_000, NOW))).toBe("waited");
    const admitted = ledger.reserve(row, 1_000, NOW);
    expect(admitted.ok).toBe(true);
    // 1,500 is the others', 1,000 held here: another 1,000 cannot fit the 1,500 this instance may have.
    expect(await settled(ledger.reserve(row, 1_000, NOW))).toBe("waited");
    const refused = ledger.reserve(row, 1_000, NOW);
    expect(refused.ok).toBe(false);
    if (!refused.ok && refused.reason !== "pending") {
      expect(refused.reason).toBe("budget");
      expect(refused.remainingMicros).toBe(500);
    }
  });

  test("a database that cannot be asked makes the request unavailable, not refused for budget", async () => {
    const leases = new ScriptedLeases(10_000);
    leases.failing = true;
    const ledger = new BudgetLedger(undefined, leases);
    const row = key(10_000);
    expect(await settled(ledger.reserve(row, 1_000, NOW))).toBe("waited");
    expect(await settled(ledger.reserve(row, 1_000, NOW))).toBe("unavailable");
  });

  test("a budget lowered below the spend refuses from the next request: the slice shrinks and the database is asked", async () => {
    const leases = new ScriptedLeases(10_000);
    const ledger = new BudgetLedger(undefined, leases);
    const row = key(10_000);
    await settled(ledger.reserve(row, 1_000, NOW));
    const outcome = ledger.reserve(row, 1_000, NOW);
    if (!outcome.ok) throw new Error("expected an admission");
    ledger.settle(row, outcome.reservation, 900, NOW);
    leases.budget = 500;
    const lowered = { ...row, budgetMicros: 500 };
    expect(ledger.rebase(lowered, NOW)).toBe(true);
    expect(await settled(ledger.reserve(lowered, 100, NOW))).toBe("waited");
    // The grant reported the 900 spent under the old slice: it counts against the new budget.
    expect(leases.grants.at(-1)?.usedMicros).toBe(900);
    expect(await settled(ledger.reserve(lowered, 100, NOW))).toBe("budget");
  });

  test("keys without a budget never ask; a budget change shrinks the slice; views show others' spend", async () => {
    const leases = new ScriptedLeases(10_000);
    const ledger = new BudgetLedger(undefined, leases);
    expect(ledger.reserve(key(null, "unbudgeted"), 1_000, NOW).ok).toBe(true);
    expect(leases.grants).toHaveLength(0);

    const row = key(10_000);
    await settled(ledger.reserve(row, 1_000, NOW));
    const outcome = ledger.reserve(row, 1_000, NOW);
    if (!outcome.ok) throw new Error("expected an admission");
    ledger.settle(row, outcome.reservation, 600, NOW);
    expect(ledger.leaseUsage()).toEqual([{ holder: "key", id: "k1", periodStartedAt: 0, usedMicros: 600 }]);
    expect(ledger.leaseUsage()).toEqual([]);
    expect(ledger.rebase(row, NOW)).toBe(true);
    // Not closed: the next request asks again, reporting what the slice spent.
    expect(leases.closed).toEqual([]);
    expect(await settled(ledger.reserve(row, 1_000, NOW))).toBe("waited");
    expect(leases.grants.at(-1)?.usedMicros).toBe(600);

    await ledger.refreshShared("key", [row], NOW);
    expect(ledger.view(row, NOW).spendMicros).toBe(777 + 600);
  });
});
