import { joinChunks } from "./body.ts";
import { ProxyError } from "./errors.ts";

const DECODERS: Record<string, CompressionFormat> = { gzip: "gzip", "x-gzip": "gzip", deflate: "deflate" };

/**
 * A request body as the client meant it. A gzip- or deflate-encoded body is
 * decoded here and forwarded decoded (the encoding header is not passed on),
 * so the limits read what the provider will read; the decoded size has the
 * same cap as a plain body, checked as it is produced, so a small bomb cannot
 * fill memory. Other encodings are refused rather than forwarded unread.
 */
export async function decodeBody(body: Uint8Array<ArrayBuffer>, encoding: string | null, maxBytes: number): Promise<Uint8Array<ArrayBuffer>> {
  const name = encoding?.trim().toLowerCase();
  if (!name || name === "identity") return body;
  const format = DECODERS[name];
  if (!format) {
    throw new ProxyError("invalid_request", `Cannot read request: content-encoding ${name.slice(0, 32)} is not supported (send gzip, deflate or none)`);
  }
  const reader = new Blob([body]).stream().pipeThrough(new DecompressionStream(format)).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        await reader.cancel();
        throw new ProxyError("request_too_large", `Cannot forward request: decoded body exceeds the ${maxBytes}-byte limit`);
      }
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof ProxyError) throw err;
    throw new ProxyError("invalid_request", `Cannot read request: the body is not valid ${format}`);
  }
  return joinChunks(chunks, total);
}

/**
 * A large request body as it arrives, decoded when it is gzip or deflate,
 * and cut off with an error past `maxBytes`: an upload is never held whole.
 * A declared length over the cap is refused before anything is sent.
 */
export function decodedStream(request: Request, maxBytes: number): ReadableStream<Uint8Array> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > maxBytes) throw new ProxyError("request_too_large", `Cannot forward request: body exceeds the ${maxBytes}-byte limit`);
  const name = request.headers.get("content-encoding")?.trim().toLowerCase();
  let body = request.body as ReadableStream<Uint8Array>;
  if (name && name !== "identity") {
    const format = DECODERS[name];
    if (!format)
      throw new ProxyError("invalid_request", `Cannot read request: content-encoding ${name.slice(0, 32)} is not supported (send gzip, deflate or none)`);
    body = body.pipeThrough(new DecompressionStream(format) as unknown as TransformStream<Uint8Array, Uint8Array>);
  }
  let total = 0;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        total += chunk.byteLength;
        if (total > maxBytes) controller.error(new Error(`Cannot forward request: body exceeds the ${maxBytes}-byte limit`));
        else controller.enqueue(chunk);
      },
    }),
  );
}
