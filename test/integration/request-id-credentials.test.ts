/**
 * x-request-id is never a credential: a client-sent value shaped like a key
 * (here the very key the client authenticates with, as a misconfigured client
 * or proxy would send it) is not adopted as the request id, which is echoed
 * in the response, written to the access line and stored in the request log.
 * Real HTTP into the app wrapped by `withAccessLog`, as `src/server.ts` serves it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { withAccessLog, type AccessEntry } from "../../src/telemetry/access-log.ts";
import { chatBody, useProxyHarness } from "../helpers/proxy.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const h = useProxyHarness({ keys: true });
const entries: AccessEntry[] = [];
let server: ReturnType<typeof Bun.serve>;
let url: string;

beforeAll(() => {
  const handle = withAccessLog(h.t.fetch, { access: (entry) => entries.push(entry), trustProxy: false });
  server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (request, srv) => handle(request, { remoteAddress: srv.requestIP(request)?.address }) });
  url = `http://127.0.0.1:${server.port}`;
});

afterAll(() => server?.stop(true));

async function proxied(requestId: string): Promise<string> {
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${h.keys.proxyKey}`, "content-type": "application/json", "x-request-id": requestId },
    body: chatBody(),
  });
  expect(response.status).toBe(200);
  await response.arrayBuffer();
  // A forwarded answer's x-request-id is the provider's; keyward's own id travels in its own header.
  return response.headers.get("x-keyward-request-id") ?? "";
}

/** The request ids of the key's request-log rows, newest first. */
async function loggedIds(): Promise<string[]> {
  await h.t.flushLog();
  const logs = await h.t.call("GET", `/api/logs?proxy_key_id=${h.keys.proxyKeyId}`);
  return (logs.json.data as Array<{ request_id: string }>).map((row) => row.request_id);
}

test("a proxy key sent as x-request-id is replaced by a UUID: not echoed, not stored, not sent upstream", async () => {
  const before = h.mock.requests.length;
  const id = await proxied(h.keys.proxyKey);
  expect(id).toMatch(UUID);
  const upstream = h.mock.requests[before];
  expect(upstream?.headers["x-request-id"]).toBe(id);
  expect(JSON.stringify(upstream?.headers)).not.toContain(h.keys.proxyKey);
  // The request-log row carries the same id as the response (and the proxy's access line, written from it).
  expect((await loggedIds())[0]).toBe(id);
});

test("an admin token sent as x-request-id on an admin route is replaced too", async () => {
  const response = await fetch(`${url}/api/admin-tokens`, { headers: { authorization: `Bearer ${h.t.rootToken}`, "x-request-id": h.t.rootToken } });
  expect(response.status).toBe(200);
  await response.arrayBuffer();
  const id = response.headers.get("x-request-id") ?? "";
  expect(id).toMatch(UUID);
  expect(entries.find((e) => e.requestId === id)?.path).toBe("/api/admin-tokens");
  expect(JSON.stringify(entries)).not.toContain(h.t.rootToken);
});

test("a request id that is not a credential is still adopted, so traces join across hops", async () => {
  const trace = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
  expect(await proxied(trace)).toBe(trace);
  expect((await loggedIds())[0]).toBe(trace);
});
