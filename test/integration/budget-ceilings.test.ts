/**
 * Budget ceilings on a real SQLite file: the repository (raise, burnOpen's
 * three cases, closeAll), and the budget ledger on it: one durable write per
 * slice of many small requests, committed before the reservation that needed
 * it is granted, and a refusal when it cannot be written.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../../src/db/open.ts";
import { createSqliteStore } from "../../src/db/sqlite-store.ts";
import type { ProxyKeyRow, Store, TeamRow } from "../../src/db/store.ts";
import { BudgetLedger, type CeilingStore } from "../../src/limits/budget.ts";
import { detectRuntime, type SqliteClient } from "../../src/runtime/index.ts";
import { proxyKeyRow } from "../helpers/rows.ts";

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const TODAY = Date.UTC(2026, 0, 15);
const YESTERDAY = Date.UTC(2026, 0, 14);

let dir: string;
let path: string;
let client: SqliteClient;
let store: Store;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyward-ceilings-"));
  const opened = openDatabase(await detectRuntime(), dir);
  client = opened.client;
  path = opened.path;
  store = createSqliteStore(opened.db, () => opened.client.close());
  store.providerKeys.insert({
    id: "pk",
    name: "pk",
    provider: "openai",
    baseUrl: "http://127.0.0.1:1/v1",
    keyVersion: 1,
    nonce: Buffer.alloc(12),
    ciphertext: Buffer.alloc(16),
    keyHint: "sk-…",
    disabled: false,
    injectStreamUsage: true,
    deployments: null,
    openaiOrganization: null,
    openaiProject: null,
    createdAt: NOW,
    updatedAt: NOW,
  });
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The limit columns a key and a team share, as their fixtures start: no limit but a $1 total budget, nothing spent. */
const BUDGET_ONLY = {
  allowedModels: null,
  rpm: null,
  tpm: null,
  maxConcurrency: null,
  budgetMicros: 1_000_000,
  budgetPeriod: "total",
  spendMicros: 0,
  periodStartedAt: 0,
} satisfies Partial<ProxyKeyRow> & Partial<TeamRow>;

function keyRow(id: string, fields: Partial<ProxyKeyRow> = {}): ProxyKeyRow {
  return proxyKeyRow({ id, name: id, providerKeyId: "pk", secretHash: "$argon2id$test", createdAt: NOW, updatedAt: NOW, ...BUDGET_ONLY, ...fields });
}

function addKey(id: string, fields: Partial<ProxyKeyRow> = {}): ProxyKeyRow {
  const row = keyRow(id, fields);
  store.proxyKeys.insert(row);
  return row;
}

/** A ceilings table (keys' or teams') as another connection sees it, by id: only what was committed. */
async function committedIn(table: "budget_ceilings" | "team_budget_ceilings", idColumn: "proxy_key_id" | "team_id"): Promise<Map<string, [number, number]>> {
  const other = (await detectRuntime()).openSqlite(path);
  try {
    const rows = other.prepare(`SELECT ${idColumn}, period_started_at, ceiling_micros FROM ${table}`).values();
    return new Map(rows.map(([id, period, ceiling]) => [String(id), [Number(period), Number(ceiling)]]));
  } finally {
    other.close();
  }
}

const committedCeilings = () => committedIn("budget_ceilings", "proxy_key_id");

/** A key's or a team's spend and period as stored, to compare with what a burn should leave. */
const storedSpend = (row: { spendMicros: number; periodStartedAt: number } | undefined) => ({
  spendMicros: row?.spendMicros,
  periodStartedAt: row?.periodStartedAt,
});

const spendOf = (id: string) => storedSpend(store.proxyKeys.byId(id));

