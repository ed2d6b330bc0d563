/**
 * `unbounded_reservation_usd` on proxy keys: what a budgeted key reserves for
 * a request whose cost keyward cannot bound. Null by default (such requests
 * are refused); set on create, batch mint and PATCH, shown by every view,
 * stored in micro-dollars, validated like budgets, audited as a changed
 * field, refused to keys:issue tokens, and seen by the proxy's key cache
 * right after a PATCH.
 */
import { expect, test } from "bun:test";
import { createAdminToken, createProviderKey, createProxyKey, expectError, expectStatus, useApp } from "../helpers/admin-fixtures.ts";

const app = useApp();

test("null by default, in create, get and list", async () => {
  const provider = await createProviderKey(app());
  const key = await createProxyKey(app(), provider.id, { budget_usd: 5 });
  expect((key as unknown as Record<string, unknown>).unbounded_reservation_usd).toBeNull();
  expect((await app().call("GET", `/api/proxy-keys/${key.id}`)).json.unbounded_reservation_usd).toBeNull();
  const listed = await app().call("GET", "/api/proxy-keys");
  expect(listed.json.data.find((k: { id: string }) => k.id === key.id).unbounded_reservation_usd).toBeNull();
  expect(app().store.proxyKeys.byId(key.id)?.unboundedReservationMicros).toBeNull();
});

test("set on create: shown in USD everywhere, stored in micro-dollars", async () => {
  const provider = await createProviderKey(app());
  const created = await app().call("POST", "/api/proxy-keys", {
    name: "files",
    provider_key_id: provider.id,
    budget_usd: 10,
    unbounded_reservation_usd: 0.25,
  });
  expectStatus(created, 201);
  expect(created.json.unbounded_reservation_usd).toBe(0.25);
  expect((await app().call("GET", `/api/proxy-keys/${created.json.id}`)).json.unbounded_reservation_usd).toBe(0.25);
  const listed = await app().call("GET", "/api/proxy-keys");
  expect(listed.json.data.find((k: { id: string }) => k.id === created.json.id).unbounded_reservation_usd).toBe(0.25);
  expect(app().store.proxyKeys.byId(created.json.id)?.unboundedReservationMicros).toBe(250_000);
  // Micro-dollar amounts round-trip exactly; zero is a valid reservation.
  const tiny = await app().call("POST", "/api/proxy-keys", { name: "tiny", provider_key_id: provider.id, unbounded_reservation_usd: 0.000123 });
  expect(tiny.json.unbounded_reservation_usd).toBe(0.000123);
  const zero = await app().call("POST", "/api/proxy-keys", { name: "zero", provider_key_id: provider.id, unbounded_reservation_usd: 0 });
  expect(zero.json.unbounded_reservation_usd).toBe(0);
});

test("set on batch mint, for every key of the batch", async () => {
  const provider = await createProviderKey(app());
  const batch = await app().call("POST", "/api/proxy-keys/batch", {
    count: 3,
    name_prefix: "event",
    provider_key_id: provider.id,
    budget_usd: 2,
    unbounded_reservation_usd: 0.5,
  });
  expectStatus(batch, 201);
  expect(batch.json.data.map((k: { unbounded_reservation_usd: number }) => k.unbounded_reservation_usd)).toEqual([0.5, 0.5, 0.5]);
  for (const k of batch.json.data as Array<{ id: string }>) expect(app().store.proxyKeys.byId(k.id)?.unboundedReservationMicros).toBe(500_000);
});

test("PATCH sets, changes and (with null) clears it; other PATCHes leave it alone", async () => {
  const provider = await createProviderKey(app());
  const key = await createProxyKey(app(), provider.id, { budget_usd: 5 });
  const set = await app().call("PATCH", `/api/proxy-keys/${key.id}`, { unbounded_reservation_usd: 1.5 });
  expectStatus(set, 200);
  expect(set.json).toMatchObject({ unbounded_reservation_usd: 1.5, budget_usd: 5 });

  const renamed = await app().call("PATCH", `/api/proxy-keys/${key.id}`, { name: "renamed", rpm: 10 });
  expect(renamed.json).toMatchObject({ name: "renamed", rpm: 10, unbounded_reservation_usd: 1.5 });

  const changed = await app().call("PATCH", `/api/proxy-keys/${key.id}`, { unbounded_reservation_usd: 0.75 });
  expect(changed.json.unbounded_reservation_usd).toBe(0.75);

  const cleared = await app().call("PATCH", `/api/proxy-keys/${key.id}`, { unbounded_reservation_usd: null });
  expect(cleared.json.unbounded_reservation_usd).toBeNull();
  expect((await app().call("GET", `/api/proxy-keys/${key.id}`)).json.unbounded_reservation_usd).toBeNull();
  expect(app().store.proxyKeys.byId(key.id)?.unboundedReservationMicros).toBeNull();
});

