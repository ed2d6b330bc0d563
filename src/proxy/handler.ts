import type { Clock } from "../clock.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { SecretVerifier } from "../vault/verifier.ts";
import { authenticate } from "./authenticate.ts";
import { readBody } from "./body.ts";
import { attachProviderCredential } from "./credentials-out.ts";
import { ProxyError } from "./errors.ts";
import { ClientGone, forward } from "./forward.ts";
import { forwardRequestHeaders, forwardResponseHeaders } from "./headers.ts";
import type { KeyCache } from "./key-cache.ts";

export interface ProxyDeps {
  cache: KeyCache;
  verifier: SecretVerifier;
  clock: Clock;
  fetch: typeof fetch;
  logger: Logger;
  upstreamTimeoutMs: number;
  maxBodyBytes: number;
  /** The runtime's client-disconnect signal for a request, where it has a reliable one. */
  disconnectSignal: (request: Request) => AbortSignal | undefined;
}

/** `/v1/chat/completions?x=1` → `/chat/completions?x=1`. */
function pathAfterV1(url: string): string {
  const start = url.indexOf("/v1/", url.indexOf("//") + 2);
  return url.slice(start + 3);
}

/**
 * One proxied request: authenticate, pick the upstream from the proxy key's
 * provider key (never from the client), swap credentials, forward, and
 * stream the answer back untouched.
 */
export async function handleProxyRequest(deps: ProxyDeps, request: Request): Promise<Response> {
  try {
    const { providerKey } = await authenticate(request.headers, deps.cache, deps.verifier, deps.clock);
    const { adapter, row } = providerKey;
    const rest = pathAfterV1(request.url);
    const path = rest.split("?", 1)[0] as string;
    if (adapter.paths && !adapter.paths.test(path)) {
      throw new ProxyError("not_found", `Cannot forward request: ${adapter.id} does not serve /v1${path}`);
    }
    const hasBody = request.method !== "GET" && request.method !== "HEAD";
    const body = hasBody ? await readBody(request, deps.maxBodyBytes) : undefined;
    const headers = forwardRequestHeaders(request.headers, adapter.passHeaders);
    attachProviderCredential(headers, adapter, await deps.cache.providerSecret(providerKey));

    const upstream = await forward(
      { url: row.baseUrl + rest, method: request.method, headers, body },
      { fetch: deps.fetch, timeoutMs: deps.upstreamTimeoutMs, disconnect: deps.disconnectSignal(request) },
    );
    return new Response(upstream.body, {
      status: upstream.status,
      statusText: upstream.statusText,
      headers: forwardResponseHeaders(upstream.headers),
    });
  } catch (err) {
    if (err instanceof ProxyError) return err.toResponse();
    if (err instanceof ClientGone) return new Response(null, { status: 499 });
    deps.logger.error("Proxy request failed", { error: err instanceof Error ? err.message : String(err) });
    return new ProxyError("internal_error", "Cannot forward request: internal error").toResponse();
  }
}
