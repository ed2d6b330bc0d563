/**
 * Teams on the proxy: a request must fit its key's limits and its team's,
 * each limit separately (models, rpm, tpm, concurrency, budget), refusals say
 * whose limit refused, a disabled team refuses every key on its next request,
 * a budget lowered below the spend refuses from then on, and a key moved
 * between teams keeps its own spend while the new team counts from the move.
 */
import { expect, test } from "bun:test";
import { createProviderKey, createProxyKey, expectStatus } from "../helpers/admin-fixtures.ts";
import { chatJson, getKey, micros, postV1, waitSettled } from "../helpers/limits.ts";
import { expectProxyError, useProxyHarness } from "../helpers/proxy.ts";

// gpt-4o-mini: 200 in, 100 out = 30 + 60 = 90 µ$ per request; each reserves about 219 µ$.
const h = useProxyHarness({ mock: { usage: { input: 200, output: 100 } } });
const COST = 90;

let counter = 0;

interface Team {
  id: string;
  name: string;
  created_at: string;
  spend_usd: number;
  reserved_usd: number;
  budget_remaining_usd: number | null;
  period_started_at: string;
  warnings?: string[];
}

async function createTeam(fields: Record<string, unknown> = {}): Promise<Team> {
  counter++;
  const res = await h.t.call("POST", "/api/teams", { name: `team-${counter}`, ...fields });
  expectStatus(res, 201);
  return res.json as Team;
}

async function getTeam(id: string): Promise<Team> {
  const res = await h.t.call("GET", `/api/teams/${id}`);
  expectStatus(res, 200);
  return res.json as Team;
}

async function providerKey(): Promise<string> {
  return (await createProviderKey(h.t, { base_url: h.mock.baseUrl })).id;
}

/** A proxy key on `providerKeyId`, in `teamId` when given. */
async function key(providerKeyId: string, teamId: string | undefined, fields: Record<string, unknown> = {}) {
  return createProxyKey(h.t, providerKeyId, teamId === undefined ? fields : { team_id: teamId, ...fields });
}

const chat = (token: string, extra: Record<string, unknown> = {}) =>
  h.t.call("POST", "/v1/chat/completions", chatJson("gpt-4o-mini", 1_000, { max_tokens: 100, ...extra }), { token });

test("allowed_models: the key's list and the team's must both allow the model", async () => {
  const pk = await providerKey();
  const team = await createTeam({ allowed_models: ["gpt-4o-mini"] });
  const open = await key(pk, team.id);
  const own = await key(pk, team.id, { allowed_models: ["gpt-4o"] });

  expectStatus(await chat(open.key), 200);
  const byTeam = await chat(open.key, { model: "gpt-4o" });
  expectProxyError(byTeam, 403, "model_not_allowed");
  expect(byTeam.json.error.message).toBe(`Cannot use model gpt-4o: team ${team.name} allows gpt-4o-mini`);
  // The key's own list still applies: its model is refused by the team, the team's by the key.
  expect((await chat(own.key, { model: "gpt-4o" })).json.error.message).toContain(`team ${team.name} allows`);
  expect((await chat(own.key)).json.error.message).toBe("Cannot use model gpt-4o-mini: this key allows gpt-4o");
  expect(h.mock.requests.length).toBe(1);
});

test("rpm: the team's requests per minute are shared by its keys; a key's own rpm still applies", async () => {
  const pk = await providerKey();
  const team = await createTeam({ rpm: 3 });
  const a = await key(pk, team.id);
  const b = await key(pk, team.id);
  const outsider = await key(pk, undefined);
  expectStatus(await chat(a.key), 200);
  expectStatus(await chat(b.key), 200);
  expectStatus(await chat(a.key), 200);
  const refused = await chat(b.key);
  expectProxyError(refused, 429, "rate_limit_exceeded");
  expect(refused.json.error.message).toBe(`Cannot start request: team ${team.name} allows 3 requests per minute`);
  expect(refused.headers.get("retry-after")).toBe("60");
  expectStatus(await chat(outsider.key), 200);
  h.clock.advance(60_000);
  expectStatus(await chat(b.key), 200);

  const roomy = await createTeam({ rpm: 100 });
  const strict = await key(pk, roomy.id, { rpm: 1 });
  expectStatus(await chat(strict.key), 200);
  expect((await chat(strict.key)).json.error.message).toBe("Cannot start request: this key allows 1 requests per minute");
});

