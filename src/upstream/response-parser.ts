/**
 * An incremental HTTP/1.1 response parser for the upstream client: bytes in
 * as the socket delivers them, a head, body pieces and an end out.
 *
 * Strict where leniency would let an upstream confuse framing (RFC 9112 §6.3):
 * conflicting lengths, obsolete line folding, bad chunk sizes and oversized
 * heads are errors, never guesses.
 */

export type Framing =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  /** Delimited by the server closing the connection. */
  | { kind: "close" };

export interface ResponseHead {
  status: number;
  statusText: string;
  /** Lower-case names, in arrival order, connection-level ones included. */
  headers: [string, string][];
  framing: Framing;
  /** Whether the connection may carry another request afterwards. */
  reusable: boolean;
  /** `Keep-Alive: timeout=N` in milliseconds, when the server said so. */
  keepAliveMs?: number;
}

export interface ParserEvents {
  head(head: ResponseHead): void;
  body(piece: Uint8Array): void;
  end(): void;
}

export class ParseError extends Error {
  constructor(message: string) {
    super(`Cannot read provider's answer: ${message}`);
    this.name = "ParseError";
  }
}

/** More than any provider sends; a bound so a broken upstream cannot grow memory without end. */
const MAX_HEAD_BYTES = 64 * 1024;
const MAX_CHUNK_LINE_BYTES = 4096;
/** RFC 9110 `token`: what a header name (or a method) may be made of. */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/;
/** Lines end at LF; a CR before it is optional in chunk lines and required in the head (`\r\n\r\n`). */
const LF = 0x0a;

type State = "head" | "length" | "chunk-size" | "chunk-data" | "chunk-end" | "trailers" | "close" | "done";

export class ResponseParser {
  private state: State = "head";
  private pending: Uint8Array | null = null;
  private remaining = 0;
  private scanFrom = 0;

  /** `method`: a HEAD answer has no body whatever its headers say. */
  constructor(
    private readonly method: string,
    private readonly events: ParserEvents,
  ) {}

  /** Whether the body runs until the connection closes (then `finish()` ends it). */
  get closeDelimited(): boolean {
    return this.state === "close";
  }

  /** The connection closed: ends a close-delimited body; anything else unfinished is an error. */
  finish(): void {
    if (this.state === "close") {
      this.state = "done";
      this.events.end();
    }
  }

  push(data: Uint8Array): void {
    let input = data;
    if (this.pending) {
      input = concat(this.pending, data);
      this.pending = null;
    }
    let at = 0;
    while (at < input.length && this.state !== "done") {
      switch (this.state) {
        case "head":
          at = this.readHead(input, at);
          break;
        case "length":
        case "chunk-data": {
          const take = Math.min(this.remaining, input.length - at);
          this.events.body(input.subarray(at, at + take));
          at += take;
          this.remaining -= take;
          if (this.remaining === 0) {
            if (this.state === "length") this.end();
            else this.state = "chunk-end";
          }
          break;
        }
        case "chunk-size":
          at = this.readChunkSize(input, at);
          break;
        case "chunk-end":
          at = this.readChunkEnd(input, at);
          break;
        case "trailers":
          at = this.readTrailers(input, at);
          break;
        case "close":
          this.events.body(input.subarray(at));
          at = input.length;
          break;
      }
      if (at < 0) return; // waiting for more bytes; what is left was kept in `pending`
    }
    if (at < input.length && this.state === "done") throw new ParseError("bytes after the end of the answer");
  }

  private end(): void {
    this.state = "done";
    this.events.end();
  }

  /** Keeps `input[from..]` for the next push; returns -1 (need more). */
  private wait(input: Uint8Array, from: number, limit: number, what: string): number {
    if (input.length - from > limit) throw new ParseError(`${what} is longer than ${limit} bytes`);
    this.pending = input.slice(from);
    return -1;
  }

  private readHead(input: Uint8Array, from: number): number {
    const end = indexOfBlankLine(input, Math.max(from, from + this.scanFrom - 3));
    if (end < 0) {
      this.scanFrom = input.length - from;
      return this.wait(input, from, MAX_HEAD_BYTES, "the header section");
    }
    this.scanFrom = 0;
    if (end - from > MAX_HEAD_BYTES) throw new ParseError(`the header section is longer than ${MAX_HEAD_BYTES} bytes`);
    const head = parseHead(latin1(input, from, end), this.method);
    const next = end + 4;
    // Interim answers (100 Continue, 103 Early Hints) precede the real one.
    if (head.status >= 100 && head.status < 200) {
      if (head.status === 101) throw new ParseError("the provider switched protocols, which keyward never asks for");
      return next;
    }
    this.events.head(head);
    const framing = head.framing;
    if (framing.kind === "none" || (framing.kind === "length" && framing.length === 0)) this.end();
    else if (framing.kind === "length") {
      this.state = "length";
      this.remaining = framing.length;
    } else this.state = framing.kind === "chunked" ? "chunk-size" : "close";
    return next;
  }

