/**
 * /api/teams and everywhere a key gets a team: create, list, get, PATCH,
 * disable, enable and delete (409 while keys belong to it), validation and
 * audit; `team_id` on proxy-key create and PATCH, on batch mint (JSON and the
 * CSV column), in issuer policies (a keys:issue token mints only into its
 * team) and OIDC trust policies (stored in the claims JSON, never demanded of
 * tokens); and GET /api/usage?group_by=team.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createAdminToken, createProviderKey, createProxyKey, expectError, expectStatus } from "../helpers/admin-fixtures.ts";
import { chatJson } from "../helpers/limits.ts";
import { startOidcIssuer, type OidcIssuer } from "../helpers/oidc-issuer.ts";
import { useProxyHarness } from "../helpers/proxy.ts";

const h = useProxyHarness({ mock: { usage: { input: 200, output: 100 } } });

let counter = 0;
const teamName = () => `team-${++counter}`;

async function createTeam(fields: Record<string, unknown> = {}) {
  const res = await h.t.call("POST", "/api/teams", { name: teamName(), ...fields });
  expectStatus(res, 201);
  return res.json as { id: string; name: string };
}

const auditOf = async (targetId: string) =>
  (
    (await h.t.call("GET", "/api/audit?limit=200")).json.data as Array<{ action: string; target_id: string | null; details: Record<string, unknown> | null }>
  ).filter((r) => r.target_id === targetId);

describe("/api/teams", () => {
  test("create answers the team with its limits, spend and no warnings; get and list show the same", async () => {
    const name = teamName();
    const created = await h.t.call("POST", "/api/teams", {
      name,
      budget_usd: 1000,
      budget_period: "monthly",
      rpm: 600,
      tpm: 1_000_000,
      max_concurrency: 50,
      allowed_models: ["gpt-4o-mini", "gpt-4o-mini"],
      metadata: { cost_centre: "R&D" },
    });
    expectStatus(created, 201);
    expect(created.json).toEqual({
      id: expect.stringMatching(/^tm_[0-9A-Za-z]{12}$/),
      name,
      disabled: false,
      allowed_models: ["gpt-4o-mini"],
      rpm: 600,
      tpm: 1_000_000,
      max_concurrency: 50,
      budget_usd: 1000,
      budget_period: "monthly",
      spend_usd: 0,
      reserved_usd: 0,
      budget_remaining_usd: 1000,
      period_started_at: "2026-01-01T00:00:00.000Z",
      metadata: { cost_centre: "R&D" },
      created_by: expect.any(String),
      created_at: "2026-01-15T12:00:00.000Z",
      updated_at: "2026-01-15T12:00:00.000Z",
      warnings: [],
    });
    const { warnings: _warnings, ...view } = created.json;
    expect((await h.t.call("GET", `/api/teams/${created.json.id}`)).json).toEqual(view);
    const listed = await h.t.call("GET", "/api/teams?limit=200");
    expect(listed.json.data).toContainEqual(view);
    expect((await auditOf(created.json.id)).map((r) => r.action)).toEqual(["team.create"]);
  });

  test("a team without limits; list pages newest first", async () => {
    const teams = [await createTeam(), await createTeam(), await createTeam()];
    const first = await h.t.call("GET", "/api/teams?limit=2");
    expect(first.json.data.map((t: { id: string }) => t.id)).toHaveLength(2);
    expect(first.json.next_cursor).toEqual(expect.any(String));
    const second = await h.t.call("GET", `/api/teams?limit=200&cursor=${first.json.next_cursor}`);
    const all = [...first.json.data, ...second.json.data].map((t: { id: string }) => t.id);
    expect(new Set(all).size).toBe(all.length);
    for (const t of teams) expect(all).toContain(t.id);
    const plain = (await h.t.call("GET", `/api/teams/${teams[0]?.id}`)).json;
    expect(plain).toMatchObject({ budget_usd: null, budget_period: "total", budget_remaining_usd: null, rpm: null, allowed_models: null });
  });

  test("names are unique: a taken name is 409 on create and on rename", async () => {
    const a = await createTeam();
    const b = await createTeam();
    expectError(await h.t.call("POST", "/api/teams", { name: a.name }), 409, "conflict", "name");
    expectError(await h.t.call("PATCH", `/api/teams/${b.id}`, { name: a.name }), 409, "conflict", "name");
    // Keeping its own name is no conflict.
    expectStatus(await h.t.call("PATCH", `/api/teams/${a.id}`, { name: a.name }), 200);
  });

  test("PATCH changes only what it names; null removes a limit", async () => {
    const team = await createTeam({ budget_usd: 10, budget_period: "daily", rpm: 5 });
    const renamed = await h.t.call("PATCH", `/api/teams/${team.id}`, { name: `${team.name}-x`, rpm: null, metadata: { owner: "ops" } });
    expectStatus(renamed, 200);
    expect(renamed.json).toMatchObject({ name: `${team.name}-x`, rpm: null, budget_usd: 10, budget_period: "daily", metadata: { owner: "ops" }, warnings: [] });
    const unbudgeted = await h.t.call("PATCH", `/api/teams/${team.id}`, { budget_usd: null });
    expect(unbudgeted.json).toMatchObject({ budget_usd: null, budget_remaining_usd: null, budget_period: "daily" });
    expect((await auditOf(team.id)).map((r) => [r.action, r.details?.fields])).toContainEqual(["team.update", ["name", "rpm", "metadata"]]);
  });

  test("bad input: 422 naming the field, 404 for unknown teams", async () => {
    expectError(await h.t.call("POST", "/api/teams", {}), 422, "validation_failed", "name");
    expectError(await h.t.call("POST", "/api/teams", { name: "" }), 422, "validation_failed", "name");
    expectError(await h.t.call("POST", "/api/teams", { name: "a\nb" }), 422, "validation_failed", "name");
    expectError(await h.t.call("POST", "/api/teams", { name: teamName(), budget_usd: -1 }), 422, "validation_failed", "budget_usd");
    expectError(await h.t.call("POST", "/api/teams", { name: teamName(), rpm: 0 }), 422, "validation_failed", "rpm");
    expectError(await h.t.call("POST", "/api/teams", { name: teamName(), budget_period: "hourly" }), 422, "validation_failed", "budget_period");
    expectError(await h.t.call("POST", "/api/teams", { name: teamName(), budget: 5 }), 422, "validation_failed", "budget");
    const team = await createTeam();
    expectError(await h.t.call("PATCH", `/api/teams/${team.id}`, {}), 422, "validation_failed");
    for (const [method, path] of [
      ["GET", "/api/teams/tm_missing"],
      ["PATCH", "/api/teams/tm_missing"],
      ["POST", "/api/teams/tm_missing/disable"],
      ["POST", "/api/teams/tm_missing/enable"],
      ["DELETE", "/api/teams/tm_missing"],
    ] as const) {
      expectError(await h.t.call(method, path, method === "PATCH" ? { rpm: 1 } : undefined), 404, "not_found");
    }
  });

  test("disable and enable are idempotent and audited once each", async () => {
    const team = await createTeam();
    expect((await h.t.call("POST", `/api/teams/${team.id}/disable`)).json.disabled).toBe(true);
    expect((await h.t.call("POST", `/api/teams/${team.id}/disable`)).json.disabled).toBe(true);
    expect((await h.t.call("POST", `/api/teams/${team.id}/enable`)).json.disabled).toBe(false);
    expect((await auditOf(team.id)).map((r) => r.action).sort()).toEqual(["team.create", "team.disable", "team.enable"]);
  });

  test("deleting a team that still has keys answers 409, revoked keys included; without keys it goes", async () => {
    const pk = await createProviderKey(h.t, { base_url: h.mock.baseUrl });
    const team = await createTeam({ budget_usd: 1 });
    const a = await createProxyKey(h.t, pk.id, { team_id: team.id });
    const b = await createProxyKey(h.t, pk.id, { team_id: team.id });
    expectStatus(await h.t.call("POST", `/api/proxy-keys/${b.id}/revoke`), 200);
    // Spend gives the team a ceiling on file: it goes with the team.
    expectStatus(await h.t.call("POST", "/v1/chat/completions", chatJson("gpt-4o-mini", 100, { max_tokens: 10 }), { token: a.key }), 200);
    const refused = await h.t.call("DELETE", `/api/teams/${team.id}`);
    expectError(refused, 409, "conflict");
    expect(refused.json.error.message).toContain("2 proxy keys belong to it");
    expect(refused.json.error.message).toContain("move them");
    expectStatus(await h.t.call("PATCH", `/api/proxy-keys/${a.id}`, { team_id: null }), 200);
    expectError(await h.t.call("DELETE", `/api/teams/${team.id}`), 409, "conflict");
    expectStatus(await h.t.call("DELETE", `/api/proxy-keys/${b.id}`), 200);
    const deleted = await h.t.call("DELETE", `/api/teams/${team.id}`);
    expectStatus(deleted, 200);
    expect(deleted.json).toEqual({ deleted: true, id: team.id });
    expectError(await h.t.call("GET", `/api/teams/${team.id}`), 404, "not_found");
    expect(h.t.store.teams.byId(team.id)).toBeUndefined();
    // The key that left keeps working, in no team.
    expectStatus(await h.t.call("POST", "/v1/chat/completions", chatJson("gpt-4o-mini", 100, { max_tokens: 10 }), { token: a.key }), 200);
  });
});

describe("team_id on proxy keys", () => {
  test("set on create, shown on the key, changed or cleared by PATCH; an unknown team is 404 on team_id", async () => {
    const pk = await createProviderKey(h.t, { base_url: h.mock.baseUrl });
    const team = await createTeam();
    const other = await createTeam();
    const created = await h.t.call("POST", "/api/proxy-keys", { name: "in-team", provider_key_id: pk.id, team_id: team.id });
    expectStatus(created, 201);
    expect(created.json.team_id).toBe(team.id);
    expect((await h.t.call("GET", `/api/proxy-keys/${created.json.id}`)).json.team_id).toBe(team.id);
    expect((await h.t.call("PATCH", `/api/proxy-keys/${created.json.id}`, { team_id: other.id })).json.team_id).toBe(other.id);
    expect((await h.t.call("PATCH", `/api/proxy-keys/${created.json.id}`, { team_id: null })).json.team_id).toBeNull();
    expectError(await h.t.call("PATCH", `/api/proxy-keys/${created.json.id}`, { team_id: "tm_missing" }), 404, "not_found", "team_id");
    expect((await h.t.call("GET", `/api/proxy-keys/${created.json.id}`)).json.team_id).toBeNull();
    expectError(await h.t.call("POST", "/api/proxy-keys", { name: "x", provider_key_id: pk.id, team_id: "tm_missing" }), 404, "not_found", "team_id");
    const plain = await createProxyKey(h.t, pk.id);
    expect((await h.t.call("GET", `/api/proxy-keys/${plain.id}`)).json.team_id).toBeNull();
  });

  test("batch mint takes team_id: every key joins the team, and the CSV carries the column", async () => {
    const pk = await createProviderKey(h.t, { base_url: h.mock.baseUrl });
    const team = await createTeam({ budget_usd: 100 });
    const json = await h.t.call("POST", "/api/proxy-keys/batch", { count: 3, name_prefix: "ev", provider_key_id: pk.id, team_id: team.id });
    expectStatus(json, 201);
    expect((json.json.data as Array<{ team_id: string }>).map((k) => k.team_id)).toEqual([team.id, team.id, team.id]);
    const csv = await h.t.call(
      "POST",
      "/api/proxy-keys/batch",
      { count: 2, name_prefix: "csv", provider_key_id: pk.id, team_id: team.id },
      { headers: { accept: "text/csv" } },
    );
    expectStatus(csv, 201);
    const [header, ...rows] = csv.text.trim().split("\r\n");
    expect(header).toBe("name,key,id,expires_at,budget_usd,budget_period,rpm,team_id");
    expect(rows.map((r) => r.split(",").at(-1))).toEqual([team.id, team.id]);
    // All or nothing: an unknown team mints no key.
    const before = (await h.t.call("GET", "/api/proxy-keys?limit=200")).json.data.length;
    expectError(
      await h.t.call("POST", "/api/proxy-keys/batch", { count: 2, name_prefix: "no", provider_key_id: pk.id, team_id: "tm_missing" }),
      404,
      "not_found",
      "team_id",
    );
    expect((await h.t.call("GET", "/api/proxy-keys?limit=200")).json.data.length).toBe(before);
    // The keys work, and their spend is the team's.
    const key = (json.json.data as Array<{ key: string }>)[0]?.key as string;
    expectStatus(await h.t.call("POST", "/v1/chat/completions", chatJson("gpt-4o-mini", 100, { max_tokens: 10 }), { token: key }), 200);
    expect((await h.t.call("GET", `/api/teams/${team.id}`)).json.spend_usd).toBe(0.00009);
  });
});

describe("issuer policies and trust policies", () => {
  let idp: OidcIssuer;
  beforeAll(async () => {
    idp = await startOidcIssuer();
  });
  afterAll(() => idp.stop());

  test("a keys:issue token whose policy names a team mints into that team only", async () => {
    const pk = await createProviderKey(h.t, { base_url: h.mock.baseUrl });
    const team = await createTeam({ budget_usd: 5 });
    const other = await createTeam();
    expectError(
      await h.t.call("POST", "/api/admin-tokens", {
        name: "ci",
        scopes: ["keys:issue"],
        policy: { provider_key_ids: [pk.id], max_ttl_seconds: 600, max_budget_usd: 1, team_id: "tm_missing" },
      }),
      404,
      "not_found",
      "policy.team_id",
    );
    const issuer = await createAdminToken(h.t, ["keys:issue"], {
      policy: { provider_key_ids: [pk.id], max_ttl_seconds: 600, max_budget_usd: 1, team_id: team.id },
    });
    const listed = (await h.t.call("GET", "/api/admin-tokens?limit=200")).json.data as Array<{ id: string; policy: { team_id?: string } | null }>;
    expect(listed.find((t) => t.id === issuer.id)?.policy?.team_id).toBe(team.id);

    const minted = await h.t.call("POST", "/api/proxy-keys", { provider_key: pk.id }, { token: issuer.token });
    expectStatus(minted, 201);
    expect(minted.json.team_id).toBe(team.id);
    expectStatus(await h.t.call("POST", "/api/proxy-keys", { provider_key: pk.id, team_id: team.id }, { token: issuer.token }), 201);
    const elsewhere = await h.t.call("POST", "/api/proxy-keys", { provider_key: pk.id, team_id: other.id }, { token: issuer.token });
    expectError(elsewhere, 403, "forbidden", "team_id");
    expect(elsewhere.json.error.message).toContain(`is not this token's team ${team.id}`);

    // A policy without a team lets its issuer choose none.
    const teamless = await createAdminToken(h.t, ["keys:issue"], { policy: { provider_key_ids: [pk.id], max_ttl_seconds: 600, max_budget_usd: 1 } });
    const chosen = await h.t.call("POST", "/api/proxy-keys", { provider_key: pk.id, team_id: team.id }, { token: teamless.token });
    expectError(chosen, 403, "forbidden", "team_id");
    expect(chosen.json.error.message).toContain("names no team");
    expect((await h.t.call("POST", "/api/proxy-keys", { provider_key: pk.id }, { token: teamless.token })).json.team_id).toBeNull();
  });

  test("a trust policy's team_id is stored with it, never demanded of tokens, and every key it mints joins the team", async () => {
    const pk = await createProviderKey(h.t, { base_url: h.mock.baseUrl });
    const team = await createTeam({ budget_usd: 5 });
    const body = {
      name: `tp-${++counter}`,
      issuer: idp.issuer,
      audience: "keyward-test",
      claims: { repository: ["acme/api"] },
      provider_key_id: pk.id,
      ttl_seconds: 600,
      budget_usd: 1,
    };
    expectError(await h.t.call("POST", "/api/oidc/trust-policies", { ...body, team_id: "tm_missing" }), 404, "not_found", "team_id");
    const policy = await h.t.call("POST", "/api/oidc/trust-policies", { ...body, team_id: team.id });
    expectStatus(policy, 201);
    expect(policy.json).toMatchObject({ team_id: team.id, claims: { repository: ["acme/api"] } });
    expect((await h.t.call("GET", `/api/oidc/trust-policies/${policy.json.id}`)).json.team_id).toBe(team.id);

    const jwt = await idp.token({ now: Math.floor(h.clock.now() / 1000) });
    const exchanged = await h.t.call("POST", "/api/oidc/exchange", undefined, { token: jwt });
    expectStatus(exchanged, 201);
    expect(exchanged.json.team_id).toBe(team.id);
    expectStatus(await h.t.call("POST", "/v1/chat/completions", chatJson("gpt-4o-mini", 100, { max_tokens: 10 }), { token: exchanged.json.key }), 200);
    expect((await h.t.call("GET", `/api/teams/${team.id}`)).json.spend_usd).toBe(0.00009);

    // A policy without a team shows null and mints keys in none.
    const plain = await h.t.call("POST", "/api/oidc/trust-policies", { ...body, name: `tp-${++counter}`, audience: "other" });
    expect(plain.json.team_id).toBeNull();
  });
});

test("GET /api/usage?group_by=team sums each team's keys; keys without a team sum under null", async () => {
  const pk = await createProviderKey(h.t, { base_url: h.mock.baseUrl });
  const a = await createTeam();
  const b = await createTeam();
  const keys = [
    await createProxyKey(h.t, pk.id, { team_id: a.id }),
    await createProxyKey(h.t, pk.id, { team_id: a.id }),
    await createProxyKey(h.t, pk.id, { team_id: b.id }),
  ];
  const before = (await h.t.call("GET", "/api/usage?group_by=team")).json.data as Array<{ team_id: string | null; requests: number }>;
  const noneBefore = before.find((r) => r.team_id === null)?.requests ?? 0;
  const loose = await createProxyKey(h.t, pk.id);
  for (const k of [...keys, keys[0], loose]) {
    expectStatus(await h.t.call("POST", "/v1/chat/completions", chatJson("gpt-4o-mini", 100, { max_tokens: 10 }), { token: k?.key ?? "" }), 200);
  }
  const usage = await h.t.call("GET", "/api/usage?group_by=team");
  expectStatus(usage, 200);
  const rows = usage.json.data as Array<Record<string, unknown> & { team_id: string | null; requests: number }>;
  expect(rows.find((r) => r.team_id === a.id)).toEqual({
    team_id: a.id,
    requests: 3,
    errors: 0,
    input_tokens: 600,
    output_tokens: 300,
    cached_tokens: 0,
    cost_usd: 0.00027,
    overrun_usd: 0,
  });
  expect(rows.find((r) => r.team_id === b.id)).toMatchObject({ requests: 1, cost_usd: 0.00009 });
  expect(rows.find((r) => r.team_id === null)?.requests).toBe(noneBefore + 1);
});
