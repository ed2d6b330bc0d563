/**
 * A team's spend survives a restart, written with the request log by either
 * writer (inline, and the log worker as the server runs it), and a crash
 * never reopens a team's spent budget: its durable ceiling is granted before
 * spend passes it, closed on a clean stop, taken as spent after an unclean one.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createTestApp, TestClock, type TestApp } from "../helpers/app.ts";
import { expectStatus } from "../helpers/admin-fixtures.ts";
import { chatJson, micros, onFile, warnings } from "../helpers/limits.ts";
import { startMockProvider, type MockProvider } from "../helpers/mock-provider.ts";

let mock: MockProvider;

beforeAll(async () => {
  // 200 in, 100 out of gpt-4o-mini: 90 µ$ per request; each reserves about 219 µ$.
  mock = await startMockProvider({ usage: { input: 200, output: 100 } });
});
afterAll(() => mock.stop());

const COST = 90;
// A flush interval far beyond the test: only close() (or nothing, in a crash) writes spend.
const config = { logFlushIntervalMs: 3_600_000 };
const body = chatJson("gpt-4o-mini", 1_000, { max_tokens: 100 });

const teamSpendOnFile = async (dataDir: string, id: string) => Number((await onFile(dataDir, `SELECT spend_micros FROM teams WHERE id = '${id}'`))[0]?.[0]);
const teamCeilingsOnFile = async (dataDir: string) =>
  new Map((await onFile(dataDir, "SELECT team_id, ceiling_micros FROM team_budget_ceilings")).map(([id, c]) => [String(id), Number(c)]));

/** A team with `budgetUsd` and two keys in it without budgets of their own. */
async function teamWithKeys(t: TestApp, budgetUsd: number) {
  const provider = await t.call("POST", "/api/provider-keys", { name: "p", provider: "openai", key: "sk-team-restart-0123456789", base_url: mock.baseUrl });
  expectStatus(provider, 201);
  const team = await t.call("POST", "/api/teams", { name: "event", budget_usd: budgetUsd });
  expectStatus(team, 201);
  const keys: string[] = [];
  for (const name of ["a", "b"]) {
    const key = await t.call("POST", "/api/proxy-keys", { name, provider_key_id: provider.json.id, team_id: team.json.id });
    expectStatus(key, 201);
    keys.push(key.json.key);
  }
  return { teamId: team.json.id as string, keys };
}

const teamSpend = async (t: TestApp, id: string) => micros((await t.call("GET", `/api/teams/${id}`)).json.spend_usd);

for (const logWorker of [false, true]) {
  describe(logWorker ? "request log in its worker" : "request log inline", () => {
    test("a team's spend survives close() and reopening; its budget goes on from there", async () => {
      const clock = new TestClock();
      const first = await createTestApp({ clock, config, logWorker });
      // 500 µ$: four requests fit in all (the fifth needs 360 + 219).
      const { teamId, keys } = await teamWithKeys(first, 0.0005);
      for (const token of keys) expectStatus(await first.call("POST", "/v1/chat/completions", body, { token }), 200);
      expect(await teamSpend(first, teamId)).toBe(2 * COST);
      expect((await teamCeilingsOnFile(first.dataDir)).get(teamId)).toBeGreaterThan(2 * COST);
      await first.close();
      expect(await teamSpendOnFile(first.dataDir, teamId)).toBe(2 * COST);
      // A clean stop closes the team's ceiling: the next start burns nothing.
      expect((await teamCeilingsOnFile(first.dataDir)).size).toBe(0);

      const log = warnings();
      const second = await createTestApp({
        clock,
        config,
        logWorker,
        dataDir: first.dataDir,
        masterKey: first.masterKey,
        rootToken: first.rootToken,
        logger: log.logger,
      });
      try {
        expect(log.lines).toEqual([]);
        expect(await teamSpend(second, teamId)).toBe(2 * COST);
        const statuses: number[] = [];
        for (const token of [...keys, ...keys]) statuses.push((await second.call("POST", "/v1/chat/completions", body, { token })).status);
        expect(statuses).toEqual([200, 200, 429, 429]);
        expect(await teamSpend(second, teamId)).toBe(4 * COST);
      } finally {
        await second.cleanup();
      }
    });
  });
}

test("after an unclean stop the team's open ceiling is taken as spent: never less than settled, never past the budget", async () => {
  const clock = new TestClock();
  const first = await createTestApp({ clock, config });
  // 2,000 µ$ shared by keys without budgets of their own: only the team's ceiling guards it.
  const { teamId, keys } = await teamWithKeys(first, 0.002);
  let settled = 0;
  for (let i = 0; i < 6; i++) {
    expectStatus(await first.call("POST", "/v1/chat/completions", body, { token: keys[i % 2] as string }), 200);
    settled += COST;
  }
  expect(await teamSpendOnFile(first.dataDir, teamId)).toBe(0);
  const ceiling = (await teamCeilingsOnFile(first.dataDir)).get(teamId) ?? 0;
  expect(ceiling).toBeGreaterThanOrEqual(settled);
  expect((await onFile(first.dataDir, "SELECT count(*) FROM budget_ceilings"))[0]?.[0]).toBe(0);

  // The crash: `first` is never closed, so neither its spend nor a closing of its ceilings is written.
  const log = warnings();
  const second = await createTestApp({ clock, config, dataDir: first.dataDir, masterKey: first.masterKey, rootToken: first.rootToken, logger: log.logger });
  try {
    expect(log.lines).toEqual([{ msg: "Took unclosed budget slices as spent after an unclean stop", keys: 0, teams: 1 }]);
    const spend = await teamSpend(second, teamId);
    expect(spend).toBe(ceiling);
    expect(spend).toBeGreaterThanOrEqual(settled);
    expect(spend).toBeLessThanOrEqual(2_000);
    // Spending goes on from there, and what both processes let through stays within the team's budget.
    for (let i = 0; i < 100; i++) {
      const response = await second.call("POST", "/v1/chat/completions", body, { token: keys[i % 2] as string });
      if (response.status !== 200) {
        expect(response.status).toBe(429);
        expect(response.json.error.message).toContain("team event has");
        break;
      }
      settled += COST;
    }
    expect(settled).toBeLessThanOrEqual(2_000);
    expect(await teamSpend(second, teamId)).toBeLessThanOrEqual(2_000);
  } finally {
    await second.cleanup();
    await first.close();
  }
});

test("an admin change of a team's budget replaces its ceiling: a crash then burns what the new terms cover", async () => {
  const clock = new TestClock();
  const first = await createTestApp({ clock, config });
  const { teamId, keys } = await teamWithKeys(first, 1);
  for (const token of keys) expectStatus(await first.call("POST", "/v1/chat/completions", body, { token }), 200);
  // A slice of a $1 budget is far above the spend.
  expect((await teamCeilingsOnFile(first.dataDir)).get(teamId)).toBeGreaterThan(10_000);
  expectStatus(await first.call("PATCH", `/api/teams/${teamId}`, { budget_usd: 0.5 }), 200);
  expect((await teamCeilingsOnFile(first.dataDir)).get(teamId)).toBe(2 * COST);

  const second = await createTestApp({ clock, config, dataDir: first.dataDir, masterKey: first.masterKey, rootToken: first.rootToken });
  try {
    expect(await teamSpend(second, teamId)).toBe(2 * COST);
  } finally {
    await second.cleanup();
    await first.close();
  }
});