describe("the repository", () => {
  test("raise is an upsert: one row per key, the latest period and ceiling", async () => {
    addKey("a");
    store.budgetCeilings.raise("a", YESTERDAY, 500);
    store.budgetCeilings.raise("a", TODAY, 200);
    expect(await committedCeilings()).toEqual(new Map([["a", [TODAY, 200]]]));
  });

  test("burnOpen: a ceiling of the stored period raises spend to it, never lowers it", async () => {
    addKey("below", { spendMicros: 300 });
    addKey("above", { spendMicros: 900 });
    store.budgetCeilings.raise("below", 0, 700);
    store.budgetCeilings.raise("above", 0, 800);
    expect(store.budgetCeilings.burnOpen()).toBe(1);
    expect(spendOf("below")).toEqual({ spendMicros: 700, periodStartedAt: 0 });
    expect(spendOf("above")).toEqual({ spendMicros: 900, periodStartedAt: 0 });
    expect((await committedCeilings()).size).toBe(0);
  });

  test("burnOpen: a ceiling of a newer period becomes the stored period and its spend", () => {
    // The day rolled over in memory; the new day's spend never reached the file.
    addKey("rolled", { budgetPeriod: "daily", spendMicros: 900, periodStartedAt: YESTERDAY });
    store.budgetCeilings.raise("rolled", TODAY, 250);
    expect(store.budgetCeilings.burnOpen()).toBe(1);
    expect(spendOf("rolled")).toEqual({ spendMicros: 250, periodStartedAt: TODAY });
  });

  test("burnOpen: a ceiling of an older period is ignored", () => {
    // The new period's spend was written already; the old ceiling bounds nothing now.
    addKey("stale", { budgetPeriod: "daily", spendMicros: 40, periodStartedAt: TODAY });
    store.budgetCeilings.raise("stale", YESTERDAY, 900);
    expect(store.budgetCeilings.burnOpen()).toBe(0);
    expect(spendOf("stale")).toEqual({ spendMicros: 40, periodStartedAt: TODAY });
  });

  test("burnOpen leaves nothing open: a second call burns nothing", async () => {
    addKey("a");
    store.budgetCeilings.raise("a", 0, 100);
    expect(store.budgetCeilings.burnOpen()).toBe(1);
    expect(store.budgetCeilings.burnOpen()).toBe(0);
    expect((await committedCeilings()).size).toBe(0);
  });

  test("closeAll deletes every ceiling without touching spend; a deleted key takes its ceiling with it", async () => {
    addKey("a", { spendMicros: 10 });
    addKey("b");
    store.budgetCeilings.raise("a", 0, 100);
    store.budgetCeilings.raise("b", 0, 100);
    store.proxyKeys.delete("b");
    expect([...(await committedCeilings()).keys()]).toEqual(["a"]);
    store.budgetCeilings.closeAll();
    expect((await committedCeilings()).size).toBe(0);
    expect(spendOf("a").spendMicros).toBe(10);
  });
});

