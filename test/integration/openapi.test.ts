import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { ERROR_CODES as DEFINED_ERROR_CODES } from "../../src/errors.ts";
import { createTestApp, type TestApp } from "../helpers/app.ts";

interface Schema {
  type?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  enum?: string[];
  items?: Schema;
  additionalProperties?: boolean;
}

interface Operation {
  tags?: string[];
  summary?: string;
  security?: Array<Record<string, string[]>>;
  parameters?: Array<{ in: string; name: string }>;
  requestBody?: { required?: boolean; content?: Record<string, { schema?: Schema }> };
  responses?: Record<string, { content?: Record<string, { schema?: Schema }> }>;
}

interface Spec {
  openapi: string;
  tags: Array<{ name: string }>;
  components: { securitySchemes: Record<string, { type: string; scheme?: string }> };
  paths: Record<string, Record<string, Operation>>;
}

const ERROR_CODES = [
  "invalid_request",
  "validation_failed",
  "unauthorized",
  "forbidden",
  "not_found",
  "conflict",
  "payload_too_large",
  "internal_error",
  "bad_gateway",
];

describe("OpenAPI spec (GET /docs/json)", () => {
  let app: TestApp;
  let spec: Spec;
  let operations: Array<{ method: string; path: string; op: Operation }>;

  beforeEach(async () => {
    app = await createTestApp();
    const res = await app.call("GET", "/docs/json", undefined, { token: null });
    expect(res.status).toBe(200);
    spec = res.json;
    operations = [];
    for (const [path, item] of Object.entries(spec.paths)) {
      if (!path.startsWith("/api/")) continue;
      for (const [method, op] of Object.entries(item)) operations.push({ method: method.toUpperCase(), path, op });
    }
  });

  afterEach(() => app.cleanup());

  const each = (check: (o: { method: string; path: string; op: Operation }) => void) => {
    expect(operations.length).toBeGreaterThan(10);
    for (const o of operations) {
      try {
        check(o);
      } catch (err) {
        throw new Error(`${o.method} ${o.path}: ${(err as Error).message}`);
      }
    }
  };

  test("is OpenAPI 3 and needs no token", () => {
    expect(spec.openapi).toMatch(/^3\./);
  });

  test("components.securitySchemes.bearerAuth is http bearer", () => {
    expect(spec.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
  });

  test("documents the vault core routes", () => {
    const listed = operations.map((o) => `${o.method} ${o.path}`);
    for (const expected of [
      "POST /api/provider-keys",
      "GET /api/provider-keys",
      "GET /api/provider-keys/{id}",
      "PATCH /api/provider-keys/{id}",
      "DELETE /api/provider-keys/{id}",
      "POST /api/proxy-keys",
      "GET /api/proxy-keys",
      "GET /api/proxy-keys/{id}",
      "PATCH /api/proxy-keys/{id}",
      "POST /api/proxy-keys/{id}/revoke",
      "POST /api/proxy-keys/{id}/rotate",
      "DELETE /api/proxy-keys/{id}",
      "POST /api/admin-tokens",
      "GET /api/admin-tokens",
      "POST /api/admin-tokens/{id}/revoke",
      "GET /api/audit",
    ]) {
      expect(listed).toContain(expected);
    }
    // The proxy surface and the docs themselves are not admin operations.
    expect(Object.keys(spec.paths).filter((p) => p.startsWith("/v1") || p.startsWith("/docs"))).toEqual([]);
  });

  test("every /api operation has a known tag and a summary", () => {
    const known = new Set(spec.tags.map((t) => t.name));
    each(({ op }) => {
      expect(op.tags?.length ?? 0).toBeGreaterThan(0);
      for (const tag of op.tags ?? []) expect(known.has(tag)).toBe(true);
      expect(typeof op.summary).toBe("string");
      expect((op.summary ?? "").length).toBeGreaterThan(3);
    });
  });

  test("every /api operation requires bearerAuth, but the OIDC exchange, which takes an OIDC ID token", () => {
    each(({ method, path, op }) => {
      const expected = method === "POST" && path === "/api/oidc/exchange" ? "oidcIdToken" : "bearerAuth";
      expect(op.security).toEqual([{ [expected]: [] }]);
    });
    expect(spec.components.securitySchemes.oidcIdToken).toMatchObject({ type: "http", scheme: "bearer" });
  });

  test("probes outside /api do not ask for a token", () => {
    expect(spec.paths["/healthz"]?.get?.security).toEqual([]);
  });

  test("every /api operation has a 2xx response with a JSON object schema", () => {
    each(({ op }) => {
      const ok = Object.entries(op.responses ?? {}).filter(([status]) => /^2\d\d$/.test(status));
      expect(ok).toHaveLength(1);
      const schema = ok[0]![1].content?.["application/json"]?.schema;
      expect(schema?.type).toBe("object");
      expect(Object.keys(schema?.properties ?? {}).length).toBeGreaterThan(0);
    });
  });

  test("every /api operation documents its errors in the error shape", () => {
    // One closed list of codes, the same everywhere, covering at least the vault's own.
    let codes: string[] | undefined;
    each(({ op }) => {
      const responses = op.responses ?? {};
      const expected = ["401", "403"];
      if ((op.parameters?.length ?? 0) > 0 || op.requestBody) expected.push("422");
      if (op.requestBody) expected.push("400");
      for (const status of expected) {
        const schema = responses[status]?.content?.["application/json"]?.schema;
        if (!schema) throw new Error(`no ${status} response`);
        expect(schema.required).toEqual(["error"]);
        const error = schema.properties?.error;
        expect(error?.required).toEqual(["code", "message"]);
        const listed = error?.properties?.code?.enum;
        for (const code of ERROR_CODES) expect(listed).toContain(code);
        codes ??= listed;
        expect(listed).toEqual(codes as string[]);
        expect(error?.properties?.message?.type).toBe("string");
        expect(error?.properties?.field?.type).toBe("string");
      }
    });
  });

  test("the error code enum is the one list src/errors.ts defines, in its order", () => {
    each(({ op }) => {
      for (const [status, response] of Object.entries(op.responses ?? {})) {
        if (!/^[45]\d\d$/.test(status)) continue;
        const code = response.content?.["application/json"]?.schema?.properties?.error?.properties?.code;
        expect(code?.enum).toEqual([...DEFINED_ERROR_CODES]);
      }
    });
  });

  test("list operations answer {data, next_cursor}", () => {
    each(({ method, path, op }) => {
      // The calling token's own record is one object, not a list.
      if (method !== "GET" || /\{\w+\}$/.test(path) || path === "/api/admin-tokens/self") return;
      const schema = op.responses?.["200"]?.content?.["application/json"]?.schema;
      expect(schema?.properties?.data?.type).toBe("array");
      expect(schema?.properties).toHaveProperty("next_cursor");
    });
  });

  test("writes with a body declare a strict JSON request schema; revokes, disables, enables and webhook tests take none", () => {
    each(({ method, path, op }) => {
      if (/\/(revoke|disable|enable|test)$/.test(path)) {
        expect(op.requestBody).toBeUndefined();
        return;
      }
      if (method !== "POST" && method !== "PUT" && method !== "PATCH") return;
      // The exchange's only input is the token in its Authorization header.
      if (path === "/api/oidc/exchange") {
        expect(op.requestBody).toBeUndefined();
        return;
      }
      expect(op.requestBody?.required).toBe(true);
      const schema = op.requestBody?.content?.["application/json"]?.schema;
      expect(schema?.type).toBe("object");
      expect(Object.keys(schema?.properties ?? {}).length).toBeGreaterThan(0);
      expect(schema?.additionalProperties).toBe(false);
    });
  });

  test("create bodies require what the services need", () => {
    const body = (path: string) => spec.paths[path]?.post?.requestBody?.content?.["application/json"]?.schema;
    expect(body("/api/provider-keys")?.required?.sort()).toEqual(["key", "name", "provider"]);
    // One body for admins (name and provider key required, checked by the handler: 422 naming the field)
    // and keys:issue tokens (name generated, provider_key by id or name): no field is required by the schema.
    expect(body("/api/proxy-keys")?.required ?? []).toEqual([]);
    expect(Object.keys(body("/api/proxy-keys")?.properties ?? {})).toEqual(expect.arrayContaining(["name", "provider_key_id", "provider_key"]));
    expect(body("/api/oidc/trust-policies")?.required?.sort()).toEqual([
      "audience",
      "budget_usd",
      "claims",
      "issuer",
      "name",
      "provider_key_id",
      "ttl_seconds",
    ]);
    expect(body("/api/admin-tokens")?.required?.sort()).toEqual(["name", "scopes"]);
  });

  test("rotation answers the new key once and documents its grace, with examples", () => {
    const op = spec.paths["/api/proxy-keys/{id}/rotate"]?.post;
    const answer = op?.responses?.["200"]?.content?.["application/json"]?.schema;
    expect(answer?.properties).toHaveProperty("key");
    expect(answer?.required).toContain("key");
    expect(answer?.properties).toHaveProperty("previous_secret_expires_at");
    expect(op?.responses).toHaveProperty("409");
    // The document's generator writes the first of a schema's examples as `example`.
    const body = op?.requestBody?.content?.["application/json"]?.schema as Schema & { example?: unknown };
    expect(body.required ?? []).toEqual([]);
    expect(body.properties?.grace_seconds).toMatchObject({ minimum: 0, maximum: 604_800, example: 86_400 });
    expect(body.example).toEqual({ grace_seconds: 86_400 });
  });

  test("only create responses carry the one-time secret", () => {
    const created = (path: string) => spec.paths[path]?.post?.responses?.["201"]?.content?.["application/json"]?.schema;
    expect(created("/api/proxy-keys")?.properties).toHaveProperty("key");
    expect(created("/api/proxy-keys")?.required).toContain("key");
    expect(created("/api/admin-tokens")?.properties).toHaveProperty("token");
    expect(created("/api/webhooks")?.properties).toHaveProperty("secret");
    expect(created("/api/webhooks")?.required).toContain("secret");
    // Provider keys are never returned, not even on create.
    expect(created("/api/provider-keys")?.properties).not.toHaveProperty("key");
    each(({ method, op }) => {
      if (method === "POST") return;
      const schema = Object.entries(op.responses ?? {}).find(([s]) => s.startsWith("2"))?.[1].content?.["application/json"]?.schema;
      const item = schema?.properties?.data?.items ?? schema;
      expect(item?.properties ?? {}).not.toHaveProperty("key");
      expect(item?.properties ?? {}).not.toHaveProperty("token");
      expect(item?.properties ?? {}).not.toHaveProperty("secret_hash");
      expect(item?.properties ?? {}).not.toHaveProperty("secret");
    });
  });
});
