/**
 * Proxied paths are strict: the path after /v1 goes upstream appended to the
 * provider key's base URL, so anything an upstream could decode into another
 * path (`%2F`, `%5C`, dot segments, empty segments) is refused with 400
 * before authentication, and never reaches the provider. Sent on raw sockets:
 * `fetch` would normalise these paths before they left the test.
 */
import { describe, expect, test } from "bun:test";
import { createKeyPair, expectProxyError, useProxyHarness, type KeyPair } from "../helpers/proxy.ts";
import { httpHead, rawRequest } from "../helpers/raw-http.ts";

const h = useProxyHarness({ keys: true });

const port = () => Number(new URL(h.url).port);

function chat(path: string, key: string) {
  const body = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] });
  return rawRequest(port(), httpHead([`POST ${path} HTTP/1.1`, "Host: 127.0.0.1", `Authorization: Bearer ${key}`, "Content-Type: application/json"], body));
}

describe("encoded separators are refused with 400 and never forwarded", () => {
  const refused = [
    "/v1/chat%2Fcompletions",
    "/v1/chat%2fcompletions",
    "/v1/models/..%2f..%2fadmin",
    "/v1/models/%2e%2e%2F%2e%2e%2Fadmin",
    "/v1/chat%5Ccompletions",
    "/v1/chat/completions%5c..%5cx",
    "/v1//chat/completions",
    "/v1/chat//completions",
  ];
  for (const path of refused) {
    test(path, async () => {
      const answer = await chat(path, h.keys.proxyKey);
      const body = expectProxyError({ status: answer.status, headers: new Headers(answer.headers), text: answer.body }, 400, "invalid_request");
      expect(body.error.type).toBe("invalid_request_error");
      expect(body.error.message).toStartWith("Cannot forward request: the path after /v1 has ");
      expect(answer.headers["x-request-id"]).toBeString();
      expect(h.mock.requests).toHaveLength(0);
    });
  }

  test("a provider's path allow-list cannot be passed with ..%2f", async () => {
    // Anthropic keys serve /messages… only; `messages/..%2f..%2fx` matched that pattern and went upstream as is.
    const anthropic: KeyPair = await createKeyPair(h.t, { provider: "anthropic", base_url: h.mock.baseUrl });
    const answer = await chat("/v1/messages/..%2f..%2forganizations/keys", anthropic.proxyKey);
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toMatchObject({ error: { code: "invalid_request", param: null } });
    expect(h.mock.requests).toHaveLength(0);
  });

  test("refused before authentication: no key needed to be told, none verified", async () => {
    const failures = () => h.t.services.metrics.authFailures.render();
    const before = failures();
    const answer = await rawRequest(port(), httpHead(["GET /v1/models%2F..%2F HTTP/1.1", "Host: 127.0.0.1"]));
    expect(answer.status).toBe(400);
    expect(failures()).toBe(before);
  });
});

describe("what the runtime hands keyward", () => {
  test("Bun resolves plain and %2e dot segments and backslashes first: what is forwarded is the resolved path", async () => {
    for (const path of ["/v1/x/../chat/completions", "/v1/x/%2e%2E/chat/completions", "/v1/./chat/completions", "/v1/x\\..\\chat/completions"]) {
      h.mock.reset();
      const answer = await chat(path, h.keys.proxyKey);
      expect([path, answer.status]).toEqual([path, 200]);
      expect(h.mock.requests.map((r) => r.path)).toEqual(["/v1/chat/completions"]);
    }
  });

  test("the query string is left alone", async () => {
    const answer = await chat("/v1/chat/completions?next=..%2f%2e%2e%5c//x", h.keys.proxyKey);
    expect(answer.status).toBe(200);
    expect(h.mock.requests.map((r) => [r.path, r.query.next])).toEqual([["/v1/chat/completions", "../..\\//x"]]);
  });

  test("dots inside a name and a trailing slash are not dot or empty segments", async () => {
    const answer = await chat("/v1/chat/completions/", h.keys.proxyKey);
    expect(answer.status).not.toBe(400);
    h.mock.reset();
    const dotted = await rawRequest(
      port(),
      httpHead(["GET /v1/models/ft:gpt-4o-mini..v2.%2e.x HTTP/1.1", "Host: 127.0.0.1", `Authorization: Bearer ${h.keys.proxyKey}`]),
    );
    expect(dotted.status).not.toBe(400);
    expect(h.mock.requests.map((r) => r.path)).toEqual(["/v1/models/ft:gpt-4o-mini..v2.%2e.x"]);
  });
});
