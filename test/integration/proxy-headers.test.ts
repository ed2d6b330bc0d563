/**
 * Header hygiene: neither side's cookies, credentials or connection handling
 * leak to the other. Requests: an allow-list, so cookies, proxy
 * credentials, `x-forwarded-*` and headers named in `Connection` never reach
 * the provider. Responses: no `set-cookie`, no hop-by-hop headers (nor those
 * the upstream names in `connection`), and no stale `content-encoding` /
 * `content-length` once fetch has decoded a compressed body.
 *
 * The request side is sent over a raw socket, so the exact headers (including
 * `Connection` and `Proxy-Authorization`, which fetch may rewrite) reach
 * keyward as a real client would send them.
 */
import { describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { MOCK_TEXT } from "../helpers/mock-provider.ts";
import { chatAnswerText, chatBody, useProxyHarness } from "../helpers/proxy.ts";

const h = useProxyHarness({ keys: true });

/** One HTTP/1.1 request written byte for byte; resolves with the status code once the server answers. */
function rawRequest(port: number, lines: string[], body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let received = "";
    socket.on("error", reject);
    socket.on("data", (data) => {
      received += data.toString("latin1");
      const match = /^HTTP\/1\.1 (\d{3})/.exec(received);
      if (match && received.includes("\r\n\r\n")) {
        socket.destroy();
        resolve(Number(match[1]));
      }
    });
    socket.on("connect", () => {
      socket.write(`${[...lines, `Content-Length: ${Buffer.byteLength(body)}`].join("\r\n")}\r\n\r\n${body}`);
    });
  });
}

