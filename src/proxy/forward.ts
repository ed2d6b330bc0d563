import { ProxyError } from "./errors.ts";

export interface UpstreamRequest {
  url: string;
  method: string;
  headers: Headers;
  body?: Uint8Array<ArrayBuffer>;
}

export interface ForwardOptions {
  fetch: typeof fetch;
  /** Connect + first-byte budget; a stream that has started is not cut by it. */
  timeoutMs: number;
  /** Fires when the client goes away, so the upstream request stops at once. */
  disconnect?: AbortSignal;
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
  // One controller for both causes; cheaper per request than AbortSignal.any.
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, options.timeoutMs);
  const disconnect = options.disconnect;
  const onDisconnect = () => controller.abort();
  if (disconnect) {
    if (disconnect.aborted) controller.abort();
    else disconnect.addEventListener("abort", onDisconnect, { once: true });
  }
  const signal = controller.signal;
  let response: Response;
  try {
    response = await options.fetch(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      redirect: "manual",
      signal,
    });
  } catch {
    if (disconnect?.aborted) throw new ClientGone();
    if (timedOut) {
      throw new ProxyError(
        "upstream_timeout",
        `Cannot reach provider: no response within ${Math.round(options.timeoutMs / 1000)} s`,
      );
    }
    throw new ProxyError("upstream_unreachable", "Cannot reach provider: connection failed");
  } finally {
    clearTimeout(timer);
  }
  if (response.status >= 300 && response.status < 400 && response.headers.has("location")) {
    await response.body?.cancel();
    throw new ProxyError("upstream_redirect", "Cannot forward request: provider answered with a redirect, which keyward does not follow");
  }
  return response;
}
