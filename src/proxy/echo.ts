/**
 * A provider key echoed by the upstream never reaches the client: in a
 * response header, a body read whole, or a streamed body, each occurrence of
 * the key is replaced by its hint (`sk-…wxyz`). Some OpenAI-compatible servers
 * and gateways repeat the key they were given in an error message or a debug
 * header, and the key holder must never learn the key behind their proxy key.
 *
 * The search is a byte search (`Buffer.indexOf`, native), once per header
 * set, body or chunk; figures in test/bench/README.md.
 */
import { Buffer } from "node:buffer";
import { headerRecord } from "./headers.ts";

/**
 * Keys shorter than this are placeholders, not secrets: `EMPTY` (vLLM),
 * `ollama`, `none`, `x` for a local server that checks nothing. Replacing them
 * would mangle every answer that happens to contain the word; every real
 * provider's key is far longer (OpenAI 51 and more, Gemini 39, Azure 32).
 */
const MIN_SECRET_CHARS = 16;

/** One provider key's secret and hint, as bytes, made once per key (not per request) by `echoFor`. */
export class SecretEcho {
  private readonly bytes: Buffer;
  private readonly hintBytes: Buffer;
  /** A header value is Latin-1 only (`Headers.set` throws on `…`): there the hint is written `sk-...wxyz`. */
  private readonly headerHint: string;
  /** Which byte values occur in the secret: a tail whose last byte is not one of them cannot start it. */
  private readonly inSecret = new Uint8Array(256);

  private constructor(
    private readonly secret: string,
    private readonly hint: string,
  ) {
    this.bytes = Buffer.from(secret, "utf8");
    this.hintBytes = Buffer.from(hint, "utf8");
    this.headerHint = hint.replaceAll("…", "...");
    for (const byte of this.bytes) this.inSecret[byte] = 1;
  }

  /** Undefined for a placeholder key, which is never searched for. */
  static of(secret: string, hint: string): SecretEcho | undefined {
    return secret.length >= MIN_SECRET_CHARS ? new SecretEcho(secret, hint) : undefined;
  }

  /** Text (an error message keyward logs) with the key replaced by its hint. */
  inText(text: string): string {
    return text.includes(this.secret) ? text.replaceAll(this.secret, this.hint) : text;
  }

  /** Replaces the key in any header value, in place. */
  inHeaders(headers: Headers): void {
    const all = headerRecord(headers);
    for (const name in all) {
      const value = all[name] as string;
      if (value.includes(this.secret)) headers.set(name, value.replaceAll(this.secret, this.headerHint));
    }
  }

  /** A whole body with the key replaced; the same array when it holds none (the common case: no copy). */
  inBody(body: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
    const view = asBuffer(body);
    const at = view.indexOf(this.bytes);
    return at < 0 ? body : this.replaced(view, at).bytes;
  }

  /** A scrubber for one streamed body. */
  stream(): EchoStream {
    return new EchoStream(this);
  }

  /**
   * `view` with every occurrence from `at` on replaced (left to right, not
   * overlapping), and where the last replacement ends in the result.
   */
  replaced(view: Buffer, at: number): { bytes: Uint8Array<ArrayBuffer>; end: number } {
    const parts: Buffer[] = [];
    let from = 0;
    let length = 0;
    for (let i = at; i >= 0; i = view.indexOf(this.bytes, from)) {
      parts.push(view.subarray(from, i), this.hintBytes);
      length += i - from + this.hintBytes.byteLength;
      from = i + this.bytes.byteLength;
    }
    const end = length;
    parts.push(view.subarray(from));
    const joined = Buffer.concat(parts, length + view.byteLength - from);
    return { bytes: new Uint8Array(joined.buffer, joined.byteOffset, joined.byteLength), end };
  }

  /** The first occurrence of the key in `view`, or -1. */
  find(view: Buffer): number {
    return view.indexOf(this.bytes);
  }

  /**
   * Where the longest tail of `view` (starting at or after `from`) that could
   * be the start of the key begins, or `view.byteLength` when none could.
   * Such a tail is at most the key's length minus one byte.
   */
  partialTail(view: Buffer, from: number): number {
    const end = view.byteLength;
    // The common case, and O(1): an SSE event ends in a newline, which no key holds (keys have no whitespace).
    if (end === 0 || this.inSecret[view[end - 1] as number] === 0) return end;
    const first = this.bytes[0] as number;
    for (let i = view.indexOf(first, Math.max(from, end - this.bytes.byteLength + 1)); i >= 0; i = view.indexOf(first, i + 1)) {
      if (view.compare(this.bytes, 0, end - i, i, end) === 0) return i;
    }
    return end;
  }
}

/**
 * One streamed body's scrubber. Each chunk goes on as it arrives, with the
 * key replaced; only a tail that could be the start of the key (at most its
 * length minus one byte) waits for the next chunk or the end, so an echo split
 * across chunks is caught and nothing else is held back or coalesced.
 */
export class EchoStream {
  private held: Buffer | undefined;

  constructor(private readonly echo: SecretEcho) {}

  /** What to send now for this chunk: possibly empty (all of it might start the key). */
  push(chunk: Uint8Array): Uint8Array {
    const held = this.held;
    this.held = undefined;
    let view = held ? Buffer.concat([held, chunk]) : asBuffer(chunk);
    let out: Uint8Array = held ? view : chunk;
    let from = 0;
    const at = this.echo.find(view);
    if (at >= 0) {
      const replaced = this.echo.replaced(view, at);
      out = replaced.bytes;
      view = asBuffer(out);
      // The hint itself is never searched again.
      from = replaced.end;
    }
    const keep = this.echo.partialTail(view, from);
    if (keep === view.byteLength) return out;
    this.held = Buffer.from(view.subarray(keep));
    return out.subarray(0, keep);
  }

  /** Bytes still held at the end of the body: they were not the key after all. */
  end(): Uint8Array | undefined {
    const held = this.held;
    this.held = undefined;
    return held;
  }
}

/**
 * The provider key's scrubber, made on its first request and kept on its
 * cache entry (null: a placeholder, never searched for). A changed key gets a
 * new entry, so a new scrubber.
 */
export function echoFor(entry: { echo?: SecretEcho | null }, secret: string, hint: string): SecretEcho | undefined {
  if (entry.echo === undefined) entry.echo = SecretEcho.of(secret, hint) ?? null;
  return entry.echo ?? undefined;
}

/** A Buffer over the same memory, for its native search (no copy). */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
