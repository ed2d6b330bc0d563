/**
 * A team's shared budget holds against concurrency: 60 requests at once
 * through 30 keys of one team (minted as one batch into it), at the edge of
 * the team's budget, with half the keys on a budget of their own that fits
 * one request. The team never overspends, no key overspends its own budget,
 * every other request is refused with 429 insufficient_quota, and the team's
 * spend equals its keys' spend, the log's cost and what a restart would read.
 * Run with the request log inline and in its worker.
 */
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { createProviderKey, expectStatus } from "../helpers/admin-fixtures.ts";
import { TEST_BACKEND } from "../helpers/app.ts";
import { allLogs, getKey, micros, postV1, waitSettled } from "../helpers/limits.ts";
import { useProxyHarness } from "../helpers/proxy.ts";

// gpt-4o-mini: 3000 in, 1000 out = 450 + 600 = 1050 µ$ per request; each reserves a little more.
const USAGE = { input: 3_000, output: 1_000, cached: 0, cacheCreation: 0 };
const COST = 1_050;
const TEAM_BUDGET_USD = 0.011; // 11,000 µ$: ten requests and a half
const KEY_BUDGET_USD = 0.0015; // one request each, for the keys with their own budget
const KEYS = 30;
const REQUESTS = 60;
const body = { model: "gpt-4o-mini", messages: [{ role: "user", content: "x".repeat(3_000) }], max_tokens: 1_000 };

for (const logWorker of [false, true]) {
  describe(logWorker ? "request log in its worker" : "request log inline", () => {
    const h = useProxyHarness({ mock: { usage: USAGE }, logWorker });

    test("60 concurrent requests through 30 keys of a team at its budget's edge: neither the team nor any key overspends", async () => {
      const pk = await createProviderKey(h.t, { base_url: h.mock.baseUrl });
      const team = await h.t.call("POST", "/api/teams", { name: "race", budget_usd: TEAM_BUDGET_USD });
      expectStatus(team, 201);
      const batch = await h.t.call("POST", "/api/proxy-keys/batch", { count: KEYS, name_prefix: "race", provider_key_id: pk.id, team_id: team.json.id });
      expectStatus(batch, 201);
      const keys = batch.json.data as Array<{ id: string; key: string; team_id: string }>;
      expect(keys.every((k) => k.team_id === team.json.id)).toBe(true);
      // Every other key gets a budget of its own that fits one request.
      for (const k of keys.filter((_, i) => i % 2 === 0)) {
        expectStatus(await h.t.call("PATCH", `/api/proxy-keys/${k.id}`, { budget_usd: KEY_BUDGET_USD }), 200);
      }

      const outcomes = await Promise.all(
        Array.from({ length: REQUESTS }, async (_, i) => {
          const k = keys[i % KEYS] as { key: string };
          const response = await postV1(h.baseUrl, k.key, "/chat/completions", i % 3 === 0 ? { ...body, stream: true } : body);
          const text = await response.text();
          if (response.status === 200) return "ok";
          return `${response.status} ${(JSON.parse(text) as { error: { code: string } }).error.code}`;
        }),
      );
      await waitSettled(h.t);

      const succeeded = outcomes.filter((o) => o === "ok").length;
      expect(outcomes.filter((o) => o !== "ok").every((o) => o === "429 insufficient_quota")).toBe(true);
      expect(succeeded).toBeGreaterThanOrEqual(8);
      expect(succeeded).toBeLessThanOrEqual(10);
      expect(h.mock.requests.length).toBe(succeeded);

      const shown = (await h.t.call("GET", `/api/teams/${team.json.id}`)).json as { spend_usd: number; reserved_usd: number };
      const teamSpend = micros(shown.spend_usd);
      expect(teamSpend).toBe(succeeded * COST);
      expect(teamSpend).toBeLessThanOrEqual(micros(TEAM_BUDGET_USD));
      expect(shown.reserved_usd).toBe(0);
      let keysSpend = 0;
      for (const [i, k] of keys.entries()) {
        const own = await getKey(h.t, k.id);
        if (i % 2 === 0) expect(micros(own.spend_usd)).toBeLessThanOrEqual(micros(KEY_BUDGET_USD));
        keysSpend += micros(own.spend_usd);
      }
      expect(keysSpend).toBe(teamSpend);
      const logs = await allLogs(h.t);
      expect(logs.reduce((sum, l) => sum + l.count, 0)).toBe(REQUESTS);
      expect(logs.reduce((sum, l) => sum + micros(l.cost_usd), 0)).toBe(teamSpend);

      // What a restart would read: the team's spend committed with the log. On PostgreSQL there is no such
      // file (the mirror holds no spend): budget leases carry it, and the answers above are what count.
      if (TEST_BACKEND === "postgres") return;
      await h.t.flushLog();
      const db = new Database(h.t.dbPath, { readonly: true });
      try {
        const stored = db.query("SELECT spend_micros AS spend FROM teams WHERE id = ?").get(team.json.id) as { spend: number };
        expect(stored.spend).toBe(teamSpend);
      } finally {
        db.close();
      }
    });
  });
}
