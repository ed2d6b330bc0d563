import { beforeEach, describe, expect, test } from "bun:test";
import type { TestApp } from "../helpers/app.ts";
import { createProviderKey, createProxyKey, expectError, useApp } from "../helpers/admin-fixtures.ts";

type Call = Awaited<ReturnType<TestApp["call"]>>;

interface Fixture {
  providerKeyId: string;
  proxyKeyId: string;
}

interface WriteRoute {
  method: "POST" | "PATCH";
  path: (f: Fixture) => string;
  /** A body the route accepts. */
  valid: (f: Fixture) => Record<string, unknown>;
  /** Fields with a value of the wrong type (or shape); each must give 422 naming it. */
  wrong: Array<[string, unknown]>;
  /** Fields that hold a human-readable name. */
  nameField: string;
  /** Status of a successful write. */
  okStatus: number;
  /** The name the response shows for a sent name (default: `json.name` is the name sent). */
  shownName?: (json: { data: Array<{ name: string }> }, sent: string) => [shown: string, expected: string];
}

const WRITE_ROUTES: Record<string, WriteRoute> = {
  "POST /api/provider-keys": {
    method: "POST",
    path: () => "/api/provider-keys",
    valid: () => ({ name: "n", provider: "openai", key: "sk-abcdefghijklmnop" }),
    wrong: [
      ["name", 5],
      ["name", null],
      ["name", ["a"]],
      ["provider", 1],
      ["key", {}],
      ["base_url", 7],
      ["disabled", "yes"],
      ["disabled", "true"],
    ],
    nameField: "name",
    okStatus: 201,
  },
  "PATCH /api/provider-keys/{id}": {
    method: "PATCH",
    path: (f) => `/api/provider-keys/${f.providerKeyId}`,
    valid: () => ({ name: "n2" }),
    wrong: [
      ["name", 5],
      ["key", 1],
      ["base_url", false],
      ["disabled", "true"],
      ["disabled", 1],
    ],
    nameField: "name",
    okStatus: 200,
  },
  "POST /api/proxy-keys": {
    method: "POST",
    path: () => "/api/proxy-keys",
    valid: (f) => ({ name: "n", provider_key_id: f.providerKeyId }),
    wrong: [
      ["name", 1],
      ["provider_key_id", 5],
      ["expires_at", 12345],
      ["ttl_seconds", "sixty"],
      ["ttl_seconds", 1e300],
      ["ttl_seconds", 1.5],
      ["metadata", "x"],
      ["metadata", [1, 2]],
      ["metadata", { nested: { deep: true } }],
    ],
    nameField: "name",
    okStatus: 201,
  },
  "POST /api/proxy-keys/batch": {
    method: "POST",
    path: () => "/api/proxy-keys/batch",
    valid: (f) => ({ count: 1, name_prefix: "b", provider_key_id: f.providerKeyId }),
    wrong: [
      ["count", "one"],
      ["count", 0.5],
      ["name_prefix", 1],
      ["provider_key_id", []],
      ["metadata", "x"],
    ],
    nameField: "name_prefix",
    okStatus: 201,
    shownName: (json, sent) => [json.data[0]?.name ?? "", `${sent}-001`],
  },
  "PATCH /api/proxy-keys/{id}": {
    method: "PATCH",
    path: (f) => `/api/proxy-keys/${f.proxyKeyId}`,
    valid: () => ({ name: "n2" }),
    wrong: [
      ["name", 1],
      ["expires_at", 5],
      ["ttl_seconds", "x"],
      ["metadata", []],
    ],
    nameField: "name",
    okStatus: 200,
  },
  "POST /api/admin-tokens": {
    method: "POST",
    path: () => "/api/admin-tokens",
    valid: () => ({ name: "n", scopes: ["read"] }),
    wrong: [
      ["name", 1],
      ["scopes", "read"],
      ["scopes", [1]],
      ["scopes", [["read"]]],
      ["expires_at", 5],
    ],
    nameField: "name",
    okStatus: 201,
  },
};

/** Every response here: below 500, and an error in exactly the documented shape when it is one. */
function expectSane(res: Call, context: string): void {
  if (res.status >= 500) throw new Error(`${context}: ${res.status} ${res.text}`);
  if (res.status >= 400) {
    expect(Object.keys(res.json ?? {})).toEqual(["error"]);
    const keys = Object.keys(res.json.error).sort();
    expect(keys.filter((k) => k !== "field")).toEqual(["code", "message"]);
    expect(typeof res.json.error.code).toBe("string");
    expect(typeof res.json.error.message).toBe("string");
  }
}

