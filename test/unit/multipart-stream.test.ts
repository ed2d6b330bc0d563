/**
 * The streaming multipart reader (src/proxy/multipart-stream.ts): the parts of
 * a form as Bun's own FormData encodes it, whichever way the body is cut into
 * chunks, and the forms it refuses because parsers read them differently.
 */
import { describe, expect, test } from "bun:test";
import { encodeClosing, encodePartHead, multipartBoundary, MultipartReader, type PartHead } from "../../src/proxy/multipart-stream.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Part {
  head: PartHead;
  body: string;
}

/** Reads `bytes` in chunks of `size` bytes; returns the parts, or throws the reader's error. */
function read(boundary: string, bytes: Uint8Array, size = bytes.byteLength): Part[] {
  const parts: Part[] = [];
  let current: { head: PartHead; chunks: Uint8Array[] } | undefined;
  const reader = new MultipartReader(boundary, {
    begin: (head) => {
      current = { head, chunks: [] };
    },
    data: (chunk) => current?.chunks.push(chunk.slice()),
    end: () => {
      if (!current) throw new Error("end without begin");
      parts.push({ head: current.head, body: decoder.decode(Buffer.concat(current.chunks)) });
      current = undefined;
    },
  });
  for (let i = 0; i < bytes.byteLength; i += size) reader.push(bytes.subarray(i, i + size));
  reader.finish();
  return parts;
}

async function encoded(form: FormData): Promise<{ boundary: string; bytes: Uint8Array }> {
  const response = new Response(form);
  const boundary = multipartBoundary(response.headers.get("content-type") ?? "");
  if (boundary === undefined) throw new Error("no boundary");
  return { boundary, bytes: new Uint8Array(await response.arrayBuffer()) };
}

describe("reading", () => {
  test("a form as FormData encodes it, cut at every chunk size, gives the same parts", async () => {
    const lines = `${JSON.stringify({ custom_id: "a" })}\r\n--not-the-boundary\r\n${"x".repeat(300)}\n`;
    const form = new FormData();
    form.append("purpose", "batch");
    form.append("file", new File([lines], "in.jsonl", { type: "application/jsonl" }));
    const { boundary, bytes } = await encoded(form);
    const expected = [
      { head: { name: "purpose" }, body: "batch" },
      { head: { name: "file", filename: "in.jsonl", contentType: "application/jsonl" }, body: lines },
    ];
    for (const size of [1, 2, 3, 7, 64, 1024, bytes.byteLength]) expect(read(boundary, bytes, size)).toEqual(expected);
  });

  test("the form keyward encodes again reads back to the same parts", () => {
    const head: PartHead = { name: "file", filename: 'a"b\r\nc.jsonl', contentType: "text/plain; charset=utf-8" };
    const bytes = Buffer.concat([
      encodePartHead("B", head, true),
      encoder.encode("{}\n"),
      encodePartHead("B", { name: "purpose" }, false),
      encoder.encode("batch"),
      encodeClosing("B", false),
    ]);
    expect(read("B", bytes)).toEqual([
      { head: { name: "file", filename: "a_b__c.jsonl", contentType: "application/octet-stream" }, body: "{}\n" },
      { head: { name: "purpose" }, body: "batch" },
    ]);
  });

  test("a preamble and an epilogue are not parts; padding after a boundary is allowed", () => {
    const body = 'ignored\r\n--B  \r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--B--\r\ntrailing';
    expect(read("B", encoder.encode(body))).toEqual([{ head: { name: "a" }, body: "1" }]);
  });

  test("the boundary is read from the content type, quoted or not", () => {
    expect(multipartBoundary("multipart/form-data; boundary=abc")).toBe("abc");
    expect(multipartBoundary('multipart/form-data; charset=utf-8; boundary="a b"')).toBe("a b");
    expect(multipartBoundary("application/json")).toBeUndefined();
    expect(multipartBoundary("multipart/form-data")).toBeUndefined();
  });
});

describe("refusing", () => {
  const part = (headers: string, body = "x") => encoder.encode(`--B\r\n${headers}\r\n\r\n${body}\r\n--B--\r\n`);
  const cases: Record<string, Uint8Array> = {
    "a name given twice": part('Content-Disposition: form-data; name="a"; name="b"'),
    "an RFC 5987 name": part("Content-Disposition: form-data; name*=UTF-8''file"),
    "a name that needs escaping": part('Content-Disposition: form-data; name="a\\"b"'),
    "a transfer encoding": part('Content-Disposition: form-data; name="file"\r\nContent-Transfer-Encoding: base64'),
    "a folded header": part('Content-Disposition: form-data;\r\n name="file"'),
    "two dispositions": part('Content-Disposition: form-data; name="a"\r\nContent-Disposition: form-data; name="b"'),
    "no disposition": part("Content-Type: text/plain"),
    "an attachment": part('Content-Disposition: attachment; name="a"'),
    "no closing boundary": encoder.encode('--B\r\nContent-Disposition: form-data; name="a"\r\n\r\nx'),
    "bytes after a boundary": encoder.encode('--Bx\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--B--'),
  };
  for (const [what, bytes] of Object.entries(cases)) {
    test(what, () => {
      expect(() => read("B", bytes)).toThrow();
    });
  }
});
