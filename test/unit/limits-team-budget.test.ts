/**
 * The budget ledger with teams (src/limits/budget.ts): a reservation is held
 * against the key and its team in one step or against neither, settles on
 * both, each with its own ceilings and spend rows; budget thresholds are
 * announced once per crossing.
 */
import { describe, expect, test } from "bun:test";
import { BudgetLedger, type BudgetCrossing, type Budgeted, type CeilingStore } from "../../src/limits/budget.ts";
import { periodStart, type BudgetPeriod } from "../../src/limits/period.ts";

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);

let counter = 0;
function budget(budgetMicros: number | null, period: BudgetPeriod = "total", spendMicros = 0): Budgeted {
  counter++;
  return { id: `b${counter}`, budgetMicros, budgetPeriod: period, spendMicros, periodStartedAt: periodStart(period, NOW) };
}

/** Records every ceiling written, by kind; `failTeams` makes team writes throw (a locked database). */
function recordingCeilings(failTeams = false) {
  const written: Array<[kind: "key" | "team", id: string, ceiling: number]> = [];
  const store: CeilingStore = {
    raise: (id, _period, ceiling) => void written.push(["key", id, ceiling]),
    raiseTeam: (id, _period, ceiling) => {
      if (failTeams) throw new Error("database is locked");
      written.push(["team", id, ceiling]);
    },
  };
  return { store, written };
}

