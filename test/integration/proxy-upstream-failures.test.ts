/**
 * When the provider is slow, gone, redirects, or says no: 504 after the
 * first-byte timeout, 502 when unreachable or redirecting (redirects are never
 * followed, so the provider key cannot travel elsewhere), and the provider's
 * own errors passed through unchanged, so a client's SDK handles them as it
 * would the provider's own.
 */
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { describe, expect, test } from "bun:test";
import type { MockError } from "../helpers/mock-provider.ts";
import { chatBody, closedPort, createKeyPair, expectProxyError, fetchText, startProxyHarness, useProxyHarness } from "../helpers/proxy.ts";

const TIMEOUT_MS = 300;

const h = useProxyHarness({ keys: true, config: { upstreamTimeoutMs: TIMEOUT_MS } });

const chat = (key: string, extra: Record<string, unknown> = {}) =>
  fetchText(`${h.baseUrl}/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: chatBody(extra),
  });

describe("timeouts", () => {
  test("no response headers within upstream_timeout: 504, and the upstream request is abandoned", async () => {
    h.mock.next({ headersDelayMs: 2_000 });
    const body = expectProxyError(await chat(h.keys.proxyKey), 504, "upstream_timeout");
    expect(body.error.type).toBe("api_error");
    await h.mock.waitForCancellation(1000);
  });

  test("the same for a stream that never starts", async () => {
    h.mock.next({ headersDelayMs: 2_000 });
    expectProxyError(await chat(h.keys.proxyKey, { stream: true }), 504, "upstream_timeout");
  });

  test("the timeout covers first byte only: a slow stream that has started runs past it", async () => {
    // 6 gaps of 100 ms: the whole stream takes twice the timeout.
    h.mock.next({ chunks: 4, chunkDelayMs: 100 });
    const res = await chat(h.keys.proxyKey, { stream: true, stream_options: { include_usage: true } });
    expect(res.status).toBe(200);
    expect(res.text).toContain("data: [DONE]");
  });

  test("the OpenAI SDK surfaces the 504 as an APIError", async () => {
    h.mock.next({ headersDelayMs: 2_000 });
    const client = new OpenAI({ apiKey: h.keys.proxyKey, baseURL: h.baseUrl, maxRetries: 0 });
    const error = await client.models.list().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(504);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe("upstream_timeout");
  });
});

describe("unreachable and redirecting upstreams", () => {
  test("base_url on a closed port: 502 upstream_unreachable", async () => {
    const port = await closedPort();
    const dead = await createKeyPair(h.t, { base_url: `http://127.0.0.1:${port}/v1` });
    const body = expectProxyError(await chat(dead.proxyKey), 502, "upstream_unreachable");
    expect(body.error.type).toBe("api_error");
    expect(body.error.message).not.toContain(dead.providerSecret);
  });

  for (const status of [301, 302, 303, 307, 308] as const) {
    test(`upstream redirect ${status}: 502, the target is never requested`, async () => {
      h.mock.next({ redirect: { location: `${h.mock.baseUrl}/redirect-target?stolen=1`, status } });
      const res = await chat(h.keys.proxyKey);
      expectProxyError(res, 502, "upstream_redirect");
      expect(res.headers.get("location")).toBeNull();
      await Bun.sleep(50);
      expect(h.mock.requests.map((r) => r.path)).toEqual(["/v1/chat/completions"]);
    });
  }

  test("a redirect to another host: that host never sees a request", async () => {
    const other = await startProxyHarness();
    try {
      h.mock.next({ redirect: { location: `${other.mock.baseUrl}/chat/completions` } });
      expectProxyError(await chat(h.keys.proxyKey), 502, "upstream_redirect");
      await Bun.sleep(50);
      expect(other.mock.requests).toHaveLength(0);
    } finally {
      await other.stop();
    }
  });
});

describe("provider errors pass through unchanged", () => {
  const cases: Array<MockError & { headers: Record<string, string> }> = [
    {
      status: 429,
      body: { error: { message: "Rate limit reached for gpt-4o-mini", type: "requests", param: null, code: "rate_limit_exceeded" } },
      headers: { "retry-after": "7", "x-ratelimit-remaining-requests": "0" },
    },
    { status: 500, body: { error: { message: "The server had an error", type: "server_error", param: null, code: null } }, headers: {} },
    {
      status: 400,
      body: { error: { message: "Unsupported parameter: 'foo'", type: "invalid_request_error", param: "foo", code: "unsupported_parameter" } },
      headers: {},
    },
    {
      status: 401,
      body: { error: { message: "Incorrect API key provided", type: "invalid_request_error", param: null, code: "invalid_api_key" } },
      headers: {},
    },
  ];
  for (const c of cases) {
    test(`${c.status}: status, body and headers as the provider sent them`, async () => {
      h.mock.next({ error: c });
      const res = await chat(h.keys.proxyKey);
      expect(res.status).toBe(c.status);
      expect(res.text).toBe(JSON.stringify(c.body));
      for (const [name, value] of Object.entries(c.headers)) expect(res.headers.get(name)).toBe(value);
    });
  }

  test("an upstream error on a stream request passes through too", async () => {
    const body = { error: { message: "overloaded", type: "server_error", param: null, code: null } };
    h.mock.next({ error: { status: 503, body } });
    const res = await chat(h.keys.proxyKey, { stream: true });
    expect(res.status).toBe(503);
    expect(res.text).toBe(JSON.stringify(body));
  });

  test("Anthropic's error shape reaches the Anthropic SDK unchanged", async () => {
    const anthropic = await createKeyPair(h.t, { provider: "anthropic", base_url: h.mock.baseUrl });
    const body = { type: "error", error: { type: "overloaded_error", message: "Overloaded" } };
    h.mock.next({ error: { status: 529, body } });
    const client = new Anthropic({ apiKey: anthropic.proxyKey, baseURL: h.url, maxRetries: 0 });
    const error = await client.messages
      .create({ model: "claude-sonnet-4-6", max_tokens: 5, messages: [{ role: "user", content: "hi" }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Anthropic.APIError);
    const apiError = error as InstanceType<typeof Anthropic.APIError>;
    expect(apiError.status).toBe(529);
    expect(apiError.error).toEqual(body);
  });
});
