/**
 * The aggregate bounds of a keys:issue token's policy: `max_keys_per_hour`
 * and `max_outstanding_budget_usd` (the summed budgets of the token's live
 * keys). Both are checked in the transaction that inserts the key, so a burst
 * of concurrent mints cannot pass them together: each test fires its mints at
 * once and counts what was created.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createTestApp, TEST_BACKEND } from "../helpers/app.ts";
import { createAdminToken, createProviderKey, expectError, expectStatus, useApp } from "../helpers/admin-fixtures.ts";

const HOUR_MS = 3_600_000;
const REPO_ROOT = join(import.meta.dir, "..", "..");

describe("keys:issue aggregate bounds", () => {
  const app = useApp();

  async function issuer(bounds: Record<string, unknown>) {
    const provider = await createProviderKey(app(), { provider: "openai" });
    const policy = { provider_key_ids: [provider.id], max_ttl_seconds: 3600, max_budget_usd: 2, ...bounds };
    const token = await createAdminToken(app(), ["keys:issue"], { policy });
    return { provider, policy, token };
  }

  const mint = (token: string, body: Record<string, unknown>) => app().call("POST", "/api/proxy-keys", body, { token });

  /** `n` mints at once; the statuses, and the ids of the keys created. */
  async function burst(n: number, token: string, body: Record<string, unknown>) {
    const results = await Promise.all(Array.from({ length: n }, () => mint(token, body)));
    return {
      results,
      created: results.filter((r) => r.status === 201).map((r) => r.json.id as string),
      refused: results.filter((r) => r.status === 403),
    };
  }

  test("max_keys_per_hour: of 20 concurrent mints exactly 5 pass; the rest get 403 naming the bound; an hour later 5 more", async () => {
    const { provider, token } = await issuer({ max_keys_per_hour: 5 });
    const first = await burst(20, token.token, { provider_key: provider.name });
    expect(first.created).toHaveLength(5);
    expect(first.refused).toHaveLength(15);
    for (const r of first.refused) {
      expectError(r, 403, "forbidden", "max_keys_per_hour");
      expect(r.json.error.message).toBe("Cannot issue proxy key: this token minted 5 keys in the last hour, its max_keys_per_hour is 5; retry later");
    }
    // Revoking does not give the hour's mints back: it counts keys minted, live or not.
    expectStatus(await app().call("POST", `/api/proxy-keys/${first.created[0]}/revoke`), 200);
    expectError(await mint(token.token, { provider_key: provider.name }), 403, "forbidden", "max_keys_per_hour");

    app().clock.advance(HOUR_MS - 1);
    expectError(await mint(token.token, { provider_key: provider.name }), 403, "forbidden", "max_keys_per_hour");
    app().clock.advance(1);
    const next = await burst(20, token.token, { provider_key: provider.name });
    expect(next.created).toHaveLength(5);
  });

  test("max_outstanding_budget_usd: concurrent $2 mints stop at $5 outstanding; a $1 key still fits; revoked and expired keys free their budget", async () => {
    const { provider, token } = await issuer({ max_outstanding_budget_usd: 5 });
    const first = await burst(20, token.token, { provider_key: provider.name, budget_usd: 2, ttl_seconds: 600 });
    expect(first.created).toHaveLength(2);
    expect(first.refused).toHaveLength(18);
    for (const r of first.refused) {
      expectError(r, 403, "forbidden", "budget_usd");
      expect(r.json.error.message).toBe(
        "Cannot issue proxy key: budget_usd 2 would bring this token's live keys' budgets to 6, above its max_outstanding_budget_usd 5; revoke keys or wait for them to expire",
      );
    }
    // The default budget is max_budget_usd ($2): refused too, while $1 fits exactly.
    expectError(await mint(token.token, { provider_key: provider.name }), 403, "forbidden", "budget_usd");
    expectStatus(await mint(token.token, { provider_key: provider.name, budget_usd: 1, ttl_seconds: 3600 }), 201);
    expectError(await mint(token.token, { provider_key: provider.name, budget_usd: 0.01 }), 403, "forbidden", "budget_usd");

    // A revoked key's budget no longer counts.
    expectStatus(await app().call("POST", `/api/proxy-keys/${first.created[0]}/revoke`), 200);
    expectStatus(await mint(token.token, { provider_key: provider.name, budget_usd: 2, ttl_seconds: 3600 }), 201);
    expectError(await mint(token.token, { provider_key: provider.name, budget_usd: 0.01 }), 403, "forbidden", "budget_usd");
    // Nor an expired one's: the other $2 key lived 600 s.
    app().clock.advance(600_000);
    const after = await burst(5, token.token, { provider_key: provider.name, budget_usd: 2 });
    expect(after.created).toHaveLength(1);
  });

  test("keys minted by other tokens and by admins do not count against a token's bounds", async () => {
    const { provider, token, policy } = await issuer({ max_keys_per_hour: 2, max_outstanding_budget_usd: 4 });
    const other = await createAdminToken(app(), ["keys:issue"], { policy });
    expect((await burst(3, other.token, { provider_key: provider.name })).created).toHaveLength(2);
    expectStatus(await app().call("POST", "/api/proxy-keys", { name: "by-admin", provider_key_id: provider.id, budget_usd: 100 }), 201);
    expect((await burst(3, token.token, { provider_key: provider.name })).created).toHaveLength(2);
  });

  test("the bounds are validated, shown in the token's view and documented with examples", async () => {
    const provider = await createProviderKey(app(), { provider: "openai" });
    const base = { provider_key_ids: [provider.id], max_ttl_seconds: 3600, max_budget_usd: 2 };
    const create = (policy: Record<string, unknown>) => app().call("POST", "/api/admin-tokens", { name: "ci", scopes: ["keys:issue"], policy });
    expectError(await create({ ...base, max_keys_per_hour: 0 }), 422, "validation_failed", "policy.max_keys_per_hour");
    expectError(await create({ ...base, max_keys_per_hour: 1.5 }), 422, "validation_failed", "policy.max_keys_per_hour");
    expectError(await create({ ...base, max_outstanding_budget_usd: -1 }), 422, "validation_failed", "policy.max_outstanding_budget_usd");
    const below = await create({ ...base, max_outstanding_budget_usd: 1 });
    expectError(below, 422, "validation_failed", "policy.max_outstanding_budget_usd");
    expect(below.json.error.message).toBe(
      "Cannot create admin token: max_outstanding_budget_usd 1 is below max_budget_usd 2, the budget a key gets by default",
    );

    const created = await create({ ...base, max_keys_per_hour: 20, max_outstanding_budget_usd: 10 });
    expectStatus(created, 201);
    const shown = { ...base, max_keys_per_hour: 20, max_outstanding_budget_usd: 10 };
    expect(created.json.policy).toEqual(shown);
    const list = await app().call("GET", "/api/admin-tokens");
    expect((list.json.data as Array<{ id: string; policy: unknown }>).find((r) => r.id === created.json.id)?.policy).toEqual(shown);

    const doc = await app().call("GET", "/docs/json");
    const schema = doc.json.components?.schemas?.IssuerPolicy ?? findTitled(doc.json, "IssuerPolicy");
    for (const field of ["max_keys_per_hour", "max_outstanding_budget_usd"]) {
      expect(schema.properties[field].example).toBe(20);
      expect(schema.properties[field].description).toBeString();
      expect(schema.required ?? []).not.toContain(field);
    }
  });
});

