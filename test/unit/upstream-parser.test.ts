/**
 * The upstream client's HTTP/1.1 response parser: framing by the rules of
 * RFC 9112 §6.3, every answer split at every byte boundary (sockets deliver
 * arbitrary pieces), and the malformed answers it must refuse rather than
 * guess at.
 */
import { describe, expect, test } from "bun:test";
import { ParseError, ResponseParser, type ResponseHead } from "../../src/upstream/response-parser.ts";

interface Parsed {
  head?: ResponseHead;
  body: string;
  ended: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function parse(method: string, pieces: string[], closeAtEnd = false): Parsed {
  const out: Parsed = { body: "", ended: false };
  const parser = new ResponseParser(method, {
    head: (head) => {
      out.head = head;
    },
    body: (piece) => {
      out.body += decoder.decode(piece);
    },
    end: () => {
      out.ended = true;
    },
  });
  for (const piece of pieces) parser.push(encoder.encode(piece));
  if (closeAtEnd) parser.finish();
  return out;
}

/** The same answer in two pieces, split at every offset. */
function everySplit(text: string): string[][] {
  return Array.from({ length: text.length - 1 }, (_, i) => [text.slice(0, i + 1), text.slice(i + 1)]);
}

const LENGTH = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}';
const CHUNKED =
  "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n" +
  "7;ext=1\r\ndata: a\r\n8\r\n\ndata: b\r\n0\r\nx-trailer: t\r\n\r\n";

describe("framing", () => {
  test("content-length: the body is exactly that many bytes, at every split", () => {
    for (const pieces of [[LENGTH], ...everySplit(LENGTH)]) {
      const parsed = parse("POST", pieces);
      expect(parsed).toMatchObject({ body: '{"ok":true}', ended: true });
      expect(parsed.head).toMatchObject({ status: 200, statusText: "OK", reusable: true, framing: { kind: "length", length: 11 } });
      expect(parsed.head?.headers).toContainEqual(["content-type", "application/json"]);
    }
  });

  test("chunked: sizes, extensions and trailers, at every split", () => {
    for (const pieces of [[CHUNKED], ...everySplit(CHUNKED)]) {
      const parsed = parse("POST", pieces);
      expect(parsed).toMatchObject({ body: "data: a\ndata: b", ended: true });
      expect(parsed.head?.framing).toEqual({ kind: "chunked" });
      expect(parsed.head?.reusable).toBe(true);
    }
  });

  test("no length, no chunking: the body runs until the connection closes, which ends it", () => {
    const parsed = parse("GET", ["HTTP/1.1 200 OK\r\n\r\npart one, ", "part two"], true);
    expect(parsed).toMatchObject({ body: "part one, part two", ended: true });
    expect(parsed.head).toMatchObject({ framing: { kind: "close" }, reusable: false });
  });

  test("HEAD, 204 and 304 have no body whatever their headers say", () => {
    expect(parse("HEAD", ["HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\n"])).toMatchObject({ body: "", ended: true });
    expect(parse("POST", ["HTTP/1.1 204 No Content\r\ncontent-length: 50\r\n\r\n"])).toMatchObject({ body: "", ended: true });
    expect(parse("GET", ["HTTP/1.1 304 Not Modified\r\ntransfer-encoding: chunked\r\n\r\n"])).toMatchObject({ body: "", ended: true });
  });

  test("an empty body with content-length: 0 ends at once", () => {
    expect(parse("POST", ["HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"])).toMatchObject({ body: "", ended: true });
  });

  test("interim answers (100 Continue, 103 Early Hints) are skipped for the real one", () => {
    const parsed = parse("POST", ["HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n", LENGTH]);
    expect(parsed.head?.status).toBe(200);
    expect(parsed.body).toBe('{"ok":true}');
  });

  test("transfer-encoding wins over content-length, and such a connection is not reused", () => {
    const parsed = parse("POST", ["HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"]);
    expect(parsed).toMatchObject({ body: "hi", ended: true });
    expect(parsed.head?.reusable).toBe(false);
  });

  test("repeated identical content-lengths are one length", () => {
    expect(parse("POST", ["HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 2, 2\r\n\r\nhi"]).body).toBe("hi");
  });
});

describe("connection reuse", () => {
  test("Connection: close, and HTTP/1.0, end the connection after the answer", () => {
    expect(parse("GET", ["HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"]).head?.reusable).toBe(false);
    expect(parse("GET", ["HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\ncontent-length: 0\r\n\r\n"]).head?.reusable).toBe(false);
    expect(parse("GET", ["HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n"]).head?.reusable).toBe(false);
  });

  test("Keep-Alive: timeout=N is read in milliseconds", () => {
    expect(parse("GET", ["HTTP/1.1 200 OK\r\nkeep-alive: timeout=5, max=100\r\ncontent-length: 0\r\n\r\n"]).head?.keepAliveMs).toBe(5000);
  });
});

describe("refused, never guessed", () => {
  const refused: [string, string, RegExp][] = [
    ["conflicting content-lengths", "HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nhi", /content-length/],
    ["a negative content-length", "HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n", /content-length/],
    ["obsolete line folding", "HTTP/1.1 200 OK\r\nx-a: 1\r\n folded\r\n\r\n", /folding/],
    ["a header name with a space", "HTTP/1.1 200 OK\r\nbad name: 1\r\n\r\n", /header name/],
    ["a status line that is not HTTP/1.x", "HTTP/2 200\r\n\r\n", /status line/],
    ["a chunk size that is not hex", "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n", /chunk size/],
    ["a chunk longer than its size", "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhello\r\n", /chunk does not end/],
    ["bytes after a complete answer", "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhiEXTRA", /after the end/],
    ["101 Switching Protocols", "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n", /switched protocols/],
  ];
  for (const [name, text, message] of refused) {
    test(name, () => {
      let error: unknown;
      try {
        parse("POST", [text]);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ParseError);
      expect((error as Error).message).toMatch(/^Cannot read provider's answer: /);
      expect((error as Error).message).toMatch(message);
    });
  }

  test("a header section that never ends is refused at 64 KiB, not buffered without bound", () => {
    const parser = new ResponseParser("GET", { head: () => {}, body: () => {}, end: () => {} });
    parser.push(encoder.encode("HTTP/1.1 200 OK\r\n"));
    const filler = encoder.encode(`x-filler: ${"a".repeat(1000)}\r\n`);
    expect(() => {
      for (let i = 0; i < 80; i++) parser.push(filler);
    }).toThrow(/longer than 65536 bytes/);
  });
});
