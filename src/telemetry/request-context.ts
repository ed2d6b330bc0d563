/**
 * Per-request facts the access log needs from several layers: the request id
 * (the client's `x-request-id` when well-formed, else a new UUID), the client
 * address (decided where the socket is known) and the key id (known only once
 * the proxy or the admin auth macro has authenticated the caller). Keyed by
 * the Request object, which Elysia hands unchanged to every handler.
 */
export interface RequestContext {
  readonly id: string;
  readonly client?: string;
  /** Proxy key id or admin token id, once authenticated; never the key. */
  keyId?: string;
  /**
   * The proxy calls this once the caller is authenticated: it lifts the
   * server's idle timeout for the connection (Bun), so a stream may then be
   * quiet for long, while a half-sent request nobody authenticated is still closed.
   */
  readonly onAuthenticated?: () => void;
}

const contexts = new WeakMap<Request, RequestContext>();

/** ≤ 64 characters of [A-Za-z0-9._-]: safe to echo in a header and a log line as is. */
const WELL_FORMED_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Credential prefixes, at the start or after a separator: keyward's own keys, OpenAI and Anthropic
 * (`sk-`, `sk-ant-`), Stripe (`sk_`, `rk_`), Google (`AIza`), a JWT or other base64 JSON (`eyJ`),
 * GitHub, GitLab, Slack, Hugging Face, AWS access key ids.
 */
const CREDENTIAL_PREFIX = /(?:^|[._-])(?:kw[pa]_|sk-|sk_|rk_|AIza|eyJ|gh[pousr]_|github_pat_|glpat-|xox[abposr]-|hf_|(?:AKIA|ASIA)[0-9A-Z]{16})/;

/** Upper case, lower case and digits together: the alphabet of base62 and base64 secrets. */
const mixesCaseAndDigits = (text: string) => /[a-z]/.test(text) && /[A-Z]/.test(text) && /[0-9]/.test(text);

/**
 * Whether a client-sent id looks like a credential. A request id is echoed,
 * logged and stored in the request log, so a key a client put there (by
 * mistake, or a proxy copying the wrong header) must not be adopted. Besides
 * the known prefixes, long random-looking runs: 28+ letters and digits mixing
 * cases and digits (base62/base64 secrets; a KSUID has 27, a nanoid 21), 33+
 * with ten or more distinct characters (hex and other secrets longer than a
 * bare UUID's 32), or 40+ such characters across `-` and `_` (base64url). A
 * UUID, a ULID, a W3C trace id and short tokens stay allowed; a false alarm
 * only costs the client its own id (it gets a UUID instead).
 */
export function looksLikeCredential(value: string): boolean {
  if (CREDENTIAL_PREFIX.test(value)) return true;
  for (const run of value.split(/[._-]/)) {
    if (run.length >= 28 && mixesCaseAndDigits(run)) return true;
    if (run.length >= 33 && new Set(run).size >= 10) return true;
  }
  const base64url = value.replace(/[-_]/g, "");
  return base64url.length >= 40 && !base64url.includes(".") && mixesCaseAndDigits(base64url);
}

/** The client's `x-request-id` when well-formed and not credential-shaped (so traces join across hops), else a fresh UUID. */
export function requestIdOf(headers: Headers): string {
  const given = headers.get("x-request-id");
  return given !== null && WELL_FORMED_ID.test(given) && !looksLikeCredential(given) ? given : crypto.randomUUID();
}

export function bindRequestContext(request: Request, context: RequestContext): RequestContext {
  contexts.set(request, context);
  return context;
}

/** The context the server bound to `request`, or a fresh one (in-process callers such as tests). */
export function requestContext(request: Request): RequestContext {
  return contexts.get(request) ?? bindRequestContext(request, { id: requestIdOf(request.headers) });
}

/** Records who made the request once authentication has said so. */
export function setRequestKeyId(request: Request, keyId: string): void {
  const context = contexts.get(request);
  if (context) context.keyId = keyId;
}