describe("the ledger on the repository", () => {
  /** The repository, counting raises and checking each one is committed before the ledger goes on. */
  function countingCeilings(): CeilingStore & { raises: number; committedAtRaise: Array<[number, number] | undefined> } {
    const counting = {
      raises: 0,
      committedAtRaise: [] as Array<[number, number] | undefined>,
      raise(keyId: string, periodStartedAt: number, ceilingMicros: number) {
        counting.raises++;
        store.budgetCeilings.raise(keyId, periodStartedAt, ceilingMicros);
      },
      close: (keyId: string) => store.budgetCeilings.close(keyId),
      raiseTeam: (teamId: string, periodStartedAt: number, ceilingMicros: number) => store.budgetCeilings.raiseTeam(teamId, periodStartedAt, ceilingMicros),
    };
    return counting;
  }

  test("many small requests write one ceiling, committed before the first reservation returns", async () => {
    const row = addKey("k");
    const ceilings = countingCeilings();
    const ledger = new BudgetLedger(ceilings);
    const first = ledger.reserve(row, 1_000, NOW);
    expect(first.ok).toBe(true);
    // Seen from another connection as soon as `reserve` returned: committed, not merely written.
    const [, ceiling] = (await committedCeilings()).get("k") ?? [0, 0];
    expect(ceiling).toBeGreaterThanOrEqual(1_000);
    if (first.ok) ledger.settle(row, first.reservation, 400, NOW);
    // 99 more requests of the same size: 40,600 µ$ of spend and reservation stay under the first grant.
    for (let i = 0; i < 99; i++) {
      const outcome = ledger.reserve(row, 1_000, NOW);
      expect(outcome.ok).toBe(true);
      if (outcome.ok) ledger.settle(row, outcome.reservation, 400, NOW);
    }
    expect(ceilings.raises).toBe(1);
    expect(ceiling).toBeGreaterThanOrEqual(40_600);
    // A grant is a slice, never the whole budget at once.
    expect(ceiling).toBeLessThan(1_000_000);
  });

  test("a ceiling is raised again before spend and reservations pass it, and never past the budget", async () => {
    const row = addKey("k", { budgetMicros: 100_000 });
    const ceilings = countingCeilings();
    const ledger = new BudgetLedger(ceilings);
    let spent = 0;
    for (;;) {
      const outcome = ledger.reserve(row, 1_000, NOW);
      if (!outcome.ok) break;
      const [, ceiling] = (await committedCeilings()).get("k") ?? [0, 0];
      expect(ceiling).toBeGreaterThanOrEqual(spent + 1_000);
      expect(ceiling).toBeLessThanOrEqual(100_000);
      ledger.settle(row, outcome.reservation, 1_000, NOW);
      spent += 1_000;
    }
    expect(spent).toBe(100_000);
    // Slices shrink as the budget drains, so the last ones are written more often, but far from once per request.
    expect(ceilings.raises).toBeGreaterThan(1);
    expect(ceilings.raises).toBeLessThan(25);
  });

  test("a ceiling that cannot be written refuses the request instead of admitting it", async () => {
    const row = addKey("k");
    const ledger = new BudgetLedger(store.budgetCeilings);
    // Another connection holds the write lock; the serving connection gives up after 50 ms.
    client.exec("PRAGMA busy_timeout = 50");
    const locker = (await detectRuntime()).openSqlite(path);
    locker.exec("BEGIN IMMEDIATE");
    try {
      const outcome = ledger.reserve(row, 1_000, NOW);
      expect(outcome).toMatchObject({ ok: false, reason: "unavailable" });
      expect(ledger.view(row, NOW).reservedMicros).toBe(0);
    } finally {
      locker.exec("ROLLBACK");
      locker.close();
    }
    expect(ledger.reserve(row, 1_000, NOW).ok).toBe(true);
  });

  test("rebase: a lowered budget's ceiling covers exactly what is spent and reserved", async () => {
    const row = addKey("k");
    const ledger = new BudgetLedger(store.budgetCeilings);
    const spent = ledger.reserve(row, 1_000, NOW);
    if (spent.ok) ledger.settle(row, spent.reservation, 600, NOW);
    const held = ledger.reserve(row, 1_000, NOW);
    expect(held.ok).toBe(true);
    expect((await committedCeilings()).get("k")?.[1]).toBeGreaterThan(1_600);

    expect(ledger.rebase({ ...row, budgetMicros: 5_000 }, NOW)).toBe(true);
    expect((await committedCeilings()).get("k")).toEqual([0, 1_600]);
  });

  test("rebase: a key whose budget was removed keeps no ceiling", async () => {
    const row = addKey("k");
    const ledger = new BudgetLedger(store.budgetCeilings);
    const outcome = ledger.reserve(row, 1_000, NOW);
    if (outcome.ok) ledger.settle(row, outcome.reservation, 600, NOW);
    expect(ledger.rebase({ ...row, budgetMicros: null }, NOW)).toBe(true);
    expect((await committedCeilings()).size).toBe(0);
  });

  test("rebase: a shorter period starts the new one with a ceiling for what is still reserved", async () => {
    const row = addKey("k");
    const ledger = new BudgetLedger(store.budgetCeilings);
    const settled = ledger.reserve(row, 1_000, NOW);
    if (settled.ok) ledger.settle(row, settled.reservation, 600, NOW);
    expect(ledger.reserve(row, 1_000, NOW).ok).toBe(true);
    expect(ledger.rebase({ ...row, budgetPeriod: "daily" }, NOW)).toBe(true);
    // The day's spend starts at zero; the request in flight may still cost up to its reservation.
    expect((await committedCeilings()).get("k")).toEqual([TODAY, 1_000]);
  });

  test("settled: false while a reservation is open or spend waits for a flush", () => {
    const row = addKey("k");
    const ledger = new BudgetLedger(store.budgetCeilings);
    expect(ledger.settled()).toBe(true);
    const outcome = ledger.reserve(row, 1_000, NOW);
    expect(ledger.settled()).toBe(false);
    if (outcome.ok) ledger.settle(row, outcome.reservation, 600, NOW);
    expect(ledger.settled()).toBe(false);
    const drained = ledger.drain();
    expect(ledger.settled()).toBe(true);
    ledger.requeue(drained);
    expect(ledger.settled()).toBe(false);
  });
});

