import { beforeEach, describe, expect, test } from "bun:test";
import { generateKey, parseKey } from "../../src/vault/key-format.ts";
import type { TestApp } from "../helpers/app.ts";
import { createAdminToken, createProviderKey, createProxyKey, expectError, expectStatus, useApp } from "../helpers/admin-fixtures.ts";

interface Fixture {
  providerKeyId: string;
  proxyKeyId: string;
  proxyKey: string;
  adminTokenId: string;
  trustPolicyId: string;
  teamId: string;
  webhookId: string;
}

interface Route {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** OpenAPI path; its one `{param}` is filled by `id`. */
  path: string;
  scope: "read" | "admin";
  body?: (f: Fixture) => unknown;
  id?: (f: Fixture) => string;
  /** Query parameters the route requires, without `?`. */
  query?: string;
}

/** Every /api operation; the OpenAPI check below fails when a route is missing here. */
const ROUTES: Route[] = [
  { method: "POST", path: "/api/provider-keys", scope: "admin", body: () => ({ name: "new", provider: "openai", key: "sk-abcdefghijklmnop" }) },
  { method: "GET", path: "/api/provider-keys", scope: "read" },
  { method: "GET", path: "/api/provider-keys/{id}", scope: "read", id: (f) => f.providerKeyId },
  { method: "PATCH", path: "/api/provider-keys/{id}", scope: "admin", id: (f) => f.providerKeyId, body: () => ({ name: "renamed" }) },
  // `{}` bodies on body-less routes keep these checks about auth only (see bad-input.test.ts).
  { method: "DELETE", path: "/api/provider-keys/{id}", scope: "admin", id: (f) => f.providerKeyId, body: () => ({}) },
  { method: "POST", path: "/api/proxy-keys", scope: "admin", body: (f) => ({ name: "new", provider_key_id: f.providerKeyId }) },
  { method: "POST", path: "/api/proxy-keys/batch", scope: "admin", body: (f) => ({ count: 1, name_prefix: "b", provider_key_id: f.providerKeyId }) },
  { method: "GET", path: "/api/proxy-keys", scope: "read" },
  { method: "GET", path: "/api/proxy-keys/{id}", scope: "read", id: (f) => f.proxyKeyId },
  { method: "PATCH", path: "/api/proxy-keys/{id}", scope: "admin", id: (f) => f.proxyKeyId, body: () => ({ name: "renamed" }) },
  // Before the revoke: a revoked key cannot be rotated.
  { method: "POST", path: "/api/proxy-keys/{id}/rotate", scope: "admin", id: (f) => f.proxyKeyId, body: () => ({ grace_seconds: 60 }) },
  { method: "POST", path: "/api/proxy-keys/{id}/revoke", scope: "admin", id: (f) => f.proxyKeyId, body: () => ({}) },
  { method: "DELETE", path: "/api/proxy-keys/{id}", scope: "admin", id: (f) => f.proxyKeyId, body: () => ({}) },
  { method: "POST", path: "/api/admin-tokens", scope: "admin", body: () => ({ name: "new", scopes: ["admin"] }) },
  { method: "GET", path: "/api/admin-tokens", scope: "read" },
  // Any scope may call it (keys:issue too: see below); "read" is the least it needs.
  { method: "GET", path: "/api/admin-tokens/self", scope: "read" },
  { method: "POST", path: "/api/admin-tokens/{id}/revoke", scope: "admin", id: (f) => f.adminTokenId, body: () => ({}) },
  { method: "GET", path: "/api/audit", scope: "read" },
  { method: "GET", path: "/api/stored-objects", scope: "read" },
  { method: "GET", path: "/api/prices", scope: "read" },
  { method: "PUT", path: "/api/prices/{model}", scope: "admin", id: () => "test-model", body: () => ({ input_per_million_usd: 1, output_per_million_usd: 2 }) },
  { method: "DELETE", path: "/api/prices/{model}", scope: "admin", id: () => "test-model", body: () => ({}) },
  { method: "GET", path: "/api/usage", scope: "read", query: "group_by=model" },
  { method: "GET", path: "/api/logs", scope: "read" },
  { method: "POST", path: "/api/oidc/trust-policies", scope: "admin", body: (f) => trustPolicyBody("new-tp", f.providerKeyId) },
  { method: "GET", path: "/api/oidc/trust-policies", scope: "admin" },
  { method: "GET", path: "/api/oidc/trust-policies/{id}", scope: "admin", id: (f) => f.trustPolicyId },
  { method: "DELETE", path: "/api/oidc/trust-policies/{id}", scope: "admin", id: (f) => f.trustPolicyId, body: () => ({}) },
  // Port 9 refuses at once: the deliveries these routes queue fail fast, and never leave the host.
  { method: "POST", path: "/api/webhooks", scope: "admin", body: () => ({ url: "https://127.0.0.1:9/new", events: ["key.revoked"] }) },
  { method: "GET", path: "/api/webhooks", scope: "read" },
  { method: "GET", path: "/api/webhooks/{id}", scope: "read", id: (f) => f.webhookId },
  { method: "POST", path: "/api/webhooks/{id}/test", scope: "admin", id: (f) => f.webhookId, body: () => ({}) },
  { method: "GET", path: "/api/webhooks/{id}/deliveries", scope: "read", id: (f) => f.webhookId },
  // After the webhook's other routes, which need it.
  { method: "DELETE", path: "/api/webhooks/{id}", scope: "admin", id: (f) => f.webhookId, body: () => ({}) },
  { method: "POST", path: "/api/teams", scope: "admin", body: () => ({ name: "new-team", budget_usd: 10 }) },
  { method: "GET", path: "/api/teams", scope: "read" },
  { method: "GET", path: "/api/teams/{id}", scope: "read", id: (f) => f.teamId },
  { method: "PATCH", path: "/api/teams/{id}", scope: "admin", id: (f) => f.teamId, body: () => ({ name: "renamed-team" }) },
  { method: "POST", path: "/api/teams/{id}/disable", scope: "admin", id: (f) => f.teamId, body: () => ({}) },
  { method: "POST", path: "/api/teams/{id}/enable", scope: "admin", id: (f) => f.teamId, body: () => ({}) },
  { method: "DELETE", path: "/api/teams/{id}", scope: "admin", id: (f) => f.teamId, body: () => ({}) },
];