describe("request headers", () => {
  test("cookies, proxy-authorization, x-forwarded-*, forwarded and Connection-listed headers are not forwarded", async () => {
    const port = Number(new URL(h.url).port);
    const status = await rawRequest(
      port,
      [
        "POST /v1/chat/completions HTTP/1.1",
        `Host: 127.0.0.1:${port}`,
        `Authorization: Bearer ${h.keys.proxyKey}`,
        "Content-Type: application/json",
        "Accept: application/json",
        "User-Agent: header-hygiene-test/1.0",
        "Cookie: session=client-cookie-value",
        "Proxy-Authorization: Basic cHJveHk6c2VjcmV0",
        "X-Forwarded-For: 203.0.113.7",
        "X-Forwarded-Host: client.example",
        "X-Forwarded-Proto: https",
        "Forwarded: for=203.0.113.7;proto=https",
        "X-Real-IP: 203.0.113.7",
        // Allow-listed headers, but named in Connection: hop-by-hop for this message only.
        "Connection: keep-alive, Idempotency-Key, X-Stainless-Lang",
        "Idempotency-Key: listed-in-connection",
        "X-Stainless-Lang: js",
        "Keep-Alive: timeout=5",
        "TE: trailers",
        // Allow-listed and not listed in Connection: forwarded.
        "X-Request-Id: client-request-id",
        "X-Stainless-Os: Linux",
      ],
      chatBody(),
    );
    expect(status).toBe(200);
    expect(h.mock.requests).toHaveLength(1);
    const upstream = h.mock.requests[0]?.headers ?? {};

    for (const name of [
      "cookie",
      "proxy-authorization",
      "x-forwarded-for",
      "x-forwarded-host",
      "x-forwarded-proto",
      "forwarded",
      "x-real-ip",
      "idempotency-key",
      "x-stainless-lang",
      "keep-alive",
      "te",
    ]) {
      expect({ name, value: upstream[name] }).toEqual({ name, value: undefined });
    }
    const wire = JSON.stringify(upstream);
    for (const value of ["client-cookie-value", "cHJveHk6c2VjcmV0", "203.0.113.7", "client.example", "listed-in-connection"]) {
      expect(wire).not.toContain(value);
    }
    // The allow-list still works: these did go through, and the credential was swapped.
    expect(upstream["content-type"]).toBe("application/json");
    expect(upstream["user-agent"]).toBe("header-hygiene-test/1.0");
    // The id keyward adopted (here the client's own, a well-formed one) goes upstream, not the raw header.
    expect(upstream["x-request-id"]).toBe("client-request-id");
    expect(upstream["x-stainless-os"]).toBe("Linux");
    expect(upstream.authorization).toBe(`Bearer ${h.keys.providerSecret}`);
  });

  test("an allow-listed header not named in Connection is forwarded (control for the test above)", async () => {
    const response = await fetch(`${h.baseUrl}/chat/completions`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${h.keys.proxyKey}`,
        "content-type": "application/json",
        "idempotency-key": "kept",
      },
      body: chatBody(),
    });
    expect(response.status).toBe(200);
    expect(chatAnswerText(await response.text())).toBe(MOCK_TEXT);
    expect(h.mock.requests[0]?.headers["idempotency-key"]).toBe("kept");
  });
});

describe("response headers", () => {
  const upstreamHeaders = {
    "set-cookie": ["upstream_session=abc; Path=/", "tracking=1"],
    connection: "x-upstream-private",
    "x-upstream-private": "must-not-pass",
    "keep-alive": "timeout=5",
    "proxy-authenticate": "Basic realm=upstream",
    trailer: "x-checksum",
    upgrade: "h2c",
    "x-provider-info": "kept",
  };

  function expectClean(response: Response): void {
    expect(response.headers.getSetCookie()).toEqual([]);
    for (const name of ["set-cookie", "x-upstream-private", "keep-alive", "proxy-authenticate", "trailer", "upgrade"]) {
      expect({ name, value: response.headers.get(name) }).toEqual({ name, value: null });
    }
    // An ordinary provider header is passed on.
    expect(response.headers.get("x-provider-info")).toBe("kept");
  }

  test("JSON answer: set-cookie, hop-by-hop and connection-listed headers are dropped", async () => {
    h.mock.next({ headers: upstreamHeaders });
    const response = await fetch(`${h.baseUrl}/models`, { headers: { authorization: `Bearer ${h.keys.proxyKey}` } });
    expect(response.status).toBe(200);
    expectClean(response);
    expect(((await response.json()) as { object: string }).object).toBe("list");
  });

  test("SSE answer: the same hygiene on a stream", async () => {
    h.mock.next({ headers: upstreamHeaders });
    const response = await fetch(`${h.baseUrl}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${h.keys.proxyKey}`, "content-type": "application/json" },
      body: chatBody({ stream: true }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    expectClean(response);
    expect(await response.text()).toContain("data: [DONE]");
  });

  test("upstream error answer: the same hygiene", async () => {
    h.mock.next({ headers: upstreamHeaders, error: { status: 400 } });
    const response = await fetch(`${h.baseUrl}/models`, { headers: { authorization: `Bearer ${h.keys.proxyKey}` } });
    expect(response.status).toBe(400);
    expectClean(response);
    expect(await response.json()).toEqual({
      error: { message: "Mock upstream error 400", type: "invalid_request_error", param: null, code: null },
    });
  });

  test("gzip upstream: no stale content-encoding/content-length, the client gets valid decoded JSON", async () => {
    h.mock.next({ gzip: true, text: "x".repeat(2000) });
    // decompress: false shows exactly what keyward sent: a client must not be told
    // the (already decoded) body is gzip, nor be given the compressed length.
    const response = await fetch(`${h.baseUrl}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${h.keys.proxyKey}`, "content-type": "application/json" },
      body: chatBody(),
      decompress: false,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-encoding")).toBeNull();
    const bytes = new Uint8Array(await response.arrayBuffer());
    const declared = response.headers.get("content-length");
    if (declared !== null) expect(Number(declared)).toBe(bytes.byteLength);
    const json = JSON.parse(new TextDecoder().decode(bytes)) as { choices: Array<{ message: { content: string } }> };
    expect(json.choices[0]?.message.content).toBe("x".repeat(2000));

    // Control: the mock really sends this answer compressed, with the compressed length.
    h.mock.next({ gzip: true, text: "x".repeat(2000) });
    const direct = await fetch(`${h.mock.baseUrl}/chat/completions`, { method: "POST", body: chatBody(), decompress: false });
    expect(direct.headers.get("content-encoding")).toBe("gzip");
    const compressed = new Uint8Array(await direct.arrayBuffer());
    expect(Number(direct.headers.get("content-length"))).toBe(compressed.byteLength);
    expect(compressed.byteLength).toBeLessThan(bytes.byteLength);
  });

  test("gzip upstream error: decoded too, status and body intact", async () => {
    const body = { error: { message: "compressed failure", type: "invalid_request_error", param: null, code: "bad" } };
    h.mock.next({ gzip: true, error: { status: 422, body } });
    const response = await fetch(`${h.baseUrl}/models`, { headers: { authorization: `Bearer ${h.keys.proxyKey}` }, decompress: false });
    expect(response.status).toBe(422);
    expect(response.headers.get("content-encoding")).toBeNull();
    expect(await response.text()).toBe(JSON.stringify(body));
  });
});
