import type { ProxyKeyRow } from "../db/store.ts";
import { readRequestFacts, type RequestFacts } from "../limits/estimate.ts";
import type { Admission, Usage } from "../limits/gate.ts";
import type { ProviderAdapter } from "../providers/types.ts";
import { requestContext, type RequestContext } from "../telemetry/request-context.ts";
import { authenticate, type Authenticated } from "./authenticate.ts";
import { readBody } from "./body.ts";
import { attachProviderCredential } from "./credentials-out.ts";
import type { ProxyDeps } from "./deps.ts";
import { ProxyError, refusalError } from "./errors.ts";
import { ClientGone, forward } from "./forward.ts";
import { forwardRequestHeaders, forwardResponseHeaders } from "./headers.ts";
import { meterBody, type BodyKind } from "./meter.ts";
import { recordOutcome, type Trace } from "./outcome.ts";
import { rewriteBody } from "./rewrite.ts";
import { UpstreamGuard } from "./upstream-guard.ts";
import { bodyKind, bufferable, isBodiless, readUpstream } from "./upstream-body.ts";
import { chargedUsage, usageOfJson } from "./usage.ts";

/**
 * One proxied request: authenticate, check limits and reserve budget, pick
 * the upstream from the proxy key's provider key (never from the client),
 * swap credentials, forward, and stream the answer back while metering it.
 * Each step is a function below; this one reads as their list.
 */
export async function handleProxyRequest(deps: ProxyDeps, request: Request, given?: RequestContext): Promise<Response> {
  const rest = pathAfterV1(request.url);
  const run = new ProxyRun(deps, startTrace(deps, request, rest, given ?? requestContext(request)));
  try {
    // Synchronous for a key verified before: no promise on the path every request takes.
    const auth = authenticate(request.headers, deps.cache, deps.verifier, deps.clock);
    run.trace.auth = auth instanceof Promise ? await auth : auth;
    checkPath(run.trace.auth.providerKey.adapter, run.trace.path);
    const prepared = await prepareBody(run, request, run.trace.auth);
    const upstream = await sendUpstream(run, request, rest, prepared.body);
    // A buffered answer is still being read: its failures belong to the catch below.
    const answered = answer(run, request, upstream, prepared);
    return answered instanceof Promise ? await answered : answered;
  } catch (err) {
    return answerFailure(run, err);
  }
}

/** `/v1/chat/completions?x=1` → `/chat/completions?x=1`. */
function pathAfterV1(url: string): string {
  const start = url.indexOf("/v1/", url.indexOf("//") + 2);
  return url.slice(start + 3);
}

function startTrace(deps: ProxyDeps, request: Request, rest: string, context: RequestContext): Trace {
  return {
    requestId: context.id,
    client: context.client,
    method: request.method,
    path: rest.split("?", 1)[0] as string,
    startedAt: deps.clock.now(),
    started: performance.now(),
    streamed: false,
  };
}

/**
 * What one request holds while it runs: its admission until settled, and its
 * upstream guard until released (after the whole read, when a stream ends,
 * with no body, or on failure).
 */
class ProxyRun {
  admission: Admission | undefined;
  guard: UpstreamGuard | undefined;

  constructor(
    readonly deps: ProxyDeps,
    readonly trace: Trace,
  ) {}

  /** Settles the admission once, to the real usage (none when unknown); returns the cost charged. */
  settle(usage: Usage | undefined): number {
    if (!this.admission || !this.trace.auth) return 0;
    const cost = this.deps.gate.finish(this.trace.auth.proxyKey, this.admission, usage, this.deps.clock.now());
    this.admission = undefined;
    return cost;
  }
}

function checkPath(adapter: ProviderAdapter, path: string): void {
  if (adapter.paths && !adapter.paths.test(path)) {
    throw new ProxyError("not_found", `Cannot forward request: ${adapter.id} does not serve /v1${path}`);
  }
}

interface Prepared {
  /** The body to send upstream: the client's bytes, or rewritten where limits need it. */
  body: Uint8Array<ArrayBuffer> | undefined;
  /** keyward asked the upstream for stream usage the client did not ask for, so it strips it again. */
  injectUsage: boolean;
}