describe("BudgetLedger with teams", () => {
  test("a team's budget is shared by its keys; a key's own budget still applies", () => {
    const ledger = new BudgetLedger();
    const team = budget(1_000);
    const a = budget(null);
    const b = budget(300);
    const first = ledger.reserve(a, 600, NOW, team);
    expect(first.ok).toBe(true);
    // 400 left in the team: b's own 300 refuses 350 first.
    const own = ledger.reserve(b, 350, NOW, team);
    expect(own).toMatchObject({ ok: false, reason: "budget", holder: "key", remainingMicros: 300 });
    // 450 fits b's own budget? No: b has 300. 300 fits both.
    expect(ledger.reserve(b, 300, NOW, team).ok).toBe(true);
    // The team has 100 left; a has no budget of its own, the team refuses.
    const shared = ledger.reserve(a, 200, NOW, team);
    expect(shared).toMatchObject({ ok: false, reason: "budget", holder: "team", remainingMicros: 100, reservedMicros: 900 });
    expect(ledger.viewTeam(team, NOW)).toMatchObject({ spendMicros: 0, reservedMicros: 900 });
  });

  test("a refusal by either holds nothing on the other", () => {
    const ledger = new BudgetLedger();
    const team = budget(500);
    const key = budget(1_000);
    expect(ledger.reserve(key, 600, NOW, team)).toMatchObject({ ok: false, holder: "team" });
    expect(ledger.view(key, NOW).reservedMicros).toBe(0);
    const small = budget(100);
    expect(ledger.reserve(small, 200, NOW, team)).toMatchObject({ ok: false, holder: "key" });
    expect(ledger.viewTeam(team, NOW).reservedMicros).toBe(0);
    expect(ledger.reserve(key, 500, NOW, team).ok).toBe(true);
  });

  test("settle charges the key and the team; release frees both", () => {
    const ledger = new BudgetLedger();
    const team = budget(1_000);
    const key = budget(null);
    const r = ledger.reserve(key, 400, NOW, team);
    if (!r.ok) throw new Error("expected admission");
    expect(r.reservation.teamId).toBe(team.id);
    ledger.settle(key, r.reservation, 150, NOW, team);
    expect(ledger.view(key, NOW)).toMatchObject({ spendMicros: 150, reservedMicros: 0 });
    expect(ledger.viewTeam(team, NOW)).toMatchObject({ spendMicros: 150, reservedMicros: 0 });
    const held = ledger.reserve(key, 400, NOW, team);
    if (!held.ok) throw new Error("expected admission");
    ledger.release(held.reservation);
    expect(ledger.viewTeam(team, NOW).reservedMicros).toBe(0);
    expect(ledger.view(key, NOW).reservedMicros).toBe(0);
  });

  test("a key that moved meanwhile settles on the team it was admitted against", () => {
    const ledger = new BudgetLedger();
    const old = budget(1_000);
    const next = budget(1_000);
    const key = budget(null);
    const r = ledger.reserve(key, 400, NOW, old);
    if (!r.ok) throw new Error("expected admission");
    // The key's next request goes to its new team; the one in flight still settles on the old one.
    expect(ledger.reserve(key, 100, NOW, next).ok).toBe(true);
    ledger.settle(key, r.reservation, 300, NOW, old);
    expect(ledger.viewTeam(old, NOW)).toMatchObject({ spendMicros: 300, reservedMicros: 0 });
    expect(ledger.viewTeam(next, NOW)).toMatchObject({ spendMicros: 0, reservedMicros: 100 });
    expect(ledger.view(key, NOW)).toMatchObject({ spendMicros: 300, reservedMicros: 100 });
  });

  test("drain hands over teams' spend marked as such; requeue puts it back", () => {
    const ledger = new BudgetLedger();
    const team = budget(1_000, "daily");
    const key = budget(null);
    const r = ledger.reserve(key, 400, NOW, team);
    if (!r.ok) throw new Error("expected admission");
    ledger.settle(key, r.reservation, 120, NOW, team);
    const drained = ledger.drain();
    expect(drained).toEqual([
      { id: key.id, spendMicros: 120, periodStartedAt: 0 },
      { id: team.id, spendMicros: 120, periodStartedAt: Date.UTC(2026, 0, 15), team: true },
    ]);
    expect(ledger.settled()).toBe(true);
    ledger.requeue(drained);
    expect(ledger.settled()).toBe(false);
    expect(ledger.drain()).toEqual(drained);
  });

  test("a team's ceiling is raised before its spend may pass it, apart from its keys'", () => {
    const { store, written } = recordingCeilings();
    const ledger = new BudgetLedger(store);
    const team = budget(100_000);
    const key = budget(null);
    expect(ledger.reserve(key, 1_000, NOW, team).ok).toBe(true);
    // The key has no budget, so no ceiling; the team's grant covers the request and a slice.
    expect(written.length).toBe(1);
    const [kind, id, ceiling] = written[0] ?? [];
    expect([kind, id]).toEqual(["team", team.id]);
    expect(ceiling).toBeGreaterThanOrEqual(1_000);
    expect(ceiling).toBeLessThan(100_000);
  });

  test("a team ceiling that cannot be written refuses the request and holds nothing", () => {
    const { store } = recordingCeilings(true);
    const ledger = new BudgetLedger(store);
    const team = budget(100_000);
    const key = budget(100_000);
    expect(ledger.reserve(key, 1_000, NOW, team)).toMatchObject({ ok: false, reason: "unavailable", holder: "team" });
    expect(ledger.view(key, NOW).reservedMicros).toBe(0);
    expect(ledger.viewTeam(team, NOW).reservedMicros).toBe(0);
    // A key outside the team is not affected.
    expect(ledger.reserve(budget(100_000), 1_000, NOW).ok).toBe(true);
  });

  test("rebaseTeam replaces the team's ceiling with what is spent and reserved", () => {
    const { store, written } = recordingCeilings();
    const ledger = new BudgetLedger(store);
    const team = budget(100_000);
    const key = budget(null);
    const r = ledger.reserve(key, 1_000, NOW, team);
    if (!r.ok) throw new Error("expected admission");
    ledger.settle(key, r.reservation, 600, NOW, team);
    expect(ledger.reserve(key, 1_000, NOW, team).ok).toBe(true);
    written.length = 0;
    expect(ledger.rebaseTeam({ ...team, budgetMicros: 5_000 }, NOW)).toBe(true);
    expect(written).toEqual([["team", team.id, 1_600]]);
  });

  test("thresholds: each of 50, 80 and 100% is announced once per period, for keys and teams", () => {
    const ledger = new BudgetLedger();
    const crossings: BudgetCrossing[] = [];
    const stop = ledger.onThreshold((c) => void crossings.push(c));
    const team = budget(1_000, "daily");
    const key = budget(2_000);
    const spend = (micros: number, at = NOW) => {
      const r = ledger.reserve(key, micros, at, team);
      if (!r.ok) throw new Error("expected admission");
      ledger.settle(key, r.reservation, micros, at, team);
    };
    spend(499);
    expect(crossings).toEqual([]);
    spend(1); // the team at exactly 50%, the key at 25%
    expect(crossings).toEqual([{ holder: "team", id: team.id, threshold: 50, budgetMicros: 1_000, spendMicros: 500, periodStartedAt: Date.UTC(2026, 0, 15) }]);
    spend(100);
    expect(crossings.length).toBe(1);
    spend(400); // the team jumps past 80 and to 100 at once; the key reaches 50%
    expect(crossings.slice(1).map((c) => [c.holder, c.threshold])).toEqual([
      ["key", 50],
      ["team", 80],
      ["team", 100],
    ]);
    // A new day: the team's spend starts again, and so do its announcements.
    const tomorrow = Date.UTC(2026, 0, 16, 9);
    spend(700, tomorrow); // the team at 70% of its new day, the key (a total budget) at 85%
    expect(crossings.slice(4).map((c) => [c.holder, c.threshold, c.periodStartedAt])).toEqual([
      ["key", 80, 0],
      ["team", 50, Date.UTC(2026, 0, 16)],
    ]);
    stop();
    spend(300, tomorrow);
    expect(crossings.length).toBe(6);
  });

  test("a listener that throws fails nothing", () => {
    const ledger = new BudgetLedger();
    ledger.onThreshold(() => {
      throw new Error("listener broke");
    });
    const key = budget(100);
    const r = ledger.reserve(key, 100, NOW);
    if (!r.ok) throw new Error("expected admission");
    ledger.settle(key, r.reservation, 100, NOW);
    expect(ledger.view(key, NOW).spendMicros).toBe(100);
  });
});