  private readChunkSize(input: Uint8Array, from: number): number {
    const eol = input.indexOf(LF, from);
    if (eol < 0) return this.wait(input, from, MAX_CHUNK_LINE_BYTES, "a chunk size line");
    const line = latin1(input, from, eol).replace(/\r$/, "");
    const hex = line.split(";", 1)[0]?.trim() ?? "";
    if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) throw new ParseError("a chunk size is not a hexadecimal number");
    const size = Number.parseInt(hex, 16);
    if (size === 0) this.state = "trailers";
    else {
      this.state = "chunk-data";
      this.remaining = size;
    }
    return eol + 1;
  }

  private readChunkEnd(input: Uint8Array, from: number): number {
    if (input[from] === 0x0d) {
      if (from + 1 >= input.length) return this.wait(input, from, 2, "a chunk's end");
      from++;
    }
    if (input[from] !== LF) throw new ParseError("a chunk does not end where its size says");
    this.state = "chunk-size";
    return from + 1;
  }

  /** Trailer fields are read past and dropped: nothing downstream would forward them. */
  private readTrailers(input: Uint8Array, from: number): number {
    for (;;) {
      const eol = input.indexOf(LF, from);
      if (eol < 0) return this.wait(input, from, MAX_HEAD_BYTES, "the trailer section");
      const empty = eol === from || (eol === from + 1 && input[from] === 0x0d);
      from = eol + 1;
      if (empty) {
        this.end();
        return from;
      }
    }
  }
}

function parseHead(text: string, method: string): ResponseHead {
  const lines = text.split("\r\n");
  const match = STATUS_LINE.exec(lines[0] ?? "");
  if (!match) throw new ParseError("the status line is not HTTP/1.x");
  const status = Number(match[2]);
  const headers: [string, string][] = [];
  let length: number | undefined;
  let transferEncoding: string | undefined;
  let connection = "";
  let keepAliveMs: number | undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new ParseError(line[0] === " " || line[0] === "\t" ? "obsolete header line folding" : "a header line has no name");
    const name = line.slice(0, colon).toLowerCase();
    if (!TOKEN.test(name)) throw new ParseError("a header name has characters HTTP does not allow");
    const value = line.slice(colon + 1).trim();
    if (/[\0\n\r]/.test(value)) throw new ParseError("a header value has a control character");
    if (name === "content-length") {
      // Repeated identical values (or a list of them) are allowed; different ones are a smuggling attempt.
      for (const part of value.split(",")) {
        const n = /^\d{1,15}$/.test(part.trim()) ? Number(part.trim()) : Number.NaN;
        if (Number.isNaN(n) || (length !== undefined && length !== n)) throw new ParseError("the content-length is invalid or conflicting");
        length = n;
      }
    } else if (name === "transfer-encoding") transferEncoding = transferEncoding ? `${transferEncoding}, ${value}` : value;
    else if (name === "connection") connection += `${value.toLowerCase()},`;
    else if (name === "keep-alive") {
      const timeout = /timeout=(\d+)/i.exec(value);
      if (timeout) keepAliveMs = Number(timeout[1]) * 1000;
    }
    headers.push([name, value]);
  }
  const http10 = match[1] === "0";
  let reusable = !http10 && !/(^|[\s,])close\s*,/.test(connection);
  let framing: Framing;
  if (method === "HEAD" || status < 200 || status === 204 || status === 304) framing = { kind: "none" };
  else if (transferEncoding !== undefined) {
    // With both, transfer-encoding wins and the connection must not be reused (RFC 9112 §6.3).
    if (length !== undefined) reusable = false;
    const codings = transferEncoding
      .toLowerCase()
      .split(",")
      .map((c) => c.trim());
    if (codings[codings.length - 1] === "chunked") framing = { kind: "chunked" };
    else {
      framing = { kind: "close" };
      reusable = false;
    }
  } else if (length !== undefined) framing = { kind: "length", length };
  else {
    framing = { kind: "close" };
    reusable = false;
  }
  return { status, statusText: match[3] ?? "", headers, framing, reusable, keepAliveMs };
}

/** Index of the `\r\n\r\n` that ends a head, or -1. */
function indexOfBlankLine(input: Uint8Array, from: number): number {
  for (let i = input.indexOf(0x0d, from); i >= 0 && i + 3 < input.length; i = input.indexOf(0x0d, i + 1)) {
    if (input[i + 1] === 0x0a && input[i + 2] === 0x0d && input[i + 3] === 0x0a) return i;
  }
  return -1;
}

function latin1(input: Uint8Array, from: number, to: number): string {
  let text = "";
  // Header sections are short; String.fromCharCode over slices avoids a TextDecoder per head.
  for (let i = from; i < to; i += 4096) {
    text += String.fromCharCode.apply(null, input.subarray(i, Math.min(to, i + 4096)) as unknown as number[]);
  }
  return text;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