/**
 * Not in ROUTES: authenticated by a CI's OIDC ID token instead of an admin
 * token (its own refusals are in oidc-exchange.test.ts).
 */
const OIDC_EXCHANGE = "POST /api/oidc/exchange";

function trustPolicyBody(name: string, providerKeyId: string) {
  return {
    name,
    issuer: "https://token.actions.githubusercontent.com",
    audience: "keyward",
    claims: { repository: ["acme/api"] },
    provider_key_id: providerKeyId,
    ttl_seconds: 600,
    budget_usd: 1,
  };
}

const label = (r: Route) => `${r.method} ${r.path}`;

function pathOf(route: Route, f: Fixture, extraQuery?: string): string {
  const path = route.path.replace(/\{\w+\}/, route.id ? route.id(f) : "");
  const query = [route.query, extraQuery].filter(Boolean).join("&");
  return query ? `${path}?${query}` : path;
}

function send(app: TestApp, f: Fixture, route: Route, opts: { token?: string | null; headers?: Record<string, string>; query?: string } = {}) {
  return app.call(route.method, pathOf(route, f, opts.query), route.body?.(f), { token: opts.token, headers: opts.headers });
}

describe("admin API authentication", () => {
  const app = useApp();
  let f: Fixture;
  let auditRows: number;

  beforeEach(async () => {
    const pk = await createProviderKey(app());
    const proxy = await createProxyKey(app(), pk.id);
    const other = await createAdminToken(app(), ["admin"]);
    const policy = await app().call("POST", "/api/oidc/trust-policies", trustPolicyBody("tp", pk.id));
    expectStatus(policy, 201);
    const team = await app().call("POST", "/api/teams", { name: "team" });
    expectStatus(team, 201);
    const webhook = await app().call("POST", "/api/webhooks", { url: "https://127.0.0.1:9/hook", events: ["key.revoked"] });
    expectStatus(webhook, 201);
    f = {
      providerKeyId: pk.id,
      proxyKeyId: proxy.id,
      proxyKey: proxy.key,
      adminTokenId: other.id,
      trustPolicyId: policy.json.id,
      teamId: team.json.id,
      webhookId: webhook.json.id,
    };
    auditRows = app().store.audit.page({ limit: 1000 }).length;
  });

  /** Nothing a refused request did may show up in the audit log (every change writes one row). */
  function expectNoChange(): void {
    expect(app().store.audit.page({ limit: 1000 })).toHaveLength(auditRows);
    expect(app().store.providerKeys.byId(f.providerKeyId)?.name).toBeDefined();
    expect(app().store.proxyKeys.byId(f.proxyKeyId)?.revokedAt).toBeNull();
    expect(app().store.adminTokens.byId(f.adminTokenId)?.revokedAt).toBeNull();
    expect(app().store.trustPolicies.byId(f.trustPolicyId)).toBeDefined();
    expect(app().store.teams.byId(f.teamId)?.disabled).toBe(false);
    expect(app().store.webhooks.byId(f.webhookId)).toBeDefined();
    expect(app().store.webhookOutbox.pending()).toBe(0);
  }

  test("the route table covers every /api operation in the OpenAPI spec", async () => {
    const spec = await app().call("GET", "/docs/json", undefined, { token: null });
    const operations: string[] = [];
    for (const [path, item] of Object.entries(spec.json.paths as Record<string, Record<string, unknown>>)) {
      if (!path.startsWith("/api/")) continue;
      for (const method of Object.keys(item)) operations.push(`${method.toUpperCase()} ${path}`);
    }
    expect(operations).toContain(OIDC_EXCHANGE);
    expect(operations.filter((o) => o !== OIDC_EXCHANGE).sort()).toEqual(ROUTES.map(label).sort());
  });

  test("the root token works on every route (the refusals below are about the credential)", async () => {
    // Deleting the provider key (with its proxy key) goes last, so the other routes still find theirs.
    const isProviderDelete = (r: Route) => r.method === "DELETE" && r.path === "/api/provider-keys/{id}";
    const ordered = [...ROUTES.filter((r) => !isProviderDelete(r)), ...ROUTES.filter(isProviderDelete)];
    for (const route of ordered) {
      if (isProviderDelete(route)) {
        // A provider key named by trust policies cannot go; the POST above made a second one.
        for (const policy of (await app().call("GET", "/api/oidc/trust-policies")).json.data as Array<{ id: string }>) {
          expectStatus(await app().call("DELETE", `/api/oidc/trust-policies/${policy.id}`), 200);
        }
      }
      const res = await send(app(), f, route, { query: isProviderDelete(route) ? "cascade=true" : undefined });
      if (res.status >= 300) throw new Error(`${label(route)}: ${res.status} ${res.text}`);
    }
  });

  test("no token: 401 on every route", async () => {
    for (const route of ROUTES) {
      const res = await send(app(), f, route, { token: null });
      expectError(res, 401, "unauthorized");
      expect(res.json.error.message).toContain("Authorization: Bearer");
    }
    expectNoChange();
  });

  test("no token and an invalid body: still 401, not a validation report", async () => {
    for (const route of ROUTES.filter((r) => r.body)) {
      const res = await app().call(route.method, pathOf(route, f), { unexpected: "x".repeat(300) }, { token: null });
      expectError(res, 401, "unauthorized");
    }
    const res = await app().call("GET", "/api/provider-keys?limit=0", undefined, { token: null });
    expectError(res, 401, "unauthorized");
  });

  test("malformed credentials: 401 on every route", async () => {
    const root = parseKey("admin", app().rootToken)!;
    const flipped = app().rootToken.slice(0, -1) + (app().rootToken.endsWith("A") ? "B" : "A");
    const headers = [
      "Bearer",
      "Bearer ",
      "Bearer kwa_short",
      `Bearer ${flipped}`,
      `Bearer ${app().rootToken.slice(0, -1)}`,
      `Bearer ${app().rootToken}x`,
      `Basic ${btoa(`admin:${app().rootToken}`)}`,
      app().rootToken,
      `Token ${app().rootToken}`,
      `Bearer ${root.secret}`,
      `Bearer ${app().rootToken} extra`,
    ];
    for (const route of ROUTES) {
      for (const authorization of headers) {
        const res = await send(app(), f, route, { token: null, headers: { authorization } });
        expectError(res, 401, "unauthorized");
      }
    }
    expectNoChange();
  });

  test("a well-formed kwa_ token with an unknown id: 401", async () => {
    const stranger = generateKey("admin").token;
    for (const route of ROUTES) expectError(await send(app(), f, route, { token: stranger }), 401, "unauthorized");
    expectNoChange();
  });

  test("the right id with a wrong secret: 401", async () => {
    const root = parseKey("admin", app().rootToken)!;
    const wrong = generateKey("admin", root.id).token;
    expect(wrong).not.toBe(app().rootToken);
    for (const route of ROUTES) {
      const res = await send(app(), f, route, { token: wrong });
      expectError(res, 401, "unauthorized");
      expect(res.json.error.message).toBe("Cannot authenticate: admin token is invalid");
    }
    expectNoChange();
  });

  test("a proxy key (kwp_) is refused with a message saying so", async () => {
    expect(f.proxyKey.startsWith("kwp_")).toBe(true);
    for (const route of ROUTES) {
      const res = await send(app(), f, route, { token: f.proxyKey });
      expectError(res, 401, "unauthorized");
      expect(res.json.error.message).toContain("proxy keys (kwp_) cannot call the admin API");
    }
    expectNoChange();
  });

  test("a token in the query string is not accepted", async () => {
    const token = encodeURIComponent(app().rootToken);
    for (const route of ROUTES) {
      for (const name of ["token", "access_token", "api_key", "key", "authorization"]) {
        const res = await send(app(), f, route, { token: null, query: `${name}=${token}` });
        expectError(res, 401, "unauthorized");
      }
    }
    expectNoChange();
  });

  test("the scheme name is case-insensitive", async () => {
    const res = await app().call("GET", "/api/provider-keys", undefined, {
      token: null,
      headers: { authorization: `bearer ${app().rootToken}` },
    });
    expectStatus(res, 200);
  });

  test("a read token can GET every read route and gets 403 on every write", async () => {
    const reader = await createAdminToken(app(), ["read"]);
    auditRows = app().store.audit.page({ limit: 1000 }).length;
    for (const route of ROUTES) {
      const res = await send(app(), f, route, { token: reader.token });
      if (route.scope === "read") {
        if (res.status !== 200) throw new Error(`${label(route)}: ${res.status} ${res.text}`);
      } else {
        expectError(res, 403, "forbidden");
        expect(res.json.error.message).toContain("admin scope");
      }
    }
    expectNoChange();
  });

  test("a keys:issue token mints within its policy and gets 403 on every other route", async () => {
    const issuer = await createAdminToken(app(), ["keys:issue"], {
      policy: { provider_key_ids: [f.providerKeyId], max_ttl_seconds: 3600, max_budget_usd: 1 },
    });
    auditRows = app().store.audit.page({ limit: 1000 }).length;
    for (const route of ROUTES) {
      const res = await send(app(), f, route, { token: issuer.token });
      if (label(route) === "POST /api/proxy-keys") {
        expectStatus(res, 201);
        continue;
      }
      if (label(route) === "GET /api/admin-tokens/self") {
        expectStatus(res, 200);
        expect(res.json).toEqual({ id: issuer.id, name: expect.any(String), scopes: ["keys:issue"] });
        continue;
      }
      expectError(res, 403, "forbidden");
      expect(res.json.error.message).toContain(`needs the ${route.scope} scope`);
      expect(res.json.error.message).toContain("the token has keys:issue");
    }
    // Only the mint changed anything.
    expect(app().store.audit.page({ limit: 1000 })).toHaveLength(auditRows + 1);
  });

  test("GET /api/admin-tokens/self names the calling token and its scopes, for every scope", async () => {
    const reader = await createAdminToken(app(), ["read"]);
    const res = await app().call("GET", "/api/admin-tokens/self", undefined, { token: reader.token });
    expectStatus(res, 200);
    expect(res.json).toEqual({ id: reader.id, name: expect.any(String), scopes: ["read"] });
    const root = await app().call("GET", "/api/admin-tokens/self");
    expectStatus(root, 200);
    expect(root.json.scopes).toEqual(["admin"]);
  });

  test("a revoked admin token fails on the very next request", async () => {
    const other = await createAdminToken(app(), ["admin"]);
    // Used once, so its verification is cached: revocation must still win.
    expectStatus(await app().call("GET", "/api/provider-keys", undefined, { token: other.token }), 200);
    expectStatus(await app().call("POST", `/api/admin-tokens/${other.id}/revoke`, {}), 200);
    const res = await app().call("GET", "/api/provider-keys", undefined, { token: other.token });
    expectError(res, 401, "unauthorized");
    expect(res.json.error.message).toContain("revoked");
    for (const route of ROUTES) expectError(await send(app(), f, route, { token: other.token }), 401, "unauthorized");
  });

  test("a token can revoke itself, and is refused right after", async () => {
    const other = await createAdminToken(app(), ["admin"]);
    expectStatus(await app().call("POST", `/api/admin-tokens/${other.id}/revoke`, {}, { token: other.token }), 200);
    expectError(await app().call("GET", "/api/audit", undefined, { token: other.token }), 401, "unauthorized");
  });

  test("an expired admin token fails once the clock passes expires_at", async () => {
    const expiring = await createAdminToken(app(), ["admin"], { expires_at: "2026-01-15T12:01:00Z" });
    expectStatus(await app().call("GET", "/api/provider-keys", undefined, { token: expiring.token }), 200);
    app().clock.advance(59_999);
    expectStatus(await app().call("GET", "/api/provider-keys", undefined, { token: expiring.token }), 200);
    app().clock.advance(1);
    const res = await app().call("GET", "/api/provider-keys", undefined, { token: expiring.token });
    expectError(res, 401, "unauthorized");
    expect(res.json.error.message).toContain("expired");
    for (const route of ROUTES) expectError(await send(app(), f, route, { token: expiring.token }), 401, "unauthorized");
  });

  test("a flood of wrong secrets does not lock out the verified root token", async () => {
    expectStatus(await app().call("GET", "/api/audit"), 200);
    const root = parseKey("admin", app().rootToken)!;
    for (let i = 0; i < 12; i++) {
      expectError(await app().call("GET", "/api/audit", undefined, { token: generateKey("admin", root.id).token }), 401, "unauthorized");
    }
    expectStatus(await app().call("GET", "/api/audit"), 200);
  });
});
