import { Elysia } from "elysia";
import { ProxyError } from "./errors.ts";
import type { RequestContext } from "../telemetry/request-context.ts";
import type { ProxyDeps } from "./deps.ts";
import { handleProxyRequest } from "./handler.ts";

/** Where the path starts in an absolute request URL. */
function pathStart(url: string): number {
  return url.indexOf("/", url.indexOf("//") + 2);
}

/** True for `/v1` and `/v1/…` (with or without a query). */
export function isProxyPath(url: string): boolean {
  const start = pathStart(url);
  if (start < 0 || !url.startsWith("/v1", start)) return false;
  const next = url.charAt(start + 3);
  return next === "" || next === "/" || next === "?";
}

/**
 * The proxy as a plain fetch handler. The server calls it directly for
 * `/v1` paths, skipping the admin app's router and hooks on the hot path;
 * the Elysia routes below serve the same handler to `app.handle` (tests).
 */
export function proxyFetch(deps: ProxyDeps): (request: Request, context?: RequestContext) => Promise<Response> {
  return async (request, context) => {
    const start = pathStart(request.url);
    if (request.url.charAt(start + 3) !== "/") {
      return new ProxyError("not_found", "Cannot forward request: add the API path after /v1").toResponse();
    }
    return handleProxyRequest(deps, request, context);
  };
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