const decoder = new TextDecoder();

/** Limits that need to read the model from the body. */
function needsModel(row: ProxyKeyRow): boolean {
  return row.allowedModels !== null || row.budgetMicros !== null;
}

/** Reads the body, admits the request against the key's limits, and rewrites the body where they need it. */
async function prepareBody(run: ProxyRun, request: Request, auth: Authenticated): Promise<Prepared> {
  const { deps, trace } = run;
  const { proxyKey, providerKey } = auth;
  const hasBody = request.method !== "GET" && request.method !== "HEAD";
  const body = hasBody ? await readBody(request, deps.maxBodyBytes) : undefined;
  const text = body && (request.headers.get("content-type") ?? "").includes("json") ? decoder.decode(body) : undefined;
  const facts = readRequestFacts(body, text, trace.path, providerKey.adapter.id, deps.defaultMaxTokens);
  if (!facts && body && needsModel(proxyKey)) {
    throw new ProxyError("invalid_request", "Cannot read request: this key's limits need the model, but the body is not a JSON object");
  }
  trace.model = facts?.model;
  trace.streamed = facts?.stream ?? false;

  const admitted = deps.gate.admit(proxyKey, facts, deps.clock.now());
  if (!admitted.ok) throw refusalError(admitted);
  run.admission = admitted;
  const injectUsage = shouldInjectUsage(auth, facts, trace.path);
  if (!facts || !body || text === undefined) return { body, injectUsage };
  const capTokens = proxyKey.budgetMicros !== null && facts.clientMaxTokens === undefined && facts.maxTokensField ? deps.defaultMaxTokens : undefined;
  return { body: rewriteBody(facts, body, text, injectUsage, capTokens) ?? body, injectUsage };
}

/** OpenAI-style chat streams carry usage only when asked; keyward asks unless the client did or the provider key opts out. */
function shouldInjectUsage({ providerKey }: Authenticated, facts: RequestFacts | undefined, path: string): boolean {
  return (
    facts !== undefined &&
    facts.stream &&
    providerKey.adapter.openaiStyleStreams &&
    providerKey.row.injectStreamUsage &&
    !facts.clientIncludeUsage &&
    path.endsWith("/chat/completions")
  );
}

/** Swaps the client's credentials for the provider key's and sends the request to the provider key's base URL. */
async function sendUpstream(run: ProxyRun, request: Request, rest: string, body: Uint8Array<ArrayBuffer> | undefined): Promise<Response> {
  const { deps } = run;
  const providerKey = (run.trace.auth as Authenticated).providerKey;
  const headers = forwardRequestHeaders(request.headers, providerKey.adapter.passHeaders);
  attachProviderCredential(headers, providerKey.adapter, providerKey.plain ?? (await deps.cache.providerSecret(providerKey)));
  const guard = new UpstreamGuard(() => deps.disconnectSignal(request), deps.upstreamTimeoutMs);
  run.guard = guard;
  return forward({ url: providerKey.row.baseUrl + rest, method: request.method, headers, body }, { fetch: deps.fetch, guard });
}

/** The three ways an upstream answer goes back: read whole, without a body, or streamed. */
function answer(run: ProxyRun, request: Request, upstream: Response, prepared: Prepared): Promise<Response> | Response {
  const headers = forwardResponseHeaders(upstream.headers);
  for (const [k, v] of Object.entries((run.admission as Admission).rateHeaders)) headers.set(k, v);
  headers.set("x-request-id", run.trace.requestId);
  const kind = bodyKind(upstream);
  const bodiless = isBodiless(request.method, upstream);
  if (!bodiless && kind !== "sse" && (kind === "json" || upstream.status >= 400) && bufferable(upstream)) {
    return answerBuffered(run, upstream, headers, kind);
  }
  const stream = bodiless ? null : upstream.body;
  if (!stream) return answerBodiless(run, upstream, headers);
  return answerStreamed(run, upstream, headers, { stream, kind, prepared });
}