/** The field is named exactly, or as the path to something inside it (`scopes[0]`, `metadata.nested`). */
function namesField(res: Call, field: string): void {
  const named: string | undefined = res.json?.error?.field;
  if (named === undefined || !(named === field || named.startsWith(`${field}[`) || named.startsWith(`${field}.`))) {
    throw new Error(`expected an error naming ${field}, got ${res.status} ${res.text.slice(0, 300)}`);
  }
}

describe("bad input on write routes", () => {
  const app = useApp();
  let f: Fixture;

  beforeEach(async () => {
    const pk = await createProviderKey(app());
    const proxy = await createProxyKey(app(), pk.id);
    f = { providerKeyId: pk.id, proxyKeyId: proxy.id };
  });

  const raw = (route: WriteRoute, body: string, headers?: Record<string, string>) => app().call(route.method, route.path(f), undefined, { raw: body, headers });

  test("the valid bodies are accepted (so the refusals below are about the input)", async () => {
    for (const [name, route] of Object.entries(WRITE_ROUTES)) {
      const res = await app().call(route.method, route.path(f), route.valid(f));
      if (res.status !== route.okStatus) throw new Error(`${name}: ${res.status} ${res.text}`);
    }
  });

  test("malformed JSON is 400 invalid_request", async () => {
    const bodies = ["{bad", '{"name":', "{'name':'x'}", '{"name":"x",}', "{name: 1}", "nul", '{"a":1}{"b":2}', "\u0000"];
    for (const [name, route] of Object.entries(WRITE_ROUTES)) {
      for (const body of bodies) {
        const res = await raw(route, body);
        expectSane(res, `${name} ${JSON.stringify(body)}`);
        expectError(res, 400, "invalid_request");
      }
    }
  });

  test("wrong types are 422 naming the field", async () => {
    for (const [name, route] of Object.entries(WRITE_ROUTES)) {
      for (const [field, value] of route.wrong) {
        const res = await app().call(route.method, route.path(f), { ...route.valid(f), [field]: value });
        expectSane(res, `${name} ${field}=${JSON.stringify(value)}`);
        if (res.status !== 422) throw new Error(`${name} ${field}=${JSON.stringify(value)}: ${res.status} ${res.text}`);
        expect(res.json.error.code).toBe("validation_failed");
        namesField(res, field);
      }
    }
  });

  test("unknown fields are 422 naming the field", async () => {
    for (const [name, route] of Object.entries(WRITE_ROUTES)) {
      for (const extra of ["extra", "id", "secret_hash", "created_by", "revoked_at"]) {
        const res = await app().call(route.method, route.path(f), { ...route.valid(f), [extra]: "x" });
        expectSane(res, `${name} +${extra}`);
        if (res.status !== 422) throw new Error(`${name} +${extra}: ${res.status} ${res.text}`);
        expectError(res, 422, "validation_failed", extra);
      }
    }
  });

  test("__proto__ and constructor keys pollute nothing", async () => {
    for (const [name, route] of Object.entries(WRITE_ROUTES)) {
      // Unique names: provider key names must be, and a 409 would hide what we look for.
      const valid = JSON.stringify({ ...route.valid(f), [route.nameField]: `proto-${name}` }).slice(1, -1);
      const constructorBody = `{${valid},"constructor":{"prototype":{"polluted":true}}}`;
      expectError(await raw(route, constructorBody), 422, "validation_failed", "constructor");
      // Some schemas drop `__proto__` while applying defaults, others refuse it: either is fine.
      const res = await raw(route, `{${valid},"__proto__":{"polluted":true}}`);
      expectSane(res, `${name} __proto__`);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty("polluted");
  });

  test("huge strings (1 MB) are 4xx, never 500, and store nothing", async () => {
    const huge = "x".repeat(1024 * 1024);
    const before = {
      providerKeys: app().store.providerKeys.all().length,
      tokens: app().store.adminTokens.count(),
      audit: app().store.audit.page({ limit: 1000 }).length,
    };
    for (const [name, route] of Object.entries(WRITE_ROUTES)) {
      const valid = route.valid(f);
      for (const field of Object.keys(valid)) {
        const res = await app().call(route.method, route.path(f), { ...valid, [field]: huge });
        expectSane(res, `${name} huge ${field}`);
        expect(res.status).toBeGreaterThanOrEqual(400);
      }
    }
    const pk = WRITE_ROUTES["POST /api/provider-keys"]!;
    for (const field of ["key", "base_url"]) {
      const res = await app().call("POST", pk.path(f), { ...pk.valid(f), [field]: huge });
      expectError(res, 422, "validation_failed", field);
    }
    const meta = await app().call("POST", "/api/proxy-keys", { name: "m", provider_key_id: f.providerKeyId, metadata: { note: huge } });
    expectSane(meta, "huge metadata");
    expect(meta.status).toBe(422);
    expect(app().store.providerKeys.all().length).toBe(before.providerKeys);
    expect(app().store.adminTokens.count()).toBe(before.tokens);
    expect(app().store.audit.page({ limit: 1000 }).length).toBe(before.audit);
  });

  test("too many metadata entries are 422", async () => {
    const metadata = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, i]));
    const res = await app().call("POST", "/api/proxy-keys", { name: "m", provider_key_id: f.providerKeyId, metadata });
    expectSane(res, "51 metadata entries");
    expect(res.status).toBe(422);
  });

  test("empty body, array, null, scalars and deep nesting are refused without a 500", async () => {
    const deep = (n: number) => "[".repeat(n) + "]".repeat(n);
    const bodies = ["", " ", "[]", "[{}]", "null", "0", "true", '"text"', "{}", deep(20_000), `{"name":${deep(20_000)}}`];
    for (const [name, route] of Object.entries(WRITE_ROUTES)) {
      for (const body of bodies) {
        const res = await raw(route, body);
        expectSane(res, `${name} ${JSON.stringify(body.slice(0, 10))}`);
        if (res.status !== 400 && res.status !== 422) {
          throw new Error(`${name} ${JSON.stringify(body.slice(0, 10))}: ${res.status} ${res.text}`);
        }
      }
    }
  });

  test("deeply nested values are 422 naming the field, never 500", async () => {
    const deep = (n: number) => "[".repeat(n) + "]".repeat(n);
    for (const depth of [17, 1_000, 20_000]) {
      const res = await app().call("POST", "/api/proxy-keys", undefined, {
        raw: `{"name":"n","provider_key_id":"${f.providerKeyId}","metadata":{"a":${deep(depth)}}}`,
      });
      expectError(res, 422, "validation_failed", "metadata");
      const named = await app().call("PATCH", `/api/provider-keys/${f.providerKeyId}`, undefined, { raw: `{"name":${deep(depth)}}` });
      expectError(named, 422, "validation_failed", "name");
    }
  });

  test("emoji, RTL and other scripts in names are stored exactly", async () => {
    const names = ["🔑 prod key 🚀", "\u202Eevil\u202C", "مفتاح الإنتاج", "ключ", "日本語のキー", "e\u0301", "👩‍👩‍👧‍👦"];
    for (const [label, route] of Object.entries(WRITE_ROUTES)) {
      for (const [i, name] of names.entries()) {
        // Provider key names are unique; the others are not.
        const value = `${name} ${label.length}${i}`;
        const res = await app().call(route.method, route.path(f), { ...route.valid(f), [route.nameField]: value });
        expectSane(res, `${label} ${value}`);
        if (res.status !== route.okStatus) throw new Error(`${label} ${JSON.stringify(value)}: ${res.status} ${res.text}`);
        const [shown, expected] = route.shownName ? route.shownName(res.json, value) : [res.json.name, value];
        expect(shown).toBe(expected);
      }
    }
    const last = names.length - 1;
    const stored = app().store.providerKeys.byId(f.providerKeyId)!;
    expect(stored.name).toBe(`${names[last]} ${"PATCH /api/provider-keys/{id}".length}${last}`);
    const got = await app().call("GET", `/api/proxy-keys/${f.proxyKeyId}`);
    expect(got.json.name).toBe(`${names[last]} ${"PATCH /api/proxy-keys/{id}".length}${last}`);
  });

  test("NUL, control characters and lone surrogates in names are 422 naming the field", async () => {
    const bad = ["a\u0000b", "tab\there", "new\nline", "cr\r", "esc\u001b[31m", "del\u007f", "\u0007bell", "lone \ud800 high", "lone \udfff low", "\ud83d"];
    for (const [label, route] of Object.entries(WRITE_ROUTES)) {
      for (const name of bad) {
        const res = await app().call(route.method, route.path(f), { ...route.valid(f), [route.nameField]: name });
        expectSane(res, `${label} ${JSON.stringify(name)}`);
        if (res.status !== 422) throw new Error(`${label} ${JSON.stringify(name)}: ${res.status} ${res.text}`);
        expectError(res, 422, "validation_failed", route.nameField);
      }
    }
  });

  test("provider keys with whitespace, control characters or lone surrogates are 422 naming key", async () => {
    for (const key of ["sk-abc def-ghijklmnop", "sk-abc\u0000defghijklmnop", "sk-abc\ud800defghijklmnop", "\u0000", "   "]) {
      const res = await app().call("POST", "/api/provider-keys", { name: "k", provider: "openai", key });
      expectSane(res, JSON.stringify(key));
      expectError(res, 422, "validation_failed", "key");
    }
    expect(app().store.providerKeys.byName("k")).toBeUndefined();
  });

  test("lone surrogates and odd unicode in metadata never cause a 500", async () => {
    const res = await app().call("POST", "/api/proxy-keys", {
      name: "m",
      provider_key_id: f.providerKeyId,
      metadata: { "\ud800": "\udc00", "🔑": "\u0000", rtl: "\u202e" },
    });
    expectSane(res, "metadata");
  });

  test("bad path parameters are refused without a 500", async () => {
    const ids = ["x".repeat(65), "%00", "..%2F..%2Fetc", "%F0%9F%94%91", "a%20b", "'%20OR%201=1--"];
    for (const id of ids) {
      for (const [method, path] of [
        ["GET", `/api/provider-keys/${id}`],
        ["PATCH", `/api/provider-keys/${id}`],
        ["GET", `/api/proxy-keys/${id}`],
        ["PATCH", `/api/proxy-keys/${id}`],
      ] as const) {
        const res = await app().call(method, path, method === "PATCH" ? { name: "x" } : undefined);
        expectSane(res, `${method} ${path}`);
        expect([404, 422]).toContain(res.status);
      }
    }
  });

  test("bad query parameters are 422, never 500", async () => {
    for (const query of ["limit=0", "limit=201", "limit=abc", "limit=-1", "limit=1.5", "cursor=%00", `cursor=${"A".repeat(300)}`, "status=nope"]) {
      for (const path of ["/api/provider-keys", "/api/proxy-keys", "/api/admin-tokens", "/api/audit"]) {
        if (query.startsWith("status") && path !== "/api/proxy-keys") continue;
        const res = await app().call("GET", `${path}?${query}`);
        expectSane(res, `${path}?${query}`);
        expect(res.status).toBe(422);
      }
    }
    const res = await app().call("DELETE", `/api/provider-keys/${f.providerKeyId}?cascade=maybe`, {});
    expectError(res, 422, "validation_failed", "cascade");
  });
});