/** The first object in an OpenAPI document with this title (inlined schemas have no component name). */
// oxlint-disable-next-line typescript/no-explicit-any -- walking an arbitrary JSON document
function findTitled(node: any, title: string): any {
  if (node === null || typeof node !== "object") return undefined;
  if (node.title === title && node.properties) return node;
  for (const value of Object.values(node)) {
    const found = findTitled(value, title);
    if (found) return found;
  }
  return undefined;
}

// A host-side command on the data dir's SQLite file: with a shared PostgreSQL vault there is none to run it on.
describe.skipIf(TEST_BACKEND === "postgres")("keyward admin-token create --policy", () => {
  async function cli(dataDir: string, policy: string) {
    const proc = Bun.spawn(
      ["bun", join(REPO_ROOT, "src/main.ts"), "admin-token", "create", "--data-dir", dataDir, "--name", "ci", "--scopes", "keys:issue", "--policy", policy],
      { stdout: "pipe", stderr: "pipe", env: { ...process.env, KEYWARD_ADMIN_TOKEN: "" } },
    );
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { stdout, stderr, code };
  }

  test("accepts the aggregate bounds, and refuses an unknown or mistyped field instead of dropping the bound", async () => {
    const first = await createTestApp();
    const provider = await createProviderKey(first, { provider: "openai" });
    await first.close();
    try {
      const base = { provider_key_ids: [provider.id], max_ttl_seconds: 3600, max_budget_usd: 2 };
      const good = await cli(first.dataDir, JSON.stringify({ ...base, max_keys_per_hour: 10, max_outstanding_budget_usd: 8 }));
      expect(good.stderr).toBe("");
      expect(good.code).toBe(0);
      const id = good.stdout.trim().split("_")[1] as string;

      const typo = await cli(first.dataDir, JSON.stringify({ ...base, max_key_per_hour: 10 }));
      expect(typo.code).toBe(2);
      expect(typo.stdout).toBe("");
      expect(typo.stderr).toContain('Invalid --policy: unknown field "max_key_per_hour"');
      const quoted = await cli(first.dataDir, JSON.stringify({ ...base, max_keys_per_hour: "10" }));
      expect(quoted.code).toBe(2);
      expect(quoted.stderr).toContain("Invalid --policy: field max_keys_per_hour has the wrong type");
      const below = await cli(first.dataDir, JSON.stringify({ ...base, max_outstanding_budget_usd: 1 }));
      expect(below.code).toBe(2);
      expect(below.stderr).toContain("Invalid --policy: Cannot create admin token: max_outstanding_budget_usd 1 is below max_budget_usd 2");

      const reopened = await createTestApp({ dataDir: first.dataDir, masterKey: first.masterKey, rootToken: first.rootToken });
      try {
        const list = await reopened.call("GET", "/api/admin-tokens");
        const row = (list.json.data as Array<{ id: string; policy: unknown }>).find((r) => r.id === id);
        expect(row?.policy).toEqual({ ...base, max_keys_per_hour: 10, max_outstanding_budget_usd: 8 });
      } finally {
        await reopened.cleanup();
      }
    } finally {
      await first.cleanup().catch(() => undefined);
    }
  });
});
