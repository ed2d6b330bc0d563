/**
 * `GET /v1/key`: a key holder's own balance, answered by keyward itself. It
 * authenticates like a proxied request (every credential header, the same
 * refusals), shows the key's own figures (the same as the admin API's) and
 * nothing of another key or any secret, is never forwarded, and costs
 * nothing: no spend, no request-log row, no rpm.
 */
import { describe, expect, test } from "bun:test";
import { parseKey } from "../../src/vault/key-format.ts";
import { allLogs, chatJson, getKey, micros, postV1, waitSettled } from "../helpers/limits.ts";
import { createKeyPair, expectProxyError, fetchText, type KeyPair, useProxyHarness } from "../helpers/proxy.ts";

// Every answer reports 100 in, 50 out: gpt-4o-mini costs 15 + 30 = 45 µ$.
const h = useProxyHarness({ mock: { usage: { input: 100, output: 50 } } });

const getInfo = (headers: Record<string, string>, method = "GET", path = "/key") => fetchText(`${h.baseUrl}${path}`, { method, headers });
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

async function chat(keys: KeyPair): Promise<void> {
  const res = await postV1(h.baseUrl, keys.proxyKey, "/chat/completions", chatJson("gpt-4o-mini", 100, { max_tokens: 100 }));
  const text = await res.text();
  if (res.status !== 200) throw new Error(`expected 200, got ${res.status}: ${text}`);
}

const LIMITED = { budget_usd: 2, budget_period: "daily", rpm: 50, tpm: 100_000, max_concurrency: 3, allowed_models: ["gpt-4o-mini"] };