test("a PATCH reaches the row the proxy reads (key cache, through vault events)", async () => {
  const provider = await createProviderKey(app());
  const key = await createProxyKey(app(), provider.id, { budget_usd: 5 });
  const cache = app().services.keyCache;
  expect(cache.proxyKey(key.id)?.unboundedReservationMicros).toBeNull(); // now cached
  expectStatus(await app().call("PATCH", `/api/proxy-keys/${key.id}`, { unbounded_reservation_usd: 0.3 }), 200);
  expect(cache.proxyKey(key.id)?.unboundedReservationMicros).toBe(300_000);
  expectStatus(await app().call("PATCH", `/api/proxy-keys/${key.id}`, { unbounded_reservation_usd: null }), 200);
  expect(cache.proxyKey(key.id)?.unboundedReservationMicros).toBeNull();
});

test("invalid values are 422 naming the field, on create, batch and PATCH", async () => {
  const provider = await createProviderKey(app());
  const key = await createProxyKey(app(), provider.id);
  for (const value of [-0.01, 1_000_001, "1", true, []]) {
    const created = await app().call("POST", "/api/proxy-keys", { name: "bad", provider_key_id: provider.id, unbounded_reservation_usd: value });
    expectError(created, 422, "validation_failed", "unbounded_reservation_usd");
    const batch = await app().call("POST", "/api/proxy-keys/batch", {
      count: 1,
      name_prefix: "bad",
      provider_key_id: provider.id,
      unbounded_reservation_usd: value,
    });
    expectError(batch, 422, "validation_failed", "unbounded_reservation_usd");
    const patched = await app().call("PATCH", `/api/proxy-keys/${key.id}`, { unbounded_reservation_usd: value });
    expectError(patched, 422, "validation_failed", "unbounded_reservation_usd");
  }
  // The maximum is the budgets' maximum, inclusive.
  expectStatus(await app().call("PATCH", `/api/proxy-keys/${key.id}`, { unbounded_reservation_usd: 1_000_000 }), 200);
  // Create refuses null: there is nothing to remove yet (absent means null).
  const nulled = await app().call("POST", "/api/proxy-keys", { name: "bad", provider_key_id: provider.id, unbounded_reservation_usd: null });
  expectError(nulled, 422, "validation_failed", "unbounded_reservation_usd");
});

test("a PATCH of it is audited as a changed field, like the other limits", async () => {
  const provider = await createProviderKey(app());
  const key = await createProxyKey(app(), provider.id);
  expectStatus(await app().call("PATCH", `/api/proxy-keys/${key.id}`, { unbounded_reservation_usd: 0.4, rpm: 5 }), 200);
  expectStatus(await app().call("PATCH", `/api/proxy-keys/${key.id}`, { unbounded_reservation_usd: null }), 200);
  const audit = await app().call("GET", "/api/audit?limit=10");
  const updates = (audit.json.data as Array<{ action: string; target_id: string; details: { fields: string[] } }>).filter(
    (r) => r.action === "proxy_key.update" && r.target_id === key.id,
  );
  expect(updates.map((r) => [...r.details.fields].sort())).toEqual([["unbounded_reservation_usd"], ["rpm", "unbounded_reservation_usd"]]);
});

test("keys:issue tokens cannot set it (403 naming the field); their keys get null", async () => {
  const provider = await createProviderKey(app());
  const issuer = await createAdminToken(app(), ["keys:issue"], { policy: { provider_key_ids: [provider.id], max_ttl_seconds: 3600, max_budget_usd: 2 } });
  const mint = (extra: Record<string, unknown>) => app().call("POST", "/api/proxy-keys", { provider_key: provider.id, ...extra }, { token: issuer.token });
  const refused = await mint({ unbounded_reservation_usd: 0.1 });
  expectError(refused, 403, "forbidden", "unbounded_reservation_usd");
  expect(refused.json.error.message).toStartWith("Cannot issue proxy key: unbounded_reservation_usd is for admin tokens");
  const issued = await mint({});
  expectStatus(issued, 201);
  expect(issued.json.unbounded_reservation_usd).toBeNull();
});

test("the OpenAPI document describes the field with an example", async () => {
  const spec = (await app().call("GET", "/docs/json", undefined, { token: null })).json;
  const schemas = [
    spec.paths["/api/proxy-keys"].post.requestBody.content["application/json"].schema,
    spec.paths["/api/proxy-keys/{id}"].patch.requestBody.content["application/json"].schema,
    spec.paths["/api/proxy-keys/{id}"].get.responses["200"].content["application/json"].schema,
  ];
  for (const schema of schemas) {
    const field = schema.properties.unbounded_reservation_usd;
    expect(field.description).toContain("cannot bound");
    expect(field.example).toBe(0.5); // the docs turn `examples` into OpenAPI 3.0's `example`
  }
});
