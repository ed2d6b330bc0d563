/**
 * Strict proxied paths under Deno. Deno hands the server the path as sent,
 * dot segments and backslashes included (Bun resolves them first), and the
 * upstream `fetch` resolves `..` and `%2e%2e` in the URL keyward builds: a
 * request for `/v1/x/%2e%2e/%2e%2e/secret` would reach `/secret` on the
 * provider's host, outside the base URL. keyward refuses such paths with 400.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { generateKey } from "../../src/vault/key-format.ts";
import { denoOrWarn, postCreated, startKeywardOnDeno, type KeywardOnDeno } from "../helpers/deno.ts";
import { startMockProvider, type MockProvider } from "../helpers/mock-provider.ts";
import { httpHead, rawRequest } from "../helpers/raw-http.ts";

const deno = denoOrWarn("Deno strict-path test");

let server: KeywardOnDeno | undefined;
let mock: MockProvider | undefined;
let proxyKey = "";
const admin = generateKey("admin").token;

const post = <T>(path: string, body: unknown) => postCreated<T>(`${server?.url}`, admin, path, body);

beforeAll(async () => {
  if (!deno) return;
  mock = await startMockProvider();
  server = await startKeywardOnDeno(deno, "paths", { KEYWARD_ADMIN_TOKEN: admin });
  const provider = await post<{ id: string }>("/api/provider-keys", { name: "mock", provider: "openai", key: "sk-deno-paths-1234", base_url: mock.baseUrl });
  proxyKey = (await post<{ key: string }>("/api/proxy-keys", { name: "paths", provider_key_id: provider.id })).key;
});

afterAll(async () => {
  await server?.cleanup();
  await mock?.stop();
});

describe.skipIf(!deno)("strict paths on Deno", () => {
  test("dot segments and backslashes, plain or encoded, are refused with 400 and never reach the provider", async () => {
    const port = Number(new URL(server?.url ?? "").port);
    const paths = [
      "/v1/x/%2e%2e/%2e%2e/secret",
      "/v1/x/%2E./%2e%2E/secret",
      "/v1/x/../../secret",
      "/v1/x/./models",
      "/v1/x\\..\\..\\secret",
      "/v1/x/..%2f..%2fsecret",
    ];
    const answers: Array<[string, number, string | undefined]> = [];
    for (const path of paths) {
      const answer = await rawRequest(port, httpHead([`GET ${path} HTTP/1.1`, "Host: 127.0.0.1", `Authorization: Bearer ${proxyKey}`]));
      answers.push([path, answer.status, answer.status === 400 ? (JSON.parse(answer.body) as { error: { code: string } }).error.code : undefined]);
    }
    expect(answers).toEqual(paths.map((path) => [path, 400, "invalid_request"]));
    expect(mock?.requests.map((r) => r.path)).toEqual([]);
  });

  test("an ordinary path still goes through", async () => {
    const port = Number(new URL(server?.url ?? "").port);
    const answer = await rawRequest(port, httpHead(["GET /v1/models HTTP/1.1", "Host: 127.0.0.1", `Authorization: Bearer ${proxyKey}`]));
    expect(answer.status).toBe(200);
    expect(mock?.requests.map((r) => r.path)).toEqual(["/v1/models"]);
  });
});
