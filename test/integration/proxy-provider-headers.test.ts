/**
 * Issue 19, points 8 and 9, against the mock provider on 127.0.0.1.
 * Organisation and project belong to the provider key: pinned values are sent,
 * a client's own never are, and the upstream's organisation is not relayed.
 * The provider's own headers survive: its x-request-id (keyward's id goes in
 * x-keyward-request-id, and in x-request-id only when keyward answers itself
 * or the provider sent none), its x-ratelimit-* (keyward's figures are
 * x-keyward-ratelimit-*), and W3C trace context going up.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chatBody, createKeyPair, expectProxyError, readText, useProxyHarness, type KeyPair } from "../helpers/proxy.ts";

const h = useProxyHarness({ keys: true });

const post = (keys: KeyPair, headers: Record<string, string> = {}, body = chatBody()) =>
  fetch(`${h.baseUrl}/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${keys.proxyKey}`, "content-type": "application/json", ...headers },
    body,
  });

/** The request id of the key's newest request-log row. */
async function loggedId(keys: KeyPair): Promise<string> {
  await h.t.flushLog();
  const logs = await h.t.call("GET", `/api/logs?proxy_key_id=${keys.proxyKeyId}`);
  return String(logs.json.data[0]?.request_id);
}

describe("organisation and project belong to the provider key", () => {
  const CLIENT = { "openai-organization": "org-client-chosen", "openai-project": "proj_client_chosen" };

  test("pinned: the provider key's organisation and project go upstream, whatever the client sends", async () => {
    const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl });
    const pinned = await h.t.call("PATCH", `/api/provider-keys/${keys.providerKeyId}`, {
      openai_organization: "org-Pinned01",
      openai_project: "proj_Pinned01",
    });
    expect(pinned.status).toBe(200);
    const response = await post(keys, CLIENT);
    expect(response.status).toBe(200);
    await response.arrayBuffer();
    expect(h.mock.requests[0]?.headers).toMatchObject({ "openai-organization": "org-Pinned01", "openai-project": "proj_Pinned01" });
  });

  test("not pinned: a client's openai-organization and openai-project are not forwarded", async () => {
    const response = await post(h.keys, CLIENT);
    expect(response.status).toBe(200);
    await response.arrayBuffer();
    const upstream = h.mock.requests[0]?.headers ?? {};
    expect([upstream["openai-organization"], upstream["openai-project"]]).toEqual([undefined, undefined]);
    // openai-beta is still the client's to send.
    h.mock.reset();
    await (await post(h.keys, { "openai-beta": "assistants=v2" })).arrayBuffer();
    expect(h.mock.requests[0]?.headers["openai-beta"]).toBe("assistants=v2");
  });

  test("the upstream's organisation and project are not relayed to the key holder, streamed or not", async () => {
    for (const stream of [false, true]) {
      h.mock.next({ headers: { "openai-organization": "user-abc123", "openai-project": "proj_Upstream", "openai-processing-ms": "12" } });
      const response = await post(h.keys, {}, chatBody({ stream }));
      await response.arrayBuffer();
      expect([response.headers.get("openai-organization"), response.headers.get("openai-project")]).toEqual([null, null]);
      expect(response.headers.get("openai-processing-ms")).toBe("12");
    }
    h.mock.next({ error: { status: 429, headers: { "openai-organization": "user-abc123" } } });
    const refused = await post(h.keys);
    await refused.arrayBuffer();
    expect(refused.status).toBe(429);
    expect(refused.headers.get("openai-organization")).toBeNull();
  });
});

