/**
 * Answers without a body (204, 304, any answer to HEAD) and requests
 * without one (`content-length: 0`) pass through as they are: keyward tells
 * them apart by method and status, without asking the runtime for a body
 * stream on the hot path, so these must keep working without one.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { useProxyHarness } from "../helpers/proxy.ts";

interface Seen {
  method: string;
  path: string;
  body: string;
}

let seen: Seen[] = [];
/** A provider with body-less answers: `/v1/status/<code>` answers that status, HEAD gets headers only. */
let upstream: ReturnType<typeof Bun.serve>;

beforeAll(() => {
  upstream = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(request) {
      const path = new URL(request.url).pathname;
      seen.push({ method: request.method, path, body: await request.text() });
      const status = Number(path.match(/^\/v1\/status\/(\d+)$/)?.[1] ?? 200);
      if (status === 204 || status === 304) {
        return new Response(null, { status, headers: { etag: '"v1"', "content-type": "application/json" } });
      }
      return Response.json({ object: "list", data: [] }, { status });
    },
  });
});
afterAll(() => upstream.stop(true));

const h = useProxyHarness({
  // A rate-limited key: its limits do not read bodies, so any path passes through (keys whose limits read the
  // body reach only the endpoints keyward can meter).
  keys: () => ({ base_url: `http://127.0.0.1:${upstream.port}/v1`, proxy: { rpm: 10_000 } }),
});

const call = (method: string, path: string, init: Omit<RequestInit, "headers"> & { headers?: Record<string, string> } = {}) =>
  fetch(`${h.baseUrl}${path}`, { method, ...init, headers: { authorization: `Bearer ${h.keys.proxyKey}`, ...init.headers } });

async function loggedStatuses(): Promise<number[]> {
  const logs = await h.t.call("GET", `/api/logs?proxy_key_id=${h.keys.proxyKeyId}`);
  return (logs.json.data as Array<{ status: number }>).map((row) => row.status);
}

test("204 from the provider: 204 to the client, no body, logged", async () => {
  seen = [];
  const response = await call("DELETE", "/status/204");
  expect(response.status).toBe(204);
  expect(response.headers.get("etag")).toBe('"v1"');
  expect(await response.text()).toBe("");
  expect(seen).toEqual([{ method: "DELETE", path: "/v1/status/204", body: "" }]);
  expect(await loggedStatuses()).toContain(204);
});

test("304 from the provider passes through as 304", async () => {
  const response = await call("GET", "/status/304", { headers: { "if-none-match": '"v1"' } });
  expect(response.status).toBe(304);
  expect(await response.text()).toBe("");
});

test("HEAD: the provider's status and headers, no body", async () => {
  seen = [];
  const response = await call("HEAD", "/models");
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toContain("application/json");
  expect(await response.text()).toBe("");
  expect(seen.map((s) => s.method)).toEqual(["HEAD"]);
});

test("a POST with content-length: 0 is a request without a body: forwarded, not refused for a missing model", async () => {
  seen = [];
  const response = await call("POST", "/models", { headers: { "content-length": "0" } });
  expect(response.status).toBe(200);
  expect(((await response.json()) as { object: string }).object).toBe("list");
  expect(seen).toEqual([{ method: "POST", path: "/v1/models", body: "" }]);
});
