/**
 * Shared pieces for the admin-API suites (test/integration/*) that drive an
 * in-process app: a fresh app per test, the admin error-shape assertion, and
 * creating provider keys, proxy keys and admin tokens through the API.
 */
import { afterEach, beforeEach, expect } from "bun:test";
import { createTestApp, type TestApp, type TestAppOptions } from "./app.ts";

/** A fresh app (temp dir, database, root token) per test, cleaned up after it. */
export function useApp(options: () => TestAppOptions = () => ({})): () => TestApp {
  let current: TestApp | undefined;
  beforeEach(async () => {
    current = await createTestApp(options());
  });
  afterEach(async () => {
    await current?.cleanup();
    current = undefined;
  });
  return () => {
    if (!current) throw new Error("no test app: call inside a test");
    return current;
  };
}

type Response = Awaited<ReturnType<TestApp["call"]>>;

/** Asserts the admin error shape exactly: `{"error":{"code","message"[,"field"]}}`. */
export function expectError(res: Response, status: number, code: string, field?: string): void {
  if (res.status !== status) throw new Error(`expected ${status} ${code}, got ${res.status}: ${res.text}`);
  expect(res.headers.get("content-type") ?? "").toContain("application/json");
  expect(Object.keys(res.json)).toEqual(["error"]);
  const keys = Object.keys(res.json.error).sort();
  expect(keys).toEqual(field === undefined ? ["code", "message"] : ["code", "field", "message"]);
  expect(res.json.error.code).toBe(code);
  expect(typeof res.json.error.message).toBe("string");
  expect(res.json.error.message.length).toBeGreaterThan(0);
  if (field !== undefined) expect(res.json.error.field).toBe(field);
}

/** Asserts a status, with the response text in the failure message. */
export function expectStatus(res: Response, status: number): void {
  if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${res.text}`);
}

let counter = 0;

export interface ProviderKeyInput {
  name?: string;
  provider?: string;
  key?: string;
  base_url?: string;
  disabled?: boolean;
}

/** Creates a provider key through the API and returns its view. */
export async function createProviderKey(app: TestApp, input: ProviderKeyInput = {}) {
  counter++;
  const res = await app.call("POST", "/api/provider-keys", {
    name: `provider-${counter}`,
    provider: "openai",
    key: `sk-test-${counter}-abcdefghijklmnopqrstuvwxyz`,
    ...input,
  });
  expectStatus(res, 201);
  return res.json as { id: string; name: string; key_hint: string; base_url: string; provider: string; disabled: boolean };
}

/** Mints a proxy key through the API and returns the create response. */
export async function createProxyKey(app: TestApp, providerKeyId: string, extra: Record<string, unknown> = {}) {
  counter++;
  const res = await app.call("POST", "/api/proxy-keys", { name: `proxy-${counter}`, provider_key_id: providerKeyId, ...extra });
  expectStatus(res, 201);
  return res.json as { id: string; key: string; status: string; expires_at: string | null; name: string };
}

/** Creates an admin token through the API and returns the create response. */
export async function createAdminToken(app: TestApp, scopes: string[], extra: Record<string, unknown> = {}) {
  counter++;
  const res = await app.call("POST", "/api/admin-tokens", { name: `token-${counter}`, scopes, ...extra });
  expectStatus(res, 201);
  return res.json as { id: string; token: string; scopes: string[]; status: string };
}

/** Follows `next_cursor` through a whole listing. */
export async function listAll(app: TestApp, path: string, limit: number): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  const sep = path.includes("?") ? "&" : "?";
  do {
    const query: string = `${sep}limit=${limit}${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`;
    const res = await app.call("GET", `${path}${query}`);
    expectStatus(res, 200);
    expect(res.json.data.length).toBeLessThanOrEqual(limit);
    for (const row of res.json.data as Array<{ id: string | number }>) ids.push(String(row.id));
    cursor = res.json.next_cursor;
    pages++;
    if (pages > 100) throw new Error("pagination does not end");
  } while (cursor !== null);
  return { ids, pages };
}
