/**
 * A multipart/form-data body read part by part as it arrives, and the pieces
 * to encode one again. An upload is never held whole: a part's bytes are
 * handed on as they come, and only a delimiter's length of them waits for the
 * next chunk. Strict where parsers are known to differ (repeated parameters,
 * RFC 5987 `name*`, transfer encodings, folded headers): such a form is
 * refused, since the provider must read the parts keyward read.
 */
import { Buffer } from "node:buffer";

export interface PartHead {
  name: string;
  filename?: string;
  contentType?: string;
}

/** Told of each part as it is read: its head, its bytes in pieces, its end. */
export interface PartSink {
  begin(head: PartHead): void;
  data(bytes: Uint8Array): void;
  end(): void;
}

export class MultipartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MultipartError";
  }
}

/** A part's headers are a few lines: more is not a form any SDK sends. */
const MAX_HEAD_BYTES = 16 * 1024;
const MAX_PARTS = 64;
const CRLF = Buffer.from("\r\n", "latin1");
const HEAD_END = Buffer.from("\r\n\r\n", "latin1");
const EMPTY = Buffer.alloc(0);
const DASH = 0x2d;

/** Field names keyward passes on: those of the APIs it meters (`file`, `purpose`, `expires_after[seconds]`), nothing that needs escaping. */
const FIELD_NAME = /^[A-Za-z0-9_.[\]-]{1,128}$/;

export function multipartBoundary(contentType: string): string | undefined {
  if (!/^multipart\/form-data\s*(;|$)/i.test(contentType)) return undefined;
  const match = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;"]{1,70}))\s*(;|$)/i.exec(contentType);
  return match?.[1] ?? match?.[2];
}

type State = "preamble" | "delimiter" | "head" | "body" | "done";

export class MultipartReader {
  private readonly delimiter: Buffer;
  // The first delimiter may open the body with no line break before it: read as if one came first.
  private held: Buffer = Buffer.from(CRLF);
  private state: State = "preamble";
  private parts = 0;

  constructor(
    boundary: string,
    private readonly sink: PartSink,
  ) {
    this.delimiter = Buffer.from(`\r\n--${boundary}`, "latin1");
  }

  /** Reads the next chunk; throws `MultipartError` for a form keyward will not pass on. */
  push(chunk: Uint8Array): void {
    this.held = this.held.byteLength === 0 ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength) : Buffer.concat([this.held, chunk]);
    while (this.step());
  }

  /** After the last chunk: throws unless the closing delimiter was read. */
  finish(): void {
    if (this.state !== "done") throw new MultipartError("the form ends before its closing boundary");
  }

  /** One step of the state machine; false when it needs more bytes. */
  private step(): boolean {
    switch (this.state) {
      case "preamble":
      case "body":
        return this.untilDelimiter();
      case "delimiter":
        return this.afterDelimiter();
      case "head":
        return this.head();
      case "done":
        // The epilogue is not passed on.
        this.held = EMPTY;
        return false;
    }
  }

  private untilDelimiter(): boolean {
    const at = this.held.indexOf(this.delimiter);
    if (at < 0) {
      // Keep what could be the start of a delimiter split across chunks; the rest is the part's.
      const cut = this.held.byteLength - (this.delimiter.byteLength - 1);
      if (cut > 0) {
        if (this.state === "body") this.sink.data(this.held.subarray(0, cut));
        this.held = this.held.subarray(cut);
      }
      return false;
    }
    if (this.state === "body") {
      if (at > 0) this.sink.data(this.held.subarray(0, at));
      this.sink.end();
    }
    this.held = this.held.subarray(at + this.delimiter.byteLength);
    this.state = "delimiter";
    return true;
  }

  /** `--` closes the form; otherwise optional padding, a line break, and the next part's headers. */
  private afterDelimiter(): boolean {
    if (this.held.byteLength < 2) return false;
    if (this.held[0] === DASH && this.held[1] === DASH) {
      this.state = "done";
      return true;
    }
    const eol = this.held.indexOf(CRLF);
    if (eol < 0) {
      if (this.held.byteLength > 256) throw new MultipartError("a boundary is followed by something other than a line break");
      return false;
    }
    if (!/^[ \t]*$/.test(this.held.subarray(0, eol).toString("latin1")))
      throw new MultipartError("a boundary is followed by something other than a line break");
    this.held = this.held.subarray(eol + CRLF.byteLength);
    this.state = "head";
    return true;
  }

  private head(): boolean {
    if (this.held.byteLength >= 2 && this.held[0] === CRLF[0] && this.held[1] === CRLF[1]) throw new MultipartError("a part has no headers");
    const end = this.held.indexOf(HEAD_END);
    if (end < 0) {
      if (this.held.byteLength > MAX_HEAD_BYTES) throw new MultipartError(`a part's headers exceed ${MAX_HEAD_BYTES} bytes`);
      return false;
    }
    if (++this.parts > MAX_PARTS) throw new MultipartError(`the form has more than ${MAX_PARTS} parts`);
    const head = parseHead(this.held.subarray(0, end).toString("utf8"));
    this.held = this.held.subarray(end + HEAD_END.byteLength);
    this.state = "body";
    this.sink.begin(head);
    return true;
  }
}