test("max_concurrency: the team's slots are shared by its keys", async () => {
  const pk = await providerKey();
  const team = await createTeam({ max_concurrency: 1 });
  const a = await key(pk, team.id);
  const b = await key(pk, team.id);
  // A stream that stays open: the provider sends one event, then nothing until the client leaves.
  h.mock.next({ quiet: { afterEvents: 1, ms: 600_000 } });
  const abort = new AbortController();
  const open = await postV1(h.baseUrl, a.key, "/chat/completions", chatJson("gpt-4o-mini", 20, { stream: true }), { signal: abort.signal });
  expect(open.status).toBe(200);
  const refused = await chat(b.key);
  expectProxyError(refused, 429, "rate_limit_exceeded");
  expect(refused.json.error.message).toBe(`Cannot start request: team ${team.name} allows 1 at a time`);
  abort.abort();
  await open.body?.cancel().catch(() => {});
  await waitSettled(h.t);
  expectStatus(await chat(b.key), 200);
});

test("tpm: a team's tpm makes its keys' bodies read, and bounds every request", async () => {
  const pk = await providerKey();
  const team = await createTeam({ tpm: 500 });
  // The key has no limits of its own: only its team's tpm can have read the body for a token bound.
  const inTeam = await key(pk, team.id);
  const refused = await chat(inTeam.key);
  expectProxyError(refused, 429, "rate_limit_exceeded");
  expect(refused.json.error.message).toMatch(new RegExp(`^Cannot start request: it may use up to \\d+ tokens and team ${team.name} allows 500 per minute$`));
  expectStatus(await chat(inTeam.key, { messages: [{ role: "user", content: "hi" }] }), 200);
});

test("a team's budget makes its keys' requests metered: a body without a cap gets the default one", async () => {
  const pk = await providerKey();
  const team = await createTeam({ budget_usd: 1 });
  const inTeam = await key(pk, team.id);
  const outsider = await key(pk, undefined);
  const uncapped = chatJson("gpt-4o-mini", 20);
  expectStatus(await h.t.call("POST", "/v1/chat/completions", uncapped, { token: outsider.key }), 200);
  expectStatus(await h.t.call("POST", "/v1/chat/completions", uncapped, { token: inTeam.key }), 200);
  const [passed, metered] = h.mock.requests.map((r) => JSON.parse(r.body) as Record<string, unknown>);
  expect(passed?.max_tokens ?? passed?.max_completion_tokens).toBeUndefined();
  expect(metered?.max_tokens ?? metered?.max_completion_tokens).toBe(4096);
  // And an endpoint keyward cannot meter is refused to the team's key, as to a budgeted key.
  const unknown = await h.t.call("POST", "/v1/unknown/endpoint", { model: "gpt-4o-mini" }, { token: inTeam.key });
  expectProxyError(unknown, 403, "endpoint_not_allowed");
});

test("budget: the team's keys spend one budget; the refusal names the team; the team shows spend, reserved, remaining", async () => {
  const pk = await providerKey();
  const team = await createTeam({ budget_usd: 0.0005 });
  const a = await key(pk, team.id);
  const b = await key(pk, team.id);
  // 500 µ$: four requests of 90 µ$ fit (the fifth needs 360 + 219).
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) statuses.push((await chat(i % 2 === 0 ? a.key : b.key)).status);
  expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
  const refused = await chat(a.key);
  expectProxyError(refused, 429, "insufficient_quota");
  expect(refused.json.error.message).toMatch(
    new RegExp(`^Cannot start request: it may cost up to \\$0\\.000\\d+ and team ${team.name} has \\$0\\.00014 of its budget left$`),
  );
  expect(refused.headers.get("x-should-retry")).toBe("false");

  const shown = await getTeam(team.id);
  // A total budget's period is the team's whole life.
  expect(shown).toMatchObject({ spend_usd: 0.00036, reserved_usd: 0, budget_remaining_usd: 0.00014, period_started_at: shown.created_at });
  expect(micros((await getKey(h.t, a.id)).spend_usd) + micros((await getKey(h.t, b.id)).spend_usd)).toBe(4 * COST);
  const listed = await h.t.call("GET", "/api/teams?limit=200");
  expect((listed.json.data as Team[]).find((t) => t.id === team.id)).toEqual(shown);

  // The key's own budget applies within a roomy team.
  const roomy = await createTeam({ budget_usd: 10 });
  const small = await key(pk, roomy.id, { budget_usd: 0.0002 });
  const own = await chat(small.key);
  expectProxyError(own, 429, "insufficient_quota");
  expect(own.json.error.message).toContain("this key has $0.0002 of its budget left");
});

