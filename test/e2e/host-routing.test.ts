/**
 * Routing never depends on the Host header. Bun builds a request's URL from
 * it (`http://<Host><path>`, or the path alone when the Host is empty, holds
 * a "/" or is missing on HTTP/1.0), and Elysia's router reads the path from
 * index 11 on: a Host of under four characters used to shift the routed path
 * (`/zz/api/provider-keys` served as `/api/provider-keys`, with the access
 * line recording the other one), and a path-only URL sent `/v1/…` to the
 * admin app. Through the compiled binary, on raw sockets.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createKeyPairOver, startBinaryHarness, type BinaryHarness, type KeyPair } from "../helpers/proxy.ts";
import { rawRequest, type RawAnswer } from "../helpers/raw-http.ts";

let h: BinaryHarness;
let keys: KeyPair;
let adminToken = "";

beforeAll(async () => {
  h = await startBinaryHarness();
  keys = await createKeyPairOver(h.api, { base_url: h.mock.baseUrl });
  adminToken = h.server.rootToken() ?? "";
});

afterAll(() => h?.cleanup());

/** How each case names itself, and the head lines that carry its Host (or none). */
const HOSTS: Array<[string, string[], string]> = [
  ["Host: a", ["Host: a"], "HTTP/1.1"],
  ["Host: ab", ["Host: ab"], "HTTP/1.1"],
  ["Host: a:1", ["Host: a:1"], "HTTP/1.1"],
  ["empty Host", ["Host: "], "HTTP/1.1"],
  ["Host with a slash", ["Host: x/y"], "HTTP/1.1"],
  ["HTTP/1.0 without Host", [], "HTTP/1.0"],
  ["an ordinary Host", ["Host: keyward.example.com"], "HTTP/1.1"],
];

let sequence = 0;

/** Sends `GET target` with the case's Host and a fresh request id; returns the answer and that id. */
async function get(target: string, host: [string, string[], string], auth: string): Promise<{ answer: RawAnswer; id: string }> {
  const id = `host-case-${++sequence}`;
  const [, hostLines, version] = host;
  const head = [`GET ${target} ${version}`, ...hostLines, `Authorization: Bearer ${auth}`, `x-request-id: ${id}`, "Connection: close"];
  return { answer: await rawRequest(Number(new URL(h.server.url).port), `${head.join("\r\n")}\r\n\r\n`), id };
}

/** The path of the access line with this request id (the proxy writes its line once the answer has finished). */
async function loggedPath(id: string): Promise<string | undefined> {
  for (let waited = 0; waited < 3_000; waited += 20) {
    for (const line of h.server.stderr().split("\n")) {
      if (!line.includes(`"request_id":"${id}"`)) continue;
      return (JSON.parse(line) as { path?: string }).path;
    }
    await Bun.sleep(20);
  }
  return undefined;
}

describe("the routed path is the requested path, whatever the Host", () => {
  for (const host of HOSTS) {
    test(host[0], async () => {
      const seen: Array<[string, number, string | undefined]> = [];
      for (const [target, auth] of [
        ["/api/provider-keys", adminToken],
        ["/zz/api/provider-keys", adminToken],
        ["/v1/models", keys.proxyKey],
        ["/zz/v1/models", keys.proxyKey],
      ] as const) {
        const { answer, id } = await get(target, host, auth);
        seen.push([target, answer.status, await loggedPath(id)]);
      }
      expect(seen).toEqual([
        ["/api/provider-keys", 200, "/api/provider-keys"],
        ["/zz/api/provider-keys", 404, "/zz/api/provider-keys"],
        ["/v1/models", 200, "/v1/models"],
        ["/zz/v1/models", 404, "/zz/v1/models"],
      ]);
    });
  }

  test("what was proxied went upstream under the requested path", () => {
    expect(h.mock.requests.map((r) => r.path)).toEqual(HOSTS.map(() => "/v1/models"));
  });
});