describe("GET /v1/key", () => {
  for (const [name, header] of [
    ["Authorization: Bearer", (key: string) => ({ authorization: `Bearer ${key}` })],
    ["x-api-key", (key: string) => ({ "x-api-key": key })],
    ["api-key", (key: string) => ({ "api-key": key })],
    ["x-goog-api-key", (key: string) => ({ "x-goog-api-key": key })],
  ] as const) {
    test(`answers with the key in ${name}, and is never forwarded`, async () => {
      const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl });
      const res = await getInfo(header(keys.proxyKey));
      if (res.status !== 200) throw new Error(`expected 200, got ${res.status}: ${res.text}`);
      expect(res.headers.get("content-type")).toContain("application/json");
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(res.headers.get("x-keyward-request-id")).toBeTruthy();
      expect(JSON.parse(res.text).id).toBe(keys.proxyKeyId);
      expect(h.mock.requests).toHaveLength(0);
    });
  }

  test("shows the key's limits, expiry and budget: the figures GET /api/proxy-keys/{id} shows", async () => {
    const keys = await createKeyPair(h.t, {
      base_url: h.mock.baseUrl,
      proxy: { ...LIMITED, ttl_seconds: 86_400, unbounded_reservation_usd: 0.5, metadata: { owner: "alice@example.com" } },
    });
    await chat(keys);
    await chat(keys);
    await waitSettled(h.t);
    const res = await getInfo(bearer(keys.proxyKey));
    expect(res.status).toBe(200);
    const info = JSON.parse(res.text);
    const admin = (await h.t.call("GET", `/api/proxy-keys/${keys.proxyKeyId}`)).json;
    expect(info).toEqual({
      id: keys.proxyKeyId,
      name: admin.name,
      expires_at: new Date(h.clock.now() + 86_400_000).toISOString(),
      limits: { allowed_models: ["gpt-4o-mini"], rpm: 50, tpm: 100_000, max_concurrency: 3, unbounded_reservation_usd: 0.5 },
      budget: {
        budget_usd: 2,
        budget_period: "daily",
        spend_usd: admin.spend_usd,
        reserved_usd: admin.reserved_usd,
        remaining_usd: admin.budget_remaining_usd,
        period_started_at: admin.period_started_at,
      },
      team: null,
    });
    expect(micros(info.budget.spend_usd)).toBe(90);
    expect(micros(info.budget.remaining_usd)).toBe(2_000_000 - 90);
    expect(info.budget.period_started_at).toBe("2026-01-15T00:00:00.000Z");
    // The key's rate figures come with it, as with every answer to a limited key.
    expect(res.headers.get("x-keyward-ratelimit-limit-requests")).toBe("50");
  });

  test("a key without limits shows nulls and a total budget period that started with the key", async () => {
    const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl });
    const info = JSON.parse((await getInfo(bearer(keys.proxyKey))).text);
    expect(info.expires_at).toBeNull();
    expect(info.limits).toEqual({ allowed_models: null, rpm: null, tpm: null, max_concurrency: null, unbounded_reservation_usd: null });
    expect(info.budget).toEqual({
      budget_usd: null,
      budget_period: "total",
      spend_usd: 0,
      reserved_usd: 0,
      remaining_usd: null,
      period_started_at: new Date(h.clock.now()).toISOString(),
    });
  });

  test("shows only the key's own data: no other key's, no secret, no hash, nothing only admins see", async () => {
    const mine = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { ...LIMITED, metadata: { owner: "alice@example.com" } } });
    // Another key on the same provider key, which has spent.
    const other = await h.t.call("POST", "/api/proxy-keys", { name: "bob-secret-project", provider_key_id: mine.providerKeyId, budget_usd: 7 });
    const otherKeys = { ...mine, proxyKey: other.json.key as string, proxyKeyId: other.json.id as string };
    await chat(otherKeys);
    await waitSettled(h.t);
    const res = await getInfo(bearer(mine.proxyKey));
    expect(res.status).toBe(200);
    const info = JSON.parse(res.text);
    expect(info.budget.spend_usd).toBe(0);
    const row = h.t.store.proxyKeys.byId(mine.proxyKeyId)!;
    const forbidden = [
      mine.proxyKey,
      parseKey("proxy", mine.proxyKey)!.secret,
      row.secretHash,
      row.keyHint,
      mine.providerSecret,
      mine.providerKeyId,
      "alice@example.com",
      otherKeys.proxyKey,
      otherKeys.proxyKeyId,
      "bob-secret-project",
      h.t.rootToken,
    ];
    for (const text of forbidden) expect(res.text).not.toContain(text);
    for (const value of Object.values(Object.fromEntries(res.headers))) {
      for (const text of forbidden) expect(value).not.toContain(text);
    }
    expect(Object.keys(info).sort()).toEqual(["budget", "expires_at", "id", "limits", "name", "team"]);
  });

  test("is not charged, writes no request-log row and takes nothing of rpm or budget", async () => {
    const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { rpm: 2, budget_usd: 1 } });
    for (let i = 0; i < 5; i++) expect((await getInfo(bearer(keys.proxyKey))).status).toBe(200);
    // The log routes flush first, so anything written for these reads would be listed.
    expect(await allLogs(h.t, `proxy_key_id=${keys.proxyKeyId}`)).toEqual([]);
    expect((await getKey(h.t, keys.proxyKeyId)).spend_usd).toBe(0);
    // Five balance reads left the two requests a minute whole.
    await chat(keys);
    await chat(keys);
    expect(h.mock.requests).toHaveLength(2);
  });

  test("refused like a proxied request: no key, a wrong secret, revoked, expired, a disabled provider key", async () => {
    const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { ttl_seconds: 60 } });
    expect(expectProxyError(await getInfo({}), 401, "invalid_api_key").error.message).toContain("no key given");
    const flipped = keys.proxyKey.slice(0, -1) + (keys.proxyKey.endsWith("A") ? "B" : "A");
    expectProxyError(await getInfo(bearer(flipped)), 401, "invalid_api_key");
    expect((await getInfo(bearer(keys.proxyKey))).status).toBe(200);

    expect((await h.t.call("PATCH", `/api/provider-keys/${keys.providerKeyId}`, { disabled: true })).status).toBe(200);
    expectProxyError(await getInfo(bearer(keys.proxyKey)), 403, "provider_key_disabled");
    expect((await h.t.call("PATCH", `/api/provider-keys/${keys.providerKeyId}`, { disabled: false })).status).toBe(200);

    h.clock.advance(60_000);
    expect(expectProxyError(await getInfo(bearer(keys.proxyKey)), 401, "invalid_api_key").error.message).toContain("expired");

    const revoked = await createKeyPair(h.t, { base_url: h.mock.baseUrl });
    expect((await getInfo(bearer(revoked.proxyKey))).status).toBe(200);
    expect((await h.t.call("POST", `/api/proxy-keys/${revoked.proxyKeyId}/revoke`, {})).status).toBe(200);
    expect(expectProxyError(await getInfo(bearer(revoked.proxyKey)), 401, "invalid_api_key").error.message).toContain("revoked");
    expect(h.mock.requests).toHaveLength(0);
  });

  test("other methods are 405 in OpenAI's shape, with Allow: GET, and never forwarded", async () => {
    const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl });
    for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
      const res = await getInfo(bearer(keys.proxyKey), method);
      const body = expectProxyError(res, 405, "method_not_allowed");
      expect(body.error.type).toBe("invalid_request_error");
      expect(res.headers.get("allow")).toBe("GET");
    }
    expect(h.mock.requests).toHaveLength(0);
  });

  test("only /v1/key itself is keyward's: a query is ignored, longer paths are forwarded", async () => {
    const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl });
    const withQuery = await getInfo(bearer(keys.proxyKey), "GET", "/key?verbose=1");
    expect(withQuery.status).toBe(200);
    expect(JSON.parse(withQuery.text).id).toBe(keys.proxyKeyId);
    expect(h.mock.requests).toHaveLength(0);
    await getInfo(bearer(keys.proxyKey), "GET", "/keys");
    await getInfo(bearer(keys.proxyKey), "GET", "/key/1");
    expect(h.mock.requests.map((r) => r.path)).toEqual(["/v1/keys", "/v1/key/1"]);
  });
  test("a key of a team shows the team's limits and budget, the figures GET /api/teams/{id} shows, and no other key", async () => {
    const created = await h.t.call("POST", "/api/teams", { name: `team-${crypto.randomUUID()}`, budget_usd: 10, budget_period: "weekly", rpm: 600 });
    if (created.status !== 201) throw new Error(`cannot create team: ${created.status} ${created.text}`);
    const teamId: string = created.json.id;
    const mine = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { team_id: teamId } });
    const other = await h.t.call("POST", "/api/proxy-keys", { name: "teammate-bob", provider_key_id: mine.providerKeyId, team_id: teamId });
    const teammate = { ...mine, proxyKey: other.json.key as string, proxyKeyId: other.json.id as string };
    await chat(mine);
    await chat(teammate);
    await waitSettled(h.t);
    const res = await getInfo(bearer(mine.proxyKey));
    expect(res.status).toBe(200);
    const info = JSON.parse(res.text);
    const team = (await h.t.call("GET", `/api/teams/${teamId}`)).json;
    expect(info.team).toEqual({
      id: teamId,
      name: team.name,
      limits: { allowed_models: null, rpm: 600, tpm: null, max_concurrency: null },
      budget: {
        budget_usd: 10,
        budget_period: "weekly",
        spend_usd: team.spend_usd,
        reserved_usd: team.reserved_usd,
        remaining_usd: team.budget_remaining_usd,
        period_started_at: team.period_started_at,
      },
    });
    // The team's spend is both keys'; the key's own is its own.
    expect(micros(info.team.budget.spend_usd)).toBe(90);
    expect(micros(info.budget.spend_usd)).toBe(45);
    for (const text of [teammate.proxyKey, teammate.proxyKeyId, "teammate-bob"]) expect(res.text).not.toContain(text);
  });
});
