import type { UpstreamFetch } from "../upstream/client.ts";
import { ProxyError } from "./errors.ts";
import type { UpstreamGuard } from "./upstream-guard.ts";

export interface UpstreamRequest {
  url: string;
  method: string;
  /** Lower-case names, as `forwardRequestHeaders` gives them. */
  headers: Record<string, string>;
  /** A stream for uploads passed through as they arrive. */
  body?: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array>;
  /** The client asked for an event stream (see `UpstreamInit.stream`). */
  stream?: boolean;
}

export interface ForwardOptions {
  fetch: UpstreamFetch;
  /** Connect + first-byte timeout and the client watch (the caller releases it). */
  guard: UpstreamGuard;
}

/** The client left before the upstream answered: nothing to send, log as 499. */
export class ClientGone extends Error {
  constructor() {
    super("Client disconnected");
    this.name = "ClientGone";
  }
}

/**
 * Sends one request upstream. Redirects are not followed (the provider key
 * must never travel to a host an admin did not choose); timeouts, refusals
 * and redirects become 504/502 in the OpenAI error shape.
 */
export async function forward(request: UpstreamRequest, options: ForwardOptions): Promise<Response> {
  const guard = options.guard;
  let response: Response;
  try {
    response = await options.fetch(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      redirect: "manual",
      signal: guard.signal,
      stream: request.stream,
    });
  } catch (err) {
    if (guard.clientGone) throw new ClientGone();
    if (guard.timedOut) {
      throw new ProxyError("upstream_timeout", `Cannot reach provider: no response within ${Math.round(guard.timeoutMs / 1000)} s`);
    }
    throw new ProxyError("upstream_unreachable", "Cannot reach provider: connection failed", { neverReachedProvider: neverConnected(err) });
  }
  guard.headersReceived();
  if (response.status >= 300 && response.status < 400 && response.headers.has("location")) {
    await response.body?.cancel();
    throw new ProxyError("upstream_redirect", "Cannot forward request: provider answered with a redirect, which keyward does not follow");
  }
  return response;
}

/** Failures that happen before a connection exists, so the provider cannot have seen (or billed) the request. */
const NOT_CONNECTED = new Set(["ConnectionRefused", "ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "FailedToOpenSocket", "UnableToConnect"]);

/** The error or what it wraps (keyward's own client reports the socket's error as the cause). */
function neverConnected(err: unknown): boolean {
  for (let e = err, depth = 0; typeof e === "object" && e !== null && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = "code" in e ? e.code : undefined;
    if (typeof code === "string" && NOT_CONNECTED.has(code)) return true;
  }
  return false;
}
