/**
 * A VM that reaches providers only through an egress proxy: with HTTP_PROXY
 * set, the compiled binary's provider requests go through it. keyward's own
 * upstream client does not speak to proxies, so this holds only because the
 * server hands every exchange to `fetch` then (`config.egressProxy`).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { MOCK_TEXT } from "../helpers/mock-provider.ts";
import { chatAnswerText, chatBody, createKeyPairOver, startBinaryHarness, type BinaryHarness, type KeyPair } from "../helpers/proxy.ts";

let h: BinaryHarness;
let keys: KeyPair;
/** What the egress proxy was asked for (absolute-form request targets). */
const relayed: string[] = [];
let egress: ReturnType<typeof Bun.serve>;

beforeAll(async () => {
  let mockOrigin = "";
  // A forward proxy that relays to the mock provider whatever host was asked for.
  egress = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(request) {
      relayed.push(request.url);
      const target = new URL(request.url);
      return fetch(`${mockOrigin}${target.pathname}${target.search}`, {
        method: request.method,
        headers: request.headers,
        body: request.method === "GET" ? undefined : await request.arrayBuffer(),
      });
    },
  });
  h = await startBinaryHarness({}, { HTTP_PROXY: `http://127.0.0.1:${egress.port}` });
  mockOrigin = new URL(h.mock.baseUrl).origin;
  // A host that resolves nowhere: only the egress proxy can reach "it".
  keys = await createKeyPairOver(h.api, { base_url: "http://provider.invalid/v1" });
}, 30_000);
afterAll(async () => {
  await h?.cleanup();
  await egress?.stop(true);
}, 30_000);

test("with HTTP_PROXY set, provider requests go through the egress proxy", async () => {
  for (let i = 0; i < 3; i++) {
    const response = await fetch(`${h.server.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${keys.proxyKey}`, "content-type": "application/json" },
      body: chatBody(),
    });
    expect(response.status).toBe(200);
    expect(chatAnswerText(await response.text())).toBe(MOCK_TEXT);
  }
  expect(relayed).toEqual(Array(3).fill("http://provider.invalid/v1/chat/completions"));
  expect(h.mock.requests.map((r) => r.headers.authorization)).toEqual(Array(3).fill(`Bearer ${keys.providerSecret}`));
});
