/**
 * CORS on /v1/* for the origins `--cors-origins` lists, over real HTTP: a
 * preflight is answered before authentication (it carries no key), answers
 * to listed origins carry the CORS headers and expose what SDKs read, other
 * origins get none, and an upstream's own CORS headers never reach a
 * browser. Without the option nothing changes. The browser's side of it runs
 * in test/e2e/cors-browser.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { chatBody, fetchText, useProxyHarness } from "../helpers/proxy.ts";

const LISTED = "https://app.example.com";
const OTHER = "https://evil.example.net";

function preflight(url: string, origin: string, requestHeaders: string) {
  return fetchText(`${url}/v1/chat/completions`, {
    method: "OPTIONS",
    headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": requestHeaders },
  });
}

function chat(url: string, headers: Record<string, string>) {
  return fetchText(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: chatBody() });
}

describe("with --cors-origins", () => {
  const h = useProxyHarness({ keys: true, config: { corsOrigins: [LISTED, "http://localhost:5173"] } });

  test("a preflight from a listed origin: 204, the allowed request headers echoed, answered before authentication", async () => {
    const failures = h.t.services.metrics.authFailures.render();
    const answer = await preflight(h.url, LISTED, "Authorization, content-type, x-stainless-os, anthropic-version, openai-project, x-evil, cookie");
    expect(answer.status).toBe(204);
    expect(answer.text).toBe("");
    expect(answer.headers.get("access-control-allow-origin")).toBe(LISTED);
    expect(answer.headers.get("access-control-allow-headers")).toBe("authorization, content-type, x-stainless-os, anthropic-version, openai-project");
    expect(answer.headers.get("access-control-allow-methods")?.split(", ")).toContain("POST");
    expect(answer.headers.get("access-control-max-age")).toBe("7200");
    expect(answer.headers.get("vary")).toContain("Origin");
    expect(answer.headers.has("access-control-allow-credentials")).toBe(false);
    expect(answer.headers.get("x-request-id")).toBeString();
    expect(h.t.services.metrics.authFailures.render()).toBe(failures);
    expect(h.mock.requests).toHaveLength(0);
  });

  test("every provider's forwarded headers and the key headers pass the preflight", async () => {
    const wanted = [
      "x-api-key",
      "api-key",
      "x-goog-api-key",
      "anthropic-beta",
      "anthropic-dangerous-direct-browser-access",
      "openai-organization",
      "openai-beta",
      "idempotency-key",
      "x-request-id",
    ];
    const answer = await preflight(h.url, LISTED, wanted.join(","));
    expect(answer.headers.get("access-control-allow-headers")?.split(", ")).toEqual(wanted);
  });

  test("a preflight from an origin not listed: 403 without CORS headers, so the browser refuses the call", async () => {
    const answer = await preflight(h.url, OTHER, "authorization, content-type");
    expect(answer.status).toBe(403);
    expect(answer.headers.has("access-control-allow-origin")).toBe(false);
    expect(answer.headers.has("access-control-allow-headers")).toBe(false);
    expect(JSON.parse(answer.text)).toEqual({
      error: {
        message: "Cannot allow this cross-origin request: its origin is not in --cors-origins",
        type: "permission_error",
        param: null,
        code: "origin_not_allowed",
      },
    });
    expect(h.mock.requests).toHaveLength(0);
  });

  test("a listed origin's call gets Access-Control-Allow-Origin and the headers SDKs read; the upstream's own are replaced", async () => {
    h.mock.next({ headers: { "access-control-allow-origin": "*", "access-control-allow-credentials": "true", vary: "Accept-Encoding" } });
    const answer = await chat(h.url, { origin: LISTED, authorization: `Bearer ${h.keys.proxyKey}` });
    expect(answer.status).toBe(200);
    expect(answer.headers.get("access-control-allow-origin")).toBe(LISTED);
    expect(answer.headers.has("access-control-allow-credentials")).toBe(false);
    const exposed = answer.headers.get("access-control-expose-headers")?.split(", ") ?? [];
    for (const name of [
      "x-request-id",
      "x-keyward-request-id",
      "retry-after",
      "x-should-retry",
      "x-ratelimit-remaining-requests",
      "x-ratelimit-remaining-tokens",
      "x-keyward-ratelimit-remaining-requests",
      "x-keyward-ratelimit-remaining-tokens",
    ])
      expect(exposed).toContain(name);
    expect(answer.headers.get("vary")).toBe("Accept-Encoding, Origin");
  });

  test("keyward's own refusals are readable by a listed origin's page too", async () => {
    const answer = await chat(h.url, { origin: LISTED });
    expect(answer.status).toBe(401);
    expect(answer.headers.get("access-control-allow-origin")).toBe(LISTED);
  });

  test("an origin not listed gets no CORS header at all, the upstream's included", async () => {
    h.mock.next({ headers: { "access-control-allow-origin": "*" } });
    const answer = await chat(h.url, { origin: OTHER, authorization: `Bearer ${h.keys.proxyKey}` });
    expect(answer.status).toBe(200);
    expect([...answer.headers.keys()].filter((name) => name.startsWith("access-control-"))).toEqual([]);
  });

  test("an OPTIONS request that is not a preflight goes to the proxy as before (authentication first)", async () => {
    const answer = await fetchText(`${h.url}/v1/chat/completions`, { method: "OPTIONS", headers: { origin: LISTED } });
    expect(answer.status).toBe(401);
  });
});

describe("without --cors-origins (the default) nothing changes", () => {
  const h = useProxyHarness({ keys: true });

  test("a preflight is a request like any other: refused at authentication, without CORS headers", async () => {
    const answer = await preflight(h.url, LISTED, "authorization, content-type");
    expect(answer.status).toBe(401);
    expect(answer.headers.has("access-control-allow-origin")).toBe(false);
  });

  test("a call with Origin is answered as before, the upstream's headers as they came", async () => {
    h.mock.next({ headers: { "access-control-allow-origin": "*" } });
    const answer = await chat(h.url, { origin: LISTED, authorization: `Bearer ${h.keys.proxyKey}` });
    expect(answer.status).toBe(200);
    expect(answer.headers.get("access-control-allow-origin")).toBe("*");
    expect(answer.headers.has("access-control-expose-headers")).toBe(false);
  });
});
