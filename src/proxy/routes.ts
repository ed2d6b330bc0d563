import { Elysia } from "elysia";
import { ProxyError } from "./errors.ts";
import { handleProxyRequest, type ProxyDeps } from "./handler.ts";

/**
 * `/v1/*`, any method. Elysia's body parsing is off: the body is read once,
 * with a size cap, and forwarded byte for byte.
 */
export function proxyRoutes(deps: ProxyDeps) {
  return new Elysia({ name: "proxy" })
    .all("/v1/*", ({ request }) => handleProxyRequest(deps, request), { parse: "none", detail: { hide: true } })
    .all(
      "/v1",
      () => new ProxyError("not_found", "Cannot forward request: add the API path after /v1").toResponse(),
      { parse: "none", detail: { hide: true } },
    );
}
