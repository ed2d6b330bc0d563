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
}

const contexts = new WeakMap<Request, RequestContext>();

/** ≤ 64 characters of [A-Za-z0-9._-]: safe to echo in a header and a log line as is. */
const WELL_FORMED_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** The client's `x-request-id` when well-formed (so traces join across hops), else a fresh UUID. */
export function requestIdOf(headers: Headers): string {
  const given = headers.get("x-request-id");
  return given !== null && WELL_FORMED_ID.test(given) ? given : crypto.randomUUID();
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
