import { ClientGone } from "./forward.ts";
import { ProxyError } from "./errors.ts";
import type { BodyKind } from "./meter.ts";

/** How an upstream answer is metered: SSE events, one JSON document, or not at all. */
export function bodyKind(response: Response): BodyKind {
  if (response.status >= 400 || !response.body) return "other";
  const type = response.headers.get("content-type") ?? "";
  if (type.includes("text/event-stream")) return "sse";
  if (type.includes("json")) return "json";
  return "other";
}

/** Plain bodies up to this size are read whole rather than streamed through the meter. */
const MAX_BUFFERED_BYTES = 32 * 1024 * 1024;

export function bufferable(response: Response): boolean {
  const length = response.headers.get("content-length");
  return length === null || Number(length) <= MAX_BUFFERED_BYTES;
}

/** Reads an upstream body whole; a client that leaves meanwhile surfaces as ClientGone. */
export async function readUpstream(response: Response, disconnect: AbortSignal | undefined): Promise<Uint8Array<ArrayBuffer>> {
  try {
    return new Uint8Array(await response.arrayBuffer());
  } catch {
    if (disconnect?.aborted) throw new ClientGone();
    throw new ProxyError("upstream_unreachable", "Cannot forward response: the provider's answer broke off");
  }
}
