/**
 * Where a client may put its proxy key: `Authorization: Bearer`, `x-api-key`
 * or `api-key`. Never the query string (URLs end up in logs and histories).
 */
import { describe, expect, test } from "bun:test";
import { chatBody, expectProxyError, fetchText, useProxyHarness } from "../helpers/proxy.ts";

const h = useProxyHarness({ keys: true });

const post = (headers: Record<string, string>, query = "") =>
  fetchText(`${h.baseUrl}/chat/completions${query}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: chatBody(),
  });

describe("accepted credential headers", () => {
  const cases: Array<[string, () => Record<string, string>]> = [
    ["Authorization: Bearer", () => ({ authorization: `Bearer ${h.keys.proxyKey}` })],
    ["Authorization: bearer (any case, extra spaces)", () => ({ authorization: `bearer   ${h.keys.proxyKey}  ` })],
    ["x-api-key", () => ({ "x-api-key": h.keys.proxyKey })],
    ["api-key", () => ({ "api-key": h.keys.proxyKey })],
  ];
  for (const [name, headers] of cases) {
    test(name, async () => {
      const res = await post(headers());
      if (res.status !== 200) throw new Error(`expected 200, got ${res.status}: ${res.text}`);
      expect(h.mock.requests).toHaveLength(1);
      const upstream = h.mock.requests[0]?.headers ?? {};
      // Whatever header the client used, the provider gets its own credential only.
      expect(upstream.authorization).toBe(`Bearer ${h.keys.providerSecret}`);
      expect(upstream["x-api-key"]).toBeUndefined();
      expect(upstream["api-key"]).toBeUndefined();
    });
  }
});

describe("the query string is not a credential", () => {
  for (const name of ["api_key", "api-key", "key", "access_token", "x-api-key"]) {
    test(`?${name}=<valid proxy key> → 401`, async () => {
      const res = await post({}, `?${name}=${encodeURIComponent(h.keys.proxyKey)}`);
      const body = expectProxyError(res, 401, "invalid_api_key");
      expect(body.error.message).toContain("no key given");
      expect(h.mock.requests).toHaveLength(0);
    });
  }
});
