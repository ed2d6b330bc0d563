import { parseStrictJson } from "../limits/strict-json.ts";
import { ProxyError } from "./errors.ts";

const tooLarge = (max: number) => new ProxyError("request_too_large", `Cannot forward request: body exceeds the ${max}-byte limit`);

/**
 * Reads a request body into memory with a hard cap. A declared
 * `content-length` over the cap is refused before reading a byte; a chunked
 * body is counted as it arrives and abandoned at the cap.
 *
 * A declared length is read with `arrayBuffer()` without touching
 * `request.body` first: on Bun, asking for the stream builds one, and the
 * read then goes through it (about 4 µs more per request, measured).
 */
export async function readBody(request: Request, maxBytes: number): Promise<Uint8Array<ArrayBuffer> | undefined> {
  const declared = request.headers.get("content-length");
  if (declared !== null) {
    const length = Number(declared);
    if (length > maxBytes) throw tooLarge(maxBytes);
    if (length === 0) return undefined;
    const bytes = new Uint8Array(await request.arrayBuffer());
    if (bytes.byteLength > maxBytes) throw tooLarge(maxBytes);
    return bytes;
  }
  if (request.body === null) return undefined;
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let total = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0];
  return joinChunks(chunks, total);
}

/** `chunks` copied end to end into one array of `byteLength` bytes: the body readers and the meter collect a body in pieces and need it whole. */
export function joinChunks(chunks: readonly Uint8Array[], byteLength: number): Uint8Array<ArrayBuffer> {
  const joined = new Uint8Array(byteLength);
  let offset = 0;
  for (const chunk of chunks) {
    joined.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return joined;
}

const decoder = new TextDecoder();

/** A body read strictly (duplicate keys and the like refused) as a JSON object; `what` names what takes it. */
export function strictJsonObject(body: Uint8Array | undefined, what: string): Record<string, unknown> {
  if (!body) throw new ProxyError("invalid_request", `Cannot read request: ${what} takes a JSON body`);
  const parsed = parseStrictJson(decoder.decode(body));
  if (!parsed.ok) throw new ProxyError("invalid_request", parsed.message, { param: parsed.field });
  const value = parsed.value;
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new ProxyError("invalid_request", "Cannot read request: body must be a JSON object");
  return value as Record<string, unknown>;
}
