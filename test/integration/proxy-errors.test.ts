/**
 * Errors keyward itself produces on `/v1/*`: the OpenAI shape
 * `{"error":{"message","type","code"}}` with the right status; unknown ids
 * and wrong secrets are indistinguishable; garbage credentials are a 401,
 * never a 500; bodies keyward cannot parse are still forwarded untouched.
 */
import { describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { generateKey } from "../../src/vault/key-format.ts";
import { chatBody, createKeyPair, expectProxyError, fetchText, startProxyHarness, useProxyHarness } from "../helpers/proxy.ts";

const h = useProxyHarness({ keys: true });

const chat = (headers: Record<string, string>, body = chatBody()) =>
  fetchText(`${h.baseUrl}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe("401 invalid_api_key", () => {
  test("missing", async () => {
    const body = expectProxyError(await chat({}), 401, "invalid_api_key");
    expect(body.error.type).toBe("authentication_error");
    expect(body.error.message).toContain("no key given");
  });

  for (const [name, token] of [
    ["a provider-style key", "sk-proj-abcdefghijklmnopqrstuvwxyz"],
    ["too short", "kwp_abc_def"],
    ["an admin token", generateKey("admin").token],
    ["right shape, bad characters", `kwp_${"-".repeat(12)}_${"a".repeat(38)}`],
  ] as const) {
    test(`malformed: ${name}`, async () => {
      const body = expectProxyError(await chat(bearer(token)), 401, "invalid_api_key");
      expect(body.error.message).toContain("malformed");
    });
  }

  test("unknown id and wrong secret get the same answer", async () => {
    const unknown = expectProxyError(await chat(bearer(generateKey("proxy").token)), 401, "invalid_api_key");
    const wrong = expectProxyError(await chat(bearer(generateKey("proxy", h.keys.proxyKeyId).token)), 401, "invalid_api_key");
    expect(wrong).toEqual(unknown);
    expect(wrong.error.message).not.toContain(h.keys.proxyKeyId);
  });

  test("a refusal built once still answers each request as its own", async () => {
    const wrong = bearer(generateKey("proxy", h.keys.proxyKeyId).token);
    const first = await chat({ ...wrong, "x-request-id": "refused-1" });
    const second = await chat({ ...wrong, "x-request-id": "refused-2" });
    const malformed = await chat(bearer("kwp_abc_def"));
    expect(expectProxyError(first, 401, "invalid_api_key")).toEqual(expectProxyError(second, 401, "invalid_api_key"));
    expect(expectProxyError(malformed, 401, "invalid_api_key").error.message).toContain("malformed");
    expect([first.headers.get("x-request-id"), second.headers.get("x-request-id")]).toEqual(["refused-1", "refused-2"]);
    for (const res of [first, second, malformed]) {
      expect(res.headers.get("content-type")).toBe("application/json");
      expect(res.headers.get("content-length")).toBe(String(new TextEncoder().encode(res.text).byteLength));
    }
  });

  test("revoked", async () => {
    const pair = await createKeyPair(h.t, { base_url: h.mock.baseUrl });
    expect((await h.t.call("POST", `/api/proxy-keys/${pair.proxyKeyId}/revoke`, {})).status).toBe(200);
    const body = expectProxyError(await chat(bearer(pair.proxyKey)), 401, "invalid_api_key");
    expect(body.error.message).toContain("revoked");
  });

  test("expired", async () => {
    const pair = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { ttl_seconds: 1 } });
    h.clock.advance(1_000);
    const body = expectProxyError(await chat(bearer(pair.proxyKey)), 401, "invalid_api_key");
    expect(body.error.message).toContain("key expired");
  });

  test("deleted", async () => {
    const pair = await createKeyPair(h.t, { base_url: h.mock.baseUrl });
    expect((await chat(bearer(pair.proxyKey))).status).toBe(200);
    expect((await h.t.call("DELETE", `/api/proxy-keys/${pair.proxyKeyId}`, {})).status).toBe(200);
    expectProxyError(await chat(bearer(pair.proxyKey)), 401, "invalid_api_key");
  });

  test("none of them reached the provider", async () => {
    await chat({});
    await chat(bearer(generateKey("proxy").token));
    expect(h.mock.requests).toHaveLength(0);
  });
});

describe("garbage credential headers: 401, never 500", () => {
  const garbage: Array<[string, Record<string, string>]> = [
    ["Bearer with nothing", { authorization: "Bearer" }],
    ["Bearer and spaces", { authorization: "Bearer    " }],
    ["Basic auth", { authorization: "Basic dXNlcjpwYXNz" }],
    ["very long bearer (12 000 chars)", { authorization: `Bearer ${"k".repeat(12_000)}` }],
    ["very long kwp_ lookalike", { authorization: `Bearer kwp_${"A".repeat(12)}_${"b".repeat(11_000)}` }],
    ["Latin-1 bytes", { authorization: "Bearer kwp_\u00e9\u00e8\u00ff\u00e0" }],
    ["empty x-api-key", { "x-api-key": "" }],
    ["whitespace api-key", { "api-key": "   " }],
    ["control characters", { authorization: "Bearer kwp_\tabc" }],
  ];
  for (const [name, headers] of garbage) {
    test(name, async () => {
      const res = await chat(headers);
      expectProxyError(res, 401, "invalid_api_key");
    });
  }

  test("a valid proxy key with junk around it in the same header", async () => {
    for (const value of [`Bearer ${h.keys.proxyKey}junk`, `Bearer ${h.keys.proxyKey} junk`, `Bearer junk ${h.keys.proxyKey}`, h.keys.proxyKey]) {
      expectProxyError(await chat({ authorization: value }), 401, "invalid_api_key");
    }
    expect(h.mock.requests).toHaveLength(0);
  });

  test("UTF-8 bytes in the credential header (raw socket)", async () => {
    const port = Number(new URL(h.url).port);
    const body = chatBody();
    const request = Buffer.concat([
      Buffer.from(
        [
          "POST /v1/chat/completions HTTP/1.1",
          `Host: 127.0.0.1:${port}`,
          "Content-Type: application/json",
          `Content-Length: ${Buffer.byteLength(body)}`,
          "Connection: close",
          "",
        ].join("\r\n") + "\r\n",
      ),
      Buffer.from("Authorization: Bearer kwp_ключ🔑_秘密\r\nX-Api-Key: 🔑🔑\r\n\r\n", "utf8"),
      Buffer.from(body),
    ]);
    const response = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, "127.0.0.1");
      let text = "";
      socket.on("error", reject);
      socket.on("data", (d) => {
        text += d.toString("utf8");
      });
      socket.on("end", () => resolve(text));
      socket.on("close", () => resolve(text));
      socket.on("connect", () => socket.write(request));
    });
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1]);
    expect(status).toBe(401);
    expect(response).toContain('"code":"invalid_api_key"');
  });
});

describe("404", () => {
  test("an anthropic key on a path Anthropic does not serve", async () => {
    const anthropic = await createKeyPair(h.t, { provider: "anthropic", base_url: h.mock.baseUrl });
    for (const path of ["/v1/embeddings", "/v1/chat/completions", "/v1/responses"]) {
      const res = await fetchText(`${h.url}${path}`, {
        method: "POST",
        headers: { "x-api-key": anthropic.proxyKey, "content-type": "application/json" },
        body: "{}",
      });
      const body = expectProxyError(res, 404, "not_found");
      expect(body.error.message).toContain(path);
    }
    expect(h.mock.requests).toHaveLength(0);
  });

  test("/v1 alone", async () => {
    const res = await fetchText(`${h.url}/v1`, { headers: bearer(h.keys.proxyKey) });
    expectProxyError(res, 404, "not_found");
  });

  test("an unknown path on an OpenAI key is the provider's 404, passed through", async () => {
    const res = await fetchText(`${h.baseUrl}/no-such-endpoint`, { headers: bearer(h.keys.proxyKey) });
    expect(res.status).toBe(404);
    expect(JSON.parse(res.text)).toEqual({
      error: { message: "Invalid URL (GET /v1/no-such-endpoint)", type: "invalid_request_error", param: null, code: null },
    });
  });
});

describe("bodies keyward cannot parse are forwarded untouched", () => {
  const malformed = [
    ["truncated JSON", '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}'],
    ["truncated stream request", '{"model":"gpt-4o-mini","stream":true,"messages":['],
    ["trailing garbage", '{"model":"gpt-4o-mini","messages":[]} trailing'],
    ["not an object", '["model", "gpt-4o-mini"]'],
    ["odd whitespace and unicode", '{ "model" :\t"gpt-4o-mini" ,\n "messages": [ {"content": "h\u00e9llo \ud83d\ude00 \\u00e9"} ] ,'],
    ["empty", ""],
  ] as const;
  for (const [name, text] of malformed) {
    test(name, async () => {
      const res = await chat(bearer(h.keys.proxyKey), text);
      expect(res.status).toBe(200); // the mock answers anything on this route
      expect(h.mock.requests).toHaveLength(1);
      expect(h.mock.requests[0]?.body).toBe(text);
      expect(h.mock.requests[0]?.headers["content-type"]).toBe("application/json");
    });
  }

  test("a non-JSON content type is forwarded untouched too", async () => {
    const text = "model=gpt-4o-mini&stream=true";
    const res = await fetchText(`${h.baseUrl}/chat/completions`, {
      method: "POST",
      headers: { ...bearer(h.keys.proxyKey), "content-type": "application/x-www-form-urlencoded" },
      body: text,
    });
    expect(res.status).toBe(200);
    expect(h.mock.requests[0]?.body).toBe(text);
    expect(h.mock.requests[0]?.headers["content-type"]).toBe("application/x-www-form-urlencoded");
  });
});

describe("requests that never authenticate", () => {
  test("leave no request-log row, so made-up keys cannot fill the disk, but are counted", async () => {
    const h = await startProxyHarness();
    try {
      const { proxyKey: key } = await createKeyPair(h.t, { provider: "openai", base_url: h.mock.baseUrl });
      const good = await fetch(`${h.baseUrl}/models`, { headers: { authorization: `Bearer ${key}` } });
      expect(good.status).toBe(200);
      expect(((await good.json()) as { object: string }).object).toBe("list");
      for (const token of ["kwp_nope", `${key.slice(0, -6)}AAAAAA`, generateKey("proxy").token]) {
        expectProxyError(await fetchText(`${h.baseUrl}/models`, { headers: { authorization: `Bearer ${token}` } }), 401, "invalid_api_key");
      }
      await h.t.flushLog();
      const logs = await h.t.call("GET", "/api/logs");
      expect(logs.json.data.map((r: { status: number }) => r.status)).toEqual([200]);
      const metrics = await (await h.t.app.handle(new Request("http://localhost/metrics"))).text();
      expect(metrics).toContain('keyward_requests_total{provider="none",status="401"} 3');
    } finally {
      await h.stop();
    }
  });
});
