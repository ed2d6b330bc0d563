/**
 * Reading the path of a request URL whatever the Host header said, and the
 * strict check of the path after /v1. The runtimes differ in what they hand
 * over: Bun resolves dot segments and backslashes, Deno passes them as sent,
 * so the check covers every form (test/e2e/deno-strict-paths.test.ts runs it
 * on Deno).
 */
import { describe, expect, test } from "bun:test";
import { unsafePathReason } from "../../src/proxy/path-check.ts";
import { pathOf, pathStart, routableRequest } from "../../src/telemetry/request-url.ts";

describe("pathStart and pathOf", () => {
  const cases: Array<[string, string]> = [
    ["http://keyward.example.com/v1/models?x=1", "/v1/models"],
    ["https://a/api/provider-keys", "/api/provider-keys"],
    ["http://a/v1/chat/completions", "/v1/chat/completions"],
    ["http://ab:1/x//y", "/x//y"],
    ["http://::1/v1/models", "/v1/models"],
    ["http://[::1]:8080/healthz", "/healthz"],
    // What Bun hands over when the Host header is empty or holds a "/": the path alone.
    ["/v1/v1/models", "/v1/v1/models"],
    ["//v1/models", "//v1/models"],
    ["/a//v1/chat/completions?q=//", "/a//v1/chat/completions"],
  ];
  for (const [url, path] of cases) {
    test(url, () => {
      expect(pathOf(url)).toBe(path);
      expect(url.slice(pathStart(url)).startsWith(path)).toBe(true);
    });
  }
});

describe("routableRequest", () => {
  test("an ordinary URL is the same request, untouched", () => {
    const request = new Request("http://keyward.example.com/api/x");
    expect(routableRequest(request)).toBe(request);
    const tls = new Request("https://kw.example/api/x");
    expect(routableRequest(tls)).toBe(tls);
  });

  test("a short host gets a placeholder one; method, headers and body go along", async () => {
    const request = new Request("http://a/zz/api/x?q=1", { method: "POST", headers: { "x-a": "1" }, body: "hello" });
    const routable = routableRequest(request);
    expect(routable.url).toBe("http://keyward.invalid/zz/api/x?q=1");
    expect([routable.method, routable.headers.get("x-a"), await routable.text()]).toEqual(["POST", "1", "hello"]);
  });
});

describe("unsafePathReason", () => {
  /** The check as the proxy runs it: from the "/" after /v1. */
  const reason = (path: string) => unsafePathReason(`http://h/v1${path}`, "http://h/v1".length);

  test("ordinary paths pass, the query and fragment are not looked at", () => {
    for (const path of [
      "/chat/completions",
      "/",
      "/models/",
      "/models/ft:gpt-4o-mini:org::abc",
      "/files/file-abc/content",
      "/models/v1.2..3",
      "/models/...",
      "/x/%2e%2e%2e",
      "/x/a%2eb",
      "/x/%252e%252e",
      "/chat/completions?next=..%2f%2e%2e%5c//x",
      "/chat/completions#/../x",
    ]) {
      expect([path, reason(path)]).toEqual([path, undefined]);
    }
  });

  test("encoded slashes and backslashes in any case, raw backslashes, dot and empty segments are refused", () => {
    const refused: Array<[string, string]> = [
      ["/chat%2Fcompletions", "encoded slash"],
      ["/chat%2fcompletions", "encoded slash"],
      ["/models/..%2f..%2fadmin", "encoded slash"],
      ["/chat%5Ccompletions", "encoded backslash"],
      ["/a%5cb", "encoded backslash"],
      ["/a\\b", "backslash"],
      ["/a/../b", "dot segment"],
      ["/a/./b", "dot segment"],
      ["/..", "dot segment"],
      ["/a/..?x=1", "dot segment"],
      ["/a/%2e%2e/b", "dot segment"],
      ["/a/%2E%2E/b", "dot segment"],
      ["/a/%2e./b", "dot segment"],
      ["/a/.%2E/b", "dot segment"],
      ["/a/%2e/b", "dot segment"],
      ["//chat/completions", "empty segment"],
      ["/chat//completions", "empty segment"],
    ];
    for (const [path, kind] of refused) {
      expect([path, reason(path)?.includes(kind)]).toEqual([path, true]);
    }
  });
});