/** A JSON answer arrives at once anyway: read it whole, send one buffer, meter it after it is on its way. */
async function answerBuffered(run: ProxyRun, upstream: Response, headers: Headers, kind: BodyKind): Promise<Response> {
  const { deps, trace } = run;
  const guard = run.guard as UpstreamGuard;
  const bytes = await readUpstream(upstream, guard);
  guard.release();
  const firstByteMs = performance.now() - trace.started;
  const provider = (trace.auth as Authenticated).providerKey.row.provider;
  // The client does not wait for metering and bookkeeping; the reservation holds the budget meanwhile,
  // so nothing can be overspent in that moment.
  deps.afterResponse.add(() => {
    deps.metrics.forProvider(provider).ttfb.observe(firstByteMs / 1000);
    const usage = kind === "json" ? usageOfJson(bytes) : undefined;
    recordOutcome(deps, trace, upstream.status, { usage, cost: run.settle(usage), ttfbMs: firstByteMs });
  });
  return new Response(bytes, { status: upstream.status, statusText: upstream.statusText, headers });
}

function answerBodiless(run: ProxyRun, upstream: Response, headers: Headers): Response {
  (run.guard as UpstreamGuard).release();
  recordOutcome(run.deps, run.trace, upstream.status, { usage: undefined, cost: run.settle(undefined) });
  return new Response(null, { status: upstream.status, statusText: upstream.statusText, headers });
}

interface StreamedBody {
  stream: ReadableStream<Uint8Array>;
  kind: BodyKind;
  prepared: Prepared;
}

/** Bytes go to the client as they arrive; usage is read on the way and settled when the stream ends. */
function answerStreamed(run: ProxyRun, upstream: Response, headers: Headers, { stream, kind, prepared }: StreamedBody): Response {
  const { deps, trace } = run;
  const guard = run.guard as UpstreamGuard;
  const provider = (trace.auth as Authenticated).providerKey.row.provider;
  const promptBytes = prepared.body?.byteLength ?? 0;
  let ttfbMs: number | undefined;
  deps.metrics.activeStreams++;
  const metered = meterBody(stream, {
    kind,
    stripUsage: prepared.injectUsage,
    onFirstChunk: () => {
      ttfbMs = performance.now() - trace.started;
      deps.metrics.forProvider(provider).ttfb.observe(ttfbMs / 1000);
    },
    onDone: (result) => {
      guard.release();
      deps.metrics.activeStreams--;
      const usage = kind === "other" ? undefined : chargedUsage(result, promptBytes);
      const status = result.aborted ? 499 : upstream.status;
      const errorCode = result.aborted ? "client_closed" : result.failed ? "upstream_body_failed" : undefined;
      recordOutcome(deps, trace, status, { usage, cost: run.settle(usage), ttfbMs, errorCode });
    },
  });
  return new Response(metered, { status: upstream.status, statusText: upstream.statusText, headers });
}

/** Releases what the request held and answers in the OpenAI error shape (or 499 when the client left). */
function answerFailure(run: ProxyRun, err: unknown): Response {
  const { deps, trace } = run;
  run.guard?.release();
  run.settle(undefined);
  if (err instanceof ClientGone) {
    recordOutcome(deps, trace, 499, { errorCode: "client_closed" });
    return new Response(null, { status: 499 });
  }
  // Nothing before authentication can fail but authentication itself.
  if (!trace.auth && err instanceof ProxyError) deps.metrics.authFailures.inc({ code: err.code });
  const error = err instanceof ProxyError ? err : new ProxyError("internal_error", "Cannot forward request: internal error");
  if (!(err instanceof ProxyError)) {
    deps.logger.error("Proxy request failed", { error: err instanceof Error ? err.message : String(err), request_id: trace.requestId });
  }
  recordOutcome(deps, trace, error.status, { errorCode: error.code });
  // A limited key's x-ratelimit-* go with every answer, keyward's own refusals included.
  const rateHeaders = trace.auth ? deps.gate.rateHeaders(trace.auth.proxyKey, deps.clock.now()) : {};
  return error.toResponse({ ...rateHeaders, "x-request-id": trace.requestId });
}