describe("teams' ceilings in the repository", () => {
  function addTeam(id: string, fields: Partial<TeamRow> = {}): TeamRow {
    const row: TeamRow = {
      id,
      name: id,
      ...BUDGET_ONLY,
      disabled: false,
      metadata: null,
      createdBy: null,
      createdAt: NOW,
      updatedAt: NOW,
      ...fields,
    };
    store.teams.insert(row);
    return row;
  }

  const committedTeamCeilings = () => committedIn("team_budget_ceilings", "team_id");

  const teamSpend = (id: string) => storedSpend(store.teams.byId(id));

  test("raiseTeam is an upsert apart from keys' ceilings; closeTeam drops one", async () => {
    addTeam("t");
    addKey("t"); // the same id as a key: the tables are apart
    store.budgetCeilings.raiseTeam("t", YESTERDAY, 500);
    store.budgetCeilings.raiseTeam("t", TODAY, 200);
    expect(await committedTeamCeilings()).toEqual(new Map([["t", [TODAY, 200]]]));
    expect((await committedCeilings()).size).toBe(0);
    store.budgetCeilings.closeTeam("t");
    expect((await committedTeamCeilings()).size).toBe(0);
  });

  test("burnOpenTeams: the same three cases as keys', and nothing left open", async () => {
    addTeam("below", { spendMicros: 300 });
    addTeam("rolled", { budgetPeriod: "daily", spendMicros: 900, periodStartedAt: YESTERDAY });
    addTeam("stale", { budgetPeriod: "daily", spendMicros: 40, periodStartedAt: TODAY });
    store.budgetCeilings.raiseTeam("below", 0, 700);
    store.budgetCeilings.raiseTeam("rolled", TODAY, 250);
    store.budgetCeilings.raiseTeam("stale", YESTERDAY, 900);
    // Keys' burn leaves teams' ceilings alone, and the other way round.
    addKey("k", { spendMicros: 10 });
    store.budgetCeilings.raise("k", 0, 100);
    expect(store.budgetCeilings.burnOpenTeams()).toBe(2);
    expect(teamSpend("below")).toEqual({ spendMicros: 700, periodStartedAt: 0 });
    expect(teamSpend("rolled")).toEqual({ spendMicros: 250, periodStartedAt: TODAY });
    expect(teamSpend("stale")).toEqual({ spendMicros: 40, periodStartedAt: TODAY });
    expect((await committedTeamCeilings()).size).toBe(0);
    expect((await committedCeilings()).get("k")).toEqual([0, 100]);
    expect(store.budgetCeilings.burnOpen()).toBe(1);
  });

  test("closeAll closes keys' and teams' ceilings; a deleted team takes its ceiling with it", async () => {
    addTeam("a");
    addTeam("b");
    addKey("k");
    store.budgetCeilings.raiseTeam("a", 0, 100);
    store.budgetCeilings.raiseTeam("b", 0, 100);
    store.budgetCeilings.raise("k", 0, 100);
    store.teams.delete("b");
    expect([...(await committedTeamCeilings()).keys()]).toEqual(["a"]);
    store.budgetCeilings.closeAll();
    expect((await committedTeamCeilings()).size).toBe(0);
    expect((await committedCeilings()).size).toBe(0);
  });
});
