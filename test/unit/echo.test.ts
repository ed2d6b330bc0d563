/**
 * SecretEcho and EchoStream: the provider key replaced by its hint wherever
 * it is cut (every cut point of a text, and every chunk size), nothing else
 * changed, and only what could start the key held back.
 */
import { describe, expect, test } from "bun:test";
import { SecretEcho } from "../../src/proxy/echo.ts";

const SECRET = "sk-proj-Ab3dEfGh1jKlMn0pQrStUvWxYz";
const HINT = "sk-…WxYz";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function echo(): SecretEcho {
  const made = SecretEcho.of(SECRET, HINT);
  if (!made) throw new Error("expected a scrubber for a real-length key");
  return made;
}

/** Streams `text` through a scrubber cut at `cuts`; returns every piece sent and the whole. */
function streamed(text: string, cuts: number[]): { pieces: string[]; whole: string } {
  const stream = echo().stream();
  const bytes = encoder.encode(text);
  const pieces: string[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.byteLength]) {
    pieces.push(decoder.decode(stream.push(bytes.subarray(from, cut))));
    from = cut;
  }
  const end = stream.end();
  if (end) pieces.push(decoder.decode(end));
  return { pieces, whole: pieces.join("") };
}

describe("SecretEcho", () => {
  test("a placeholder key (shorter than 16 characters) is never searched for", () => {
    for (const placeholder of ["EMPTY", "ollama", "none", "x", "sk-123456789012"]) expect(SecretEcho.of(placeholder, "…")).toBeUndefined();
    expect(SecretEcho.of("sk-1234567890123", "sk-…0123")).toBeDefined();
  });

  test("a body: every occurrence replaced; without one, the very same array comes back", () => {
    const body = encoder.encode(`{"a":"${SECRET}","b":"x${SECRET}${SECRET}y"}`);
    expect(decoder.decode(echo().inBody(body))).toBe(`{"a":"${HINT}","b":"x${HINT}${HINT}y"}`);
    const clean = encoder.encode('{"a":"sk-proj-nothing"}');
    expect(echo().inBody(clean)).toBe(clean);
  });

  test("text and headers; a header gets an ASCII hint", () => {
    expect(echo().inText(`bad header: Bearer ${SECRET}`)).toBe(`bad header: Bearer ${HINT}`);
    const headers = new Headers({ "x-a": `Bearer ${SECRET}`, "x-b": "plain" });
    echo().inHeaders(headers);
    expect([...headers]).toEqual([
      ["x-a", "Bearer sk-...WxYz"],
      ["x-b", "plain"],
    ]);
  });

  test("a stream cut at every point, once and twice: the key always arrives as its hint", () => {
    const text = `data: {"x":"${SECRET}"}\n\nmiddle sk-proj-A ${SECRET}${SECRET} end`;
    const expected = `data: {"x":"${HINT}"}\n\nmiddle sk-proj-A ${HINT}${HINT} end`;
    const length = encoder.encode(text).byteLength;
    for (let a = 0; a <= length; a++) {
      expect(streamed(text, [a]).whole).toBe(expected);
      for (let b = a; b <= length; b += 7) expect(streamed(text, [a, b]).whole).toBe(expected);
    }
    // One byte at a time.
    expect(
      streamed(
        text,
        Array.from({ length }, (_, i) => i),
      ).whole,
    ).toBe(expected);
  });

  test("only a tail that could start the key is held back; a chunk ending in a newline goes out whole", () => {
    expect(streamed(`data: {}\n\n`, []).pieces).toEqual([`data: {}\n\n`]);
    // "sk-pr" could start the key: held until the next chunk shows it does not.
    expect(streamed("abc sk-prune", [9]).pieces).toEqual(["abc ", "sk-prune"]);
    // "s" alone at the end could start it: held each time, the last one until the end.
    expect(streamed("boss", [3]).pieces).toEqual(["bo", "s", "s"]);
    // A tail that cannot start it (no "sk-" there) goes out at once.
    expect(streamed("abc sk_x", [8]).pieces).toEqual(["abc sk_x", ""]);
  });
});
