import { Elysia } from "elysia";
import { ProxyError } from "./errors.ts";
import { requestContext, type RequestContext } from "../telemetry/request-context.ts";
import { pathStart } from "../telemetry/request-url.ts";
import { CorsPolicy } from "./cors.ts";
import type { ProxyDeps } from "./deps.ts";
import { handleProxyRequest } from "./handler.ts";
import { answerKeyInfo, isKeyInfoPath } from "./key-info.ts";
import { recordOutcome } from "./outcome.ts";
import { unsafePathReason } from "./path-check.ts";

/** True for `/v1` and `/v1/…` (with or without a query). */
export function isProxyPath(url: string): boolean {
  const start = pathStart(url);
  if (start < 0 || !url.startsWith("/v1", start)) return false;
  const next = url.charAt(start + 3);
  return next === "" || next === "/" || next === "?";
}

export interface ProxyFetchOptions {
  /** `--cors-origins`: origins whose pages may call `/v1/*`; empty or absent, CORS is off. */
  corsOrigins?: readonly string[];
}

type ProxyFetch = (request: Request, context?: RequestContext) => Promise<Response>;

/**
 * The proxy as a plain fetch handler. The server calls it directly for
 * `/v1` paths, skipping the admin app's router and hooks on the hot path;
 * the Elysia routes below serve the same handler to `app.handle` (tests).
 * A path that could mean something else upstream is refused here, so the
 * handler never sees one; with CORS on, preflights are answered here too.
 */
export function proxyFetch(options: ProxyFetchOptions, deps: ProxyDeps): ProxyFetch {
  const strict: ProxyFetch = async (request, context) => {
    const url = request.url;
    const start = pathStart(url);
    if (url.charAt(start + 3) !== "/") {
      return new ProxyError("not_found", "Cannot forward request: add the API path after /v1").toResponse();
    }
    const unsafe = unsafePathReason(url, start + 3);
    if (unsafe !== undefined) {
      const error = new ProxyError("invalid_request", `Cannot forward request: ${unsafe}`);
      return answerEarly(deps, request, context, (id) => error.toResponse({ "x-request-id": id, "x-keyward-request-id": id }));
    }
    // keyward's own answer, before any provider's paths: /v1/key is never forwarded.
    if (isKeyInfoPath(url, start + 3)) return answerKeyInfo(deps, request, context);
    return handleProxyRequest(deps, request, context);
  };
  if (!options.corsOrigins?.length) return strict;
  const cors = new CorsPolicy(options.corsOrigins);
  return async (request, context) => {
    const origin = request.headers.get("origin");
    // Not a browser's cross-origin call: nothing to add.
    if (origin === null) return strict(request, context);
    // A bare `/v1` is not the proxy's to log: it stays a 404 (decorated below).
    if (CorsPolicy.isPreflight(request) && request.url.charAt(pathStart(request.url) + 3) === "/") {
      return answerEarly(deps, request, context, (id) => cors.preflight(request, origin, id));
    }
    return cors.decorate(await strict(request, context), origin);
  };
}

/**
 * An answer given before the handler ran: recorded as the handler records
 * a refusal before authentication (metrics and the access line, which the
 * server leaves to the proxy for `/v1/` paths; no request-log row).
 */
function answerEarly(deps: ProxyDeps, request: Request, given: RequestContext | undefined, answer: (requestId: string) => Response): Response {
  const context = given ?? requestContext(request);
  const url = request.url;
  const start = pathStart(url) + 3;
  const query = url.indexOf("?", start);
  const path = query < 0 ? url.slice(start) : url.slice(start, query);
  const trace = {
    requestId: context.id,
    client: context.client,
    method: request.method,
    path,
    startedAt: deps.clock.now(),
    started: performance.now(),
    streamed: false,
  };
  const response = answer(context.id);
  recordOutcome(deps, trace, response.status, {});
  return response;
}

/**
 * `/v1/*`, any method. Elysia's body parsing is off: the body is read once,
 * with a size cap, and forwarded byte for byte.
 */
export function proxyRoutes(handle: (request: Request) => Promise<Response>) {
  return new Elysia({ name: "proxy" })
    .all("/v1/*", ({ request }) => handle(request), { parse: "none", detail: { hide: true } })
    .all("/v1", ({ request }) => handle(request), { parse: "none", detail: { hide: true } });
}