describe("bad cursors on list routes", () => {
  const app = useApp();
  /** Every list of the admin API, with the kind of cursor it writes. */
  const LISTS: Record<string, "keyset" | "id" | "none"> = {
    "/api/provider-keys": "keyset",
    "/api/proxy-keys": "keyset",
    "/api/admin-tokens": "keyset",
    "/api/oidc/trust-policies": "keyset",
    "/api/audit": "id",
    "/api/logs": "id",
    "/api/prices": "none",
    "/api/usage?group_by=model": "none",
  };
  const withCursor = (path: string, cursor: string) => `${path}${path.includes("?") ? "&" : "?"}cursor=${cursor}`;

  test("every list answers a cursor it did not write with the same 422 naming cursor", async () => {
    await createProviderKey(app());
    await createProviderKey(app());
    const keysetCursor: string = (await app().call("GET", "/api/provider-keys?limit=1")).json.next_cursor;
    const idCursor: string = (await app().call("GET", "/api/audit?limit=1")).json.next_cursor;
    expect(typeof keysetCursor).toBe("string");
    expect(typeof idCursor).toBe("string");
    const otherKinds = { keyset: [idCursor], id: [keysetCursor], none: [keysetCursor, idCursor] };
    for (const [path, kind] of Object.entries(LISTS)) {
      for (const cursor of ["not-a-cursor!", "abc", btoa("garbage"), "%00", "-1", "1.5", ...otherKinds[kind]]) {
        const res = await app().call("GET", withCursor(path, cursor));
        expectSane(res, `${path} cursor=${cursor}`);
        expectError(res, 422, "validation_failed", "cursor");
        expect(res.json.error.message).toBe("Cannot read cursor: it is not one this API returned");
      }
      // An empty cursor is the first page, on every list.
      expect((await app().call("GET", withCursor(path, ""))).status).toBe(200);
    }
  });
});

describe("write routes without a body", () => {
  const app = useApp();

  // curl -X DELETE, Swagger UI and most SDKs send no body (and no content-type) here.
  test("DELETE and POST …/revoke work with no request body", async () => {
    const pk = await createProviderKey(app());
    const proxy = await createProxyKey(app(), pk.id);
    const token = (await app().call("POST", "/api/admin-tokens", { name: "t", scopes: ["read"] })).json;
    const calls: Array<[string, string, number]> = [
      ["POST", `/api/proxy-keys/${proxy.id}/revoke`, 200],
      ["DELETE", `/api/proxy-keys/${proxy.id}`, 200],
      ["POST", `/api/admin-tokens/${token.id}/revoke`, 200],
      ["DELETE", `/api/provider-keys/${pk.id}`, 200],
      ["DELETE", `/api/provider-keys/${pk.id}`, 404],
    ];
    for (const [method, path, status] of calls) {
      const res = await app().call(method, path);
      expectSane(res, `${method} ${path}`);
      if (res.status !== status) throw new Error(`${method} ${path} without a body: ${res.status} ${res.text}`);
    }
  });
});
