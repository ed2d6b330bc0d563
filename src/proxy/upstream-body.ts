import { ClientGone } from "./forward.ts";
import type { UpstreamGuard } from "./upstream-guard.ts";
import { ProxyError } from "./errors.ts";
import type { BodyKind } from "./meter.ts";

/** Fetch's null-body statuses. */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/**
 * An answer with no body (a null-body status, or any answer to HEAD), known
 * without asking for `response.body`: on Bun that builds a stream which the
 * whole read below then goes through (about 3 µs more per request,
 * measured), so the body stream is asked for only when keyward streams it.
 */
export function isBodiless(method: string, response: Response): boolean {
  return method === "HEAD" || NULL_BODY_STATUSES.has(response.status);
}

/** How an upstream answer is metered: SSE events, one JSON document, or not at all. */
export function bodyKind(response: Response): BodyKind {
  if (response.status >= 400) return "other";
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

/** Reads an upstream body whole; a client that leaves meanwhile (seen by the guard) surfaces as ClientGone. */
export async function readUpstream(response: Response, guard: UpstreamGuard): Promise<Uint8Array<ArrayBuffer>> {
  try {
    return new Uint8Array(await response.arrayBuffer());
  } catch {
    if (guard.clientGone) throw new ClientGone();
    throw new ProxyError("upstream_unreachable", "Cannot forward response: the provider's answer broke off");
  }
}