test("disable refuses every key of the team on its next request; enable lets them through again", async () => {
  const pk = await providerKey();
  const team = await createTeam();
  const a = await key(pk, team.id);
  const b = await key(pk, team.id);
  const outsider = await key(pk, undefined);
  // Verified and cached first: the disable must still win on the very next request.
  expectStatus(await chat(a.key), 200);
  expectStatus(await chat(b.key), 200);
  const disabled = await h.t.call("POST", `/api/teams/${team.id}/disable`);
  expectStatus(disabled, 200);
  expect(disabled.json.disabled).toBe(true);
  for (const token of [a.key, b.key]) {
    const refused = await chat(token);
    expectProxyError(refused, 403, "team_disabled");
    expect(refused.json.error.message).toBe(`Cannot forward request: this key's team ${team.name} is disabled; an admin can enable it`);
  }
  expectStatus(await chat(outsider.key), 200);
  expectStatus(await h.t.call("POST", `/api/teams/${team.id}/enable`), 200);
  expectStatus(await chat(a.key), 200);
  expect(h.mock.requests.length).toBe(4);
});

test("a team budget lowered below its spend is accepted, says so, and refuses from the next request", async () => {
  const pk = await providerKey();
  const team = await createTeam({ budget_usd: 1 });
  const a = await key(pk, team.id);
  expectStatus(await chat(a.key), 200);
  expectStatus(await chat(a.key), 200);

  const lowered = await h.t.call("PATCH", `/api/teams/${team.id}`, { budget_usd: 0.0001 });
  expectStatus(lowered, 200);
  expect(lowered.json).toMatchObject({ budget_usd: 0.0001, spend_usd: 0.00018, budget_remaining_usd: -0.00008 });
  expect(lowered.json.warnings).toEqual([
    `budget_usd 0.0001 is at or below what team ${team.name} spent this period ($0.00018): its keys are refused until the budget is raised`,
  ]);
  const refused = await chat(a.key);
  expectProxyError(refused, 429, "insufficient_quota");
  expect(refused.json.error.message).toContain(`team ${team.name} has $0 of its budget left`);

  const raised = await h.t.call("PATCH", `/api/teams/${team.id}`, { budget_usd: 1 });
  expect(raised.json.warnings).toEqual([]);
  expectStatus(await chat(a.key), 200);
});

test("a key moved between teams keeps its own spend; the new team counts from the move; usage follows the current team", async () => {
  const pk = await providerKey();
  const first = await createTeam({ budget_usd: 1 });
  const second = await createTeam({ budget_usd: 1 });
  const moved = await key(pk, first.id, { budget_usd: 1 });
  const stays = await key(pk, first.id);
  expectStatus(await chat(moved.key), 200);
  expectStatus(await chat(moved.key), 200);
  expectStatus(await chat(stays.key), 200);

  const patched = await h.t.call("PATCH", `/api/proxy-keys/${moved.id}`, { team_id: second.id });
  expectStatus(patched, 200);
  expect(patched.json).toMatchObject({ team_id: second.id, spend_usd: 0.00018 });
  expectStatus(await chat(moved.key), 200);
  expect(micros((await getKey(h.t, moved.id)).spend_usd)).toBe(3 * COST);
  expect(micros((await getTeam(first.id)).spend_usd)).toBe(3 * COST);
  expect(micros((await getTeam(second.id)).spend_usd)).toBe(COST);

  // Usage has no team per row: each key's history counts toward its current team.
  const usage = await h.t.call("GET", "/api/usage?group_by=team");
  expectStatus(usage, 200);
  const rows = usage.json.data as Array<{ team_id: string | null; requests: number; cost_usd: number }>;
  expect(rows.find((r) => r.team_id === second.id)).toMatchObject({ requests: 3, cost_usd: 0.00027 });
  expect(rows.find((r) => r.team_id === first.id)).toMatchObject({ requests: 1, cost_usd: 0.00009 });

  // Out of every team: its requests count toward no team's budget.
  expectStatus(await h.t.call("PATCH", `/api/proxy-keys/${moved.id}`, { team_id: null }), 200);
  expectStatus(await chat(moved.key), 200);
  expect(micros((await getTeam(second.id)).spend_usd)).toBe(COST);
  expect(micros((await getKey(h.t, moved.id)).spend_usd)).toBe(4 * COST);
  const after = (await h.t.call("GET", "/api/usage?group_by=team")).json.data as Array<{ team_id: string | null; requests: number }>;
  expect(after.find((r) => r.team_id === second.id)).toBeUndefined();
});