function parseHead(text: string): PartHead {
  let disposition: string | undefined;
  let contentType: string | undefined;
  for (const line of text.split("\r\n")) {
    if (/^[ \t]/.test(line)) throw new MultipartError("a part header is folded over two lines");
    const colon = line.indexOf(":");
    if (colon <= 0) throw new MultipartError("a part header has no name");
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === "content-disposition") {
      if (disposition !== undefined) throw new MultipartError("a part has two Content-Disposition headers");
      disposition = value;
    } else if (name === "content-type") {
      if (contentType !== undefined) throw new MultipartError("a part has two Content-Type headers");
      contentType = value;
    } else if (name === "content-transfer-encoding" && !/^(7bit|8bit|binary)$/i.test(value)) {
      throw new MultipartError(`a part's Content-Transfer-Encoding ${value.slice(0, 32)} is not supported`);
    }
    // Other part headers are dropped: keyward encodes the part again with its own.
  }
  if (disposition === undefined) throw new MultipartError("a part has no Content-Disposition");
  const params = dispositionParams(disposition);
  const name = params.get("name");
  if (name === undefined || !FIELD_NAME.test(name)) throw new MultipartError("a part's name is missing or not a plain field name");
  const head: PartHead = { name };
  const filename = params.get("filename");
  if (filename !== undefined) head.filename = filename;
  if (contentType !== undefined) head.contentType = contentType;
  return head;
}

const PARAM = /;[ \t]*([^\s=;]+)[ \t]*=[ \t]*(?:"((?:[^"\\\r\n]|\\.)*)"|([^\s;"]*))[ \t]*/y;

/** `form-data; name="file"; filename="a.jsonl"`: each parameter once, none in RFC 5987 form. */
function dispositionParams(value: string): Map<string, string> {
  const head = /^form-data[ \t]*/i.exec(value);
  if (!head) throw new MultipartError("a part's Content-Disposition is not form-data");
  const params = new Map<string, string>();
  PARAM.lastIndex = head[0].length;
  while (PARAM.lastIndex < value.length) {
    const start = PARAM.lastIndex;
    const match = PARAM.exec(value);
    if (!match || match.index !== start) throw new MultipartError("a part's Content-Disposition cannot be read");
    const key = (match[1] as string).toLowerCase();
    if (key.endsWith("*")) throw new MultipartError(`a part's Content-Disposition has ${key}, which parsers read differently`);
    if (params.has(key)) throw new MultipartError(`a part's Content-Disposition names ${key} twice`);
    params.set(key, match[2] ?? match[3] ?? "");
  }
  return params;
}

const encoder = new TextEncoder();

/** A part's opening as keyward sends it: its own boundary, and only the headers it read. */
export function encodePartHead(boundary: string, head: PartHead, first: boolean): Uint8Array {
  const filename = head.filename === undefined ? "" : `; filename="${safeFilename(head.filename)}"`;
  const type = head.contentType === undefined ? "" : `Content-Type: ${safeContentType(head.contentType)}\r\n`;
  return encoder.encode(`${first ? "" : "\r\n"}--${boundary}\r\nContent-Disposition: form-data; name="${head.name}"${filename}\r\n${type}\r\n`);
}

/** The form's end, as keyward sends it (`first`: the form had no part). */
export function encodeClosing(boundary: string, first: boolean): Uint8Array {
  return encoder.encode(`${first ? "" : "\r\n"}--${boundary}--\r\n`);
}

/** Nothing a parser could read as a quote, an escape or a line break; the extension stays. */
function safeFilename(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9._ -]/g, "_").slice(-128);
  return safe === "" ? "file" : safe;
}

function safeContentType(type: string): string {
  return /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+$/.test(type) ? type : "application/octet-stream";
}
