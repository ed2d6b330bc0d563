/**
 * Access lines and request ids: the pieces, without a server (the binary
 * suites in test/e2e/ops-logs.test.ts check the whole).
 */
import { describe, expect, test } from "bun:test";
import { type AccessEntry, loggablePath, withAccessLog } from "../../src/telemetry/access-log.ts";
import { clientAddress } from "../../src/telemetry/client-address.ts";
import { requestIdOf, setRequestKeyId, type RequestContext } from "../../src/telemetry/request-context.ts";
import { generateKey } from "../../src/vault/key-format.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe("request ids", () => {
  test("a well-formed client x-request-id is reused; anything else is replaced by a UUID", () => {
    expect(requestIdOf(new Headers({ "x-request-id": "trace-1.A_b" }))).toBe("trace-1.A_b");
    expect(requestIdOf(new Headers({ "x-request-id": "a".repeat(64) }))).toBe("a".repeat(64));
    for (const bad of ["a".repeat(65), "has space", 'quote"', "semi;colon", "", "a/b"]) {
      expect(requestIdOf(new Headers({ "x-request-id": bad }))).toMatch(UUID);
    }
    expect(requestIdOf(new Headers())).toMatch(UUID);
  });

  test("a credential-shaped x-request-id is never adopted (it would be echoed, logged and stored)", () => {
    const proxyKey = generateKey("proxy").token;
    const adminToken = generateKey("admin").token;
    const credentials = [
      proxyKey,
      adminToken,
      `trace-${proxyKey}`,
      "sk-4f3a9QmP0xYbZk3a9QmP0xYbZk3a9QmP0xYbZk3a9QmP0xYb",
      "sk-ant-api03-Zk3a9QmP0xYb",
      "sk-proj-Zk3a9QmP0xYbZk3a",
      "sk_live_51HqZk3a9QmP0xYb",
      "AIzaSyD3k9QmP0xYbZk3a9QmP0xYbZk3a9QmP0x",
      "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
      "ghp_Zk3a9QmP0xYbZk3a9QmP0xYbZk3a9QmP0xYb",
      "glpat-Zk3a9QmP0xYbZk3a9QmP",
      "xoxb-1234-5678-Zk3a9QmP0xYb",
      "hf_Zk3a9QmP0xYbZk3a9QmP0xYb",
      "AKIAIOSFODNN7EXAMPLE",
      // Long random runs: base62, hex beyond a bare UUID, base64url across its separators.
      "Zk3a9QmP0xYbZk3a9QmP0xYbZk3a9QmP",
      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
      "Zk3a9QmP0x-YbZk3a9QmP0_xYbZk3a9QmP-0xYbZk3a9",
    ];
    for (const credential of credentials) {
      const id = requestIdOf(new Headers({ "x-request-id": credential }));
      expect({ credential, id }).toEqual({ credential, id: expect.stringMatching(UUID) });
    }
  });

  test("request ids that are not credentials stay: UUIDs, ULIDs, KSUIDs, nanoids, trace ids, short tokens", () => {
    const ids = [
      crypto.randomUUID(),
      crypto.randomUUID().replaceAll("-", ""),
      crypto.randomUUID().toUpperCase(),
      "01ARZ3NDEKTSV4RRFFQ69G5FAV",
      "0ujtsYcgvSTl8PAuAdqWYSMnLOv",
      "V1StGXR8_Z5jdHi6B-myT",
      "VaStGXR8aZ5jdHi6BbmyT",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "req_8fa2c1d9e0b34f6a9c2e7d1b5a4f3c21",
      "1-5759e988-bd862e3fe1be46a994272793",
      "trace-1.A_b",
      "job-42",
      "a".repeat(64),
    ];
    for (const id of ids) expect(requestIdOf(new Headers({ "x-request-id": id }))).toBe(id);
  });
});

describe("client address", () => {
  const headers = new Headers({ "x-forwarded-for": "6.6.6.6, 203.0.113.7" });
  test("without --trust-proxy X-Forwarded-For is ignored", () => {
    expect(clientAddress(headers, "10.0.0.2", false)).toBe("10.0.0.2");
  });
  test("with --trust-proxy the last entry (what our proxy saw) is the client, never the forgeable first", () => {
    expect(clientAddress(headers, "10.0.0.2", true)).toBe("203.0.113.7");
    expect(clientAddress(new Headers({ "x-forwarded-for": "2001:db8::1" }), "10.0.0.2", true)).toBe("2001:db8::1");
    expect(clientAddress(new Headers(), "10.0.0.2", true)).toBe("10.0.0.2");
    expect(clientAddress(new Headers({ "x-forwarded-for": "1.2.3.4, <script>" }), "10.0.0.2", true)).toBe("10.0.0.2");
  });
});

describe("logged paths", () => {
  test("a full keyward key pasted into a path is cut to its public id", () => {
    const key = `kwp_AAAAAAAAAAAA_${"b".repeat(38)}`;
    expect(loggablePath(`/api/proxy-keys/${key}`)).toBe("/api/proxy-keys/kwp_AAAAAAAAAAAA_…");
    expect(loggablePath("/api/proxy-keys/AAAAAAAAAAAA")).toBe("/api/proxy-keys/AAAAAAAAAAAA");
  });
});

describe("withAccessLog", () => {
  function wrapped(handler: (request: Request, context?: RequestContext) => Response | Promise<Response>, trustProxy = false) {
    const lines: AccessEntry[] = [];
    const handle = withAccessLog(handler, { access: (e) => lines.push(e), trustProxy });
    return { handle, lines };
  }

  test("answers with x-request-id and logs method, path without query, status, key id and client", async () => {
    const { handle, lines } = wrapped((request) => {
      setRequestKeyId(request, "TOKENID12345");
      return new Response("{}", { status: 201 });
    });
    const response = await handle(new Request("http://h/api/things?secret=1", { method: "POST", headers: { "x-request-id": "abc" } }), {
      remoteAddress: "127.0.0.9",
    });
    expect(response.headers.get("x-request-id")).toBe("abc");
    expect(lines).toEqual([
      { requestId: "abc", method: "POST", path: "/api/things", status: 201, latencyMs: expect.any(Number), keyId: "TOKENID12345", client: "127.0.0.9" },
    ]);
  });

  test("proxy paths are left to the proxy handler, which is handed the context", async () => {
    let seen: RequestContext | undefined;
    const { handle, lines } = wrapped((_request, context) => {
      seen = context;
      return new Response("ok", { headers: { "x-request-id": context?.id ?? "missing" } });
    }, true);
    const response = await handle(new Request("http://h/v1/chat/completions", { headers: { "x-forwarded-for": "198.51.100.4" } }), {
      remoteAddress: "127.0.0.1",
    });
    expect(lines).toEqual([]);
    expect(seen?.client).toBe("198.51.100.4");
    expect(response.headers.get("x-request-id")).toBe(seen?.id ?? "missing");
  });

  test("immutable response headers are copied, not lost", async () => {
    const upstream = await fetch("data:text/plain,hi");
    const { handle, lines } = wrapped(() => upstream);
    const response = await handle(new Request("http://h/docs"));
    expect(response.headers.get("x-request-id")).toMatch(UUID);
    expect(await response.text()).toBe("hi");
    expect(lines).toHaveLength(1);
  });

  test("a handler that throws is still logged, as 500", async () => {
    const { handle, lines } = wrapped(() => {
      throw new Error("boom");
    });
    await expect(handle(new Request("http://h/healthz"))).rejects.toThrow("boom");
    expect(lines[0]?.status).toBe(500);
  });
});
