/**
 * One access line per request, at info level: request id, method, path
 * without its query string (it could hold anything), status, latency, key id
 * (proxy key id or admin token id, never the key) and client address. Proxy
 * requests are logged by the proxy handler when the response has finished
 * (a stream's real status, e.g. 499, is known only then); everything else by
 * `withAccessLog` below when the response is ready.
 */
import type { ServeInfo } from "../runtime/types.ts";
import { clientAddress } from "./client-address.ts";
import type { Logger } from "./logger.ts";
import { bindRequestContext, requestIdOf, type RequestContext } from "./request-context.ts";
import { pathOf } from "./request-url.ts";

export interface AccessEntry {
  requestId: string;
  method: string;
  path: string;
  status: number;
  latencyMs: number;
  keyId?: string;
  client?: string;
}

export type AccessLogger = (entry: AccessEntry) => void;

const KEYWARD_TOKEN = /\b(kw[pa])_([0-9A-Za-z]{12})_[0-9A-Za-z]{38}\b/g;

/** A full keyward key pasted into a URL path is cut to its public id before it is logged. */
export function loggablePath(path: string): string {
  return path.includes("kwp_") || path.includes("kwa_") ? path.replace(KEYWARD_TOKEN, "$1_$2_…") : path;
}

export function accessLogger(logger: Logger): AccessLogger {
  return (entry) =>
    logger.info("request", {
      request_id: entry.requestId,
      method: entry.method,
      path: loggablePath(entry.path),
      status: entry.status,
      latency_ms: Math.round(entry.latencyMs),
      key_id: entry.keyId ?? null,
      client: entry.client ?? null,
    });
}

/** Whether the proxy handler writes this request's access line itself. */
const loggedByProxy = (path: string) => path.startsWith("/v1/");

/** keyward answered itself: its id goes in `x-request-id` and in its own `x-keyward-request-id`, as on `/v1/`. */
function withRequestId(response: Response, id: string): Response {
  if (response.headers.has("x-keyward-request-id")) return response;
  try {
    setRequestId(response.headers, id);
    return response;
  } catch {
    // Immutable headers (a fetched Response passed through): copy the envelope, keep the body stream.
    const copy = new Response(response.body, response);
    setRequestId(copy.headers, id);
    return copy;
  }
}

function setRequestId(headers: Headers, id: string): void {
  if (!headers.has("x-request-id")) headers.set("x-request-id", id);
  headers.set("x-keyward-request-id", id);
}

export interface AccessLogOptions {
  access: AccessLogger;
  trustProxy: boolean;
}

/**
 * Wraps the app's fetch handler: binds the request context (id, client),
 * answers every response with `x-request-id` and `x-keyward-request-id`, and logs non-proxy requests.
 */
export function withAccessLog(
  handle: (request: Request, context?: RequestContext) => Response | Promise<Response>,
  options: AccessLogOptions,
): (request: Request, info?: ServeInfo) => Response | Promise<Response> {
  const logged = async (request: Request, context: RequestContext, path: string): Promise<Response> => {
    const started = performance.now();
    let status = 500;
    try {
      const response = withRequestId(await handle(request), context.id);
      status = response.status;
      return response;
    } finally {
      options.access({
        requestId: context.id,
        method: request.method,
        path,
        status,
        latencyMs: performance.now() - started,
        keyId: context.keyId,
        client: context.client,
      });
    }
  };
  return (request, info) => {
    const context: RequestContext = {
      id: requestIdOf(request.headers),
      client: clientAddress(request.headers, info?.remoteAddress, options.trustProxy),
      onAuthenticated: info?.keepQuiet,
    };
    const path = pathOf(request.url);
    // The proxy sets x-request-id and writes the access line itself, when the
    // body has finished: no wrapper on the hot path, and the context goes as
    // an argument rather than through the WeakMap the admin routes read.
    if (loggedByProxy(path)) return handle(request, context);
    return logged(request, bindRequestContext(request, context), path);
  };
}
