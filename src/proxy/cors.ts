/**
 * CORS for `/v1/*`, when `--cors-origins` lists the origins whose pages may
 * call keyward from a browser. Off by default: without the list nothing here
 * runs. Never credentials mode: a page sends its proxy key itself, in a
 * header, and keyward sets no cookies, so no ambient credential rides along.
 *
 * A preflight carries no credential, so it is answered here, before
 * authentication and without touching the key cache: 204 with the CORS
 * headers for a listed origin, 403 for any other (the browser then refuses
 * the call). Answers to listed origins get `Access-Control-Allow-Origin` and
 * the headers SDKs read exposed; answers to others get no CORS header, so the
 * browser hides them from the page. Either way an upstream's own
 * `Access-Control-*` headers are dropped: keyward's list is the only policy.
 */
import { PROVIDERS } from "../providers/index.ts";
import { ProxyError } from "./errors.ts";

/**
 * What a page may send: where keys go (credentials.ts), what keyward forwards
 * (headers.ts and each provider's `passHeaders`), and what providers' browser
 * SDKs add on their own (Anthropic's browser opt-in, Google's client tag),
 * so their calls do not fail the preflight.
 */
const ALLOWED_REQUEST_HEADERS: ReadonlySet<string> = new Set([
  "authorization",
  "x-api-key",
  "api-key",
  "x-goog-api-key",
  "content-type",
  "accept",
  "idempotency-key",
  "x-request-id",
  "traceparent",
  "tracestate",
  "anthropic-dangerous-direct-browser-access",
  "x-goog-api-client",
  // OpenAI's SDK sends these when configured with an organization or project; keyward drops them (the provider
  // key pins its own), but refusing the preflight would fail the whole call.
  "openai-organization",
  "openai-project",
  ...Object.values(PROVIDERS).flatMap((adapter) => adapter.passHeaders),
]);

/** SDK telemetry headers, forwarded by prefix too. */
const ALLOWED_PREFIX = "x-stainless-";

/**
 * Response headers a page's SDK reads beyond the CORS-safelisted ones: the
 * request ids (the provider's and keyward's own), the provider's and
 * keyward's rate-limit figures, and the retry advice (without
 * `x-should-retry` an SDK would retry a spent budget).
 */
const EXPOSED = [
  "x-request-id",
  "x-keyward-request-id",
  "request-id",
  "retry-after",
  "retry-after-ms",
  "x-should-retry",
  "x-ratelimit-limit-requests",
  "x-ratelimit-remaining-requests",
  "x-ratelimit-reset-requests",
  "x-ratelimit-limit-tokens",
  "x-ratelimit-remaining-tokens",
  "x-ratelimit-reset-tokens",
  "x-keyward-ratelimit-limit-requests",
  "x-keyward-ratelimit-remaining-requests",
  "x-keyward-ratelimit-reset-requests",
  "x-keyward-ratelimit-limit-tokens",
  "x-keyward-ratelimit-remaining-tokens",
  "x-keyward-ratelimit-reset-tokens",
].join(", ");

const METHODS = "GET, POST, PUT, PATCH, DELETE";

/** Chromium's cap; Firefox allows longer. A removed origin is refused at once anyway: its answers lose the CORS headers. */
const MAX_AGE_SECONDS = "7200";

/** An upstream's own CORS headers, which keyward replaces with its own. */
const UPSTREAM_CORS = [
  "access-control-allow-origin",
  "access-control-allow-credentials",
  "access-control-allow-methods",
  "access-control-allow-headers",
  "access-control-expose-headers",
  "access-control-max-age",
];

/** What a page on an origin not listed gets for its preflight; a browser shows the page only that the call failed. */
const REFUSED = new ProxyError("origin_not_allowed", "Cannot allow this cross-origin request: its origin is not in --cors-origins");

/** `Access-Control-Request-Headers`, narrowed to what a page may send. */
function allowedHeaders(requested: string | null): string {
  if (!requested) return "";
  const allowed: string[] = [];
  for (const raw of requested.split(",")) {
    const name = raw.trim().toLowerCase();
    if (name && (ALLOWED_REQUEST_HEADERS.has(name) || name.startsWith(ALLOWED_PREFIX))) allowed.push(name);
  }
  return allowed.join(", ");
}

export class CorsPolicy {
  private readonly origins: ReadonlySet<string>;

  /** `origins` as browsers send them (config.ts `parseOrigins` normalises them). */
  constructor(origins: readonly string[]) {
    this.origins = new Set(origins);
  }

  /** A CORS preflight, as opposed to an `OPTIONS` request meant for the provider. */
  static isPreflight(request: Request): boolean {
    return request.method === "OPTIONS" && request.headers.has("access-control-request-method");
  }

  /** The preflight's answer: 204 with the CORS headers for a listed origin, 403 without them otherwise. */
  preflight(request: Request, origin: string, requestId: string): Response {
    const vary = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";
    if (!this.origins.has(origin)) {
      return REFUSED.toResponse({ vary, "x-request-id": requestId, "x-keyward-request-id": requestId });
    }
    const headers: Record<string, string> = {
      "access-control-allow-origin": origin,
      "access-control-allow-methods": METHODS,
      "access-control-max-age": MAX_AGE_SECONDS,
      vary,
      "x-request-id": requestId,
      "x-keyward-request-id": requestId,
    };
    const allowed = allowedHeaders(request.headers.get("access-control-request-headers"));
    if (allowed) headers["access-control-allow-headers"] = allowed;
    return new Response(null, { status: 204, headers });
  }

  /** An answer to a request that carried `Origin`: keyward's CORS headers for a listed origin, none otherwise. */
  decorate(response: Response, origin: string): Response {
    let target = response;
    try {
      this.apply(target.headers, origin);
    } catch {
      // Immutable headers (a fetched Response passed through): copy the envelope, keep the body stream.
      target = new Response(response.body, response);
      this.apply(target.headers, origin);
    }
    return target;
  }

  private apply(headers: Headers, origin: string): void {
    for (const name of UPSTREAM_CORS) headers.delete(name);
    // The answer depends on Origin: a cache must not hand one origin's answer to another.
    headers.append("vary", "Origin");
    if (!this.origins.has(origin)) return;
    headers.set("access-control-allow-origin", origin);
    headers.set("access-control-expose-headers", EXPOSED);
  }
}