describe("the provider's own headers survive", () => {
  test("the provider's x-request-id reaches the client; keyward's id is in x-keyward-request-id and the log", async () => {
    for (const stream of [false, true]) {
      const response = await post(h.keys, { "x-request-id": `client-trace-${stream}` }, chatBody({ stream }));
      await response.arrayBuffer();
      // The mock answers as OpenAI does, with `x-request-id: req_…`.
      expect(response.headers.get("x-request-id")).toMatch(/^req_mock\d+$/);
      expect(response.headers.get("x-keyward-request-id")).toBe(`client-trace-${stream}`);
      expect(await loggedId(h.keys)).toBe(`client-trace-${stream}`);
    }
    // An error the provider answered carries its id too.
    h.mock.next({ error: { status: 500 } });
    const failed = await post(h.keys);
    await failed.arrayBuffer();
    expect(failed.headers.get("x-request-id")).toMatch(/^req_mock\d+$/);
    expect(failed.headers.get("x-keyward-request-id")).toBe(await loggedId(h.keys));
  });

  test("keyward's own refusal: its id in x-request-id and x-keyward-request-id alike", async () => {
    const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { allowed_models: ["gpt-4o"] } });
    const refused = await readText(await post(keys, { "x-request-id": "refused-trace" }));
    expectProxyError(refused, 403, "model_not_allowed");
    expect([refused.headers.get("x-request-id"), refused.headers.get("x-keyward-request-id")]).toEqual(["refused-trace", "refused-trace"]);
    const unauthenticated = await fetch(`${h.baseUrl}/chat/completions`, { method: "POST", headers: { "x-request-id": "no-key" }, body: chatBody() });
    await unauthenticated.arrayBuffer();
    expect([unauthenticated.headers.get("x-request-id"), unauthenticated.headers.get("x-keyward-request-id")]).toEqual(["no-key", "no-key"]);
  });

  test("on the provider's own 429 the client sees the provider's x-ratelimit-*, keyward's figures under their own names", async () => {
    const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { rpm: 1000 } });
    const provider = {
      "x-ratelimit-limit-requests": "500",
      "x-ratelimit-remaining-requests": "0",
      "x-ratelimit-reset-requests": "120ms",
      "x-ratelimit-limit-tokens": "30000",
      "x-ratelimit-remaining-tokens": "29000",
      "x-ratelimit-reset-tokens": "2s",
    };
    h.mock.next({ error: { status: 429, headers: { ...provider, "retry-after": "1" } } });
    const refused = await post(keys);
    await refused.arrayBuffer();
    expect(refused.status).toBe(429);
    for (const [name, value] of Object.entries(provider)) expect({ name, value: refused.headers.get(name) }).toEqual({ name, value });
    expect(refused.headers.get("x-keyward-ratelimit-limit-requests")).toBe("1000");
    expect(refused.headers.get("x-keyward-ratelimit-remaining-requests")).toBe("999");
    // A 200 likewise: the provider's figures, and keyward's beside them.
    h.mock.next({ headers: provider });
    const ok = await post(keys);
    await ok.arrayBuffer();
    expect(ok.headers.get("x-ratelimit-remaining-requests")).toBe("0");
    expect(ok.headers.get("x-keyward-ratelimit-remaining-requests")).toBe("998");
  });

  test("W3C traceparent and tracestate are forwarded", async () => {
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const response = await post(h.keys, { traceparent, tracestate: "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7" });
    await response.arrayBuffer();
    expect(h.mock.requests[0]?.headers).toMatchObject({ traceparent, tracestate: "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7" });
  });
});

describe("a provider that sends no x-request-id", () => {
  let upstream: ReturnType<typeof Bun.serve>;
  let keys: KeyPair;
  beforeAll(async () => {
    upstream = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => Response.json({ object: "list", data: [] }) });
    keys = await createKeyPair(h.t, { base_url: `http://127.0.0.1:${upstream.port}/v1` });
  });
  afterAll(() => upstream.stop(true));

  test("keyward's id fills x-request-id, as when it answers itself", async () => {
    const response = await fetch(`${h.baseUrl}/models`, { headers: { authorization: `Bearer ${keys.proxyKey}`, "x-request-id": "trace-none" } });
    await response.arrayBuffer();
    expect(response.status).toBe(200);
    expect([response.headers.get("x-request-id"), response.headers.get("x-keyward-request-id")]).toEqual(["trace-none", "trace-none"]);
  });
});
