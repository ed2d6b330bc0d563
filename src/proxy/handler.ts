import type { ProxyKeyRow } from "../db/store.ts";
import type { Admission, Bound, Charge, Settled } from "../limits/gate.ts";
import { readLimitedBody } from "../limits/reading.ts";
import { promptTokensBound } from "../limits/request-shape.ts";
import { findEndpoint, type Endpoint } from "../providers/endpoints.ts";
import type { ProviderAdapter } from "../providers/types.ts";
import { requestContext, type RequestContext } from "../telemetry/request-context.ts";
import { authenticate, type Authenticated } from "./authenticate.ts";
import { readBody } from "./body.ts";
import { chargeOf, type AnswerEnd, type AnswerSettled } from "./charge.ts";
import { attachProviderCredential } from "./credentials-out.ts";
import type { ProxyDeps } from "./deps.ts";
import { bodyRefusalError, ProxyError, refusalError } from "./errors.ts";
import { ClientGone, forward } from "./forward.ts";
import { forwardRequestHeaders, forwardResponseHeaders } from "./headers.ts";
import { meterBody, type BodyKind } from "./meter.ts";
import { recordOutcome, type Trace } from "./outcome.ts";
import { readPassthroughFacts, withStreamUsage } from "./passthrough.ts";
import { UpstreamGuard } from "./upstream-guard.ts";
import { bodyKind, bufferable, isBodiless, readUpstream } from "./upstream-body.ts";
import { usageOfJson } from "./usage.ts";

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
    const prepared = await prepareRequest(run, request, run.trace.auth);
    const upstream = await sendUpstream(run, request, rest, prepared);
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

/** Model names and paths are stored and logged at most this long: a client could send megabytes of either. */
const MAX_LOGGED_CHARS = 256;
const clip = (text: string) => (text.length > MAX_LOGGED_CHARS ? text.slice(0, MAX_LOGGED_CHARS) : text);

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
 * What one request holds while it runs: its endpoint, its admission until
 * settled, and its upstream guard until released (after the whole read, when
 * a stream ends, with no body, or on failure).
 */
class ProxyRun {
  endpoint: Endpoint | undefined;
  admission: Admission | undefined;
  guard: UpstreamGuard | undefined;
  /** The reservation covers the request's worst case, so it is what an unknown cost is charged. */
  bounded = false;
  /** The request was handed to the provider: from here on it may be billed. */
  sent = false;

  constructor(
    readonly deps: ProxyDeps,
    readonly trace: Trace,
  ) {}

  /** Settles the admission once; returns what was charged. */
  settle(charge: Charge): Settled {
    if (!this.admission || !this.trace.auth) return NOTHING_SETTLED;
    const settled = this.deps.gate.finish(this.trace.auth.proxyKey, this.admission, charge, this.deps.clock.now());
    this.admission = undefined;
    return settled;
  }

  /** Settles an answer that ended this way; returns the charge and the usage to log. */
  settleAnswer(end: AnswerEnd): AnswerSettled {
    const { charge, usage } = chargeOf(end, { endpoint: this.endpoint, bounded: this.bounded });
    return { ...this.settle(charge), usage };
  }

  admit(row: ProxyKeyRow, ask: { bound?: Bound; model?: string }): void {
    const admitted = this.deps.gate.admit(row, ask, this.deps.clock.now());
    if (!admitted.ok) throw refusalError(admitted);
    this.admission = admitted;
  }
}

const NOTHING_SETTLED: Settled = { costMicros: 0, overrunMicros: 0 };

function checkPath(adapter: ProviderAdapter, path: string): void {
  if (adapter.paths && !adapter.paths.test(path)) {
    throw new ProxyError("not_found", `Cannot forward request: ${adapter.id} does not serve /v1${path}`);
  }
}

interface Prepared {
  /** The body to send upstream: the client's bytes, or what keyward parsed, serialised again. */
  body: Uint8Array<ArrayBuffer> | undefined;
  /** keyward asked the upstream for stream usage the client did not ask for, so it strips it again. */
  injectUsage: boolean;
  /** The body is keyward's serialisation of its own reading. */
  reserialised: boolean;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Limits that depend on what the body asks for: which model, how many tokens. */
function limitsReadBody(row: ProxyKeyRow): boolean {
  return row.budgetMicros !== null || row.allowedModels !== null || row.tpm !== null;
}

/** Reads the body, admits the request against the key's limits, and decides what goes upstream. */
async function prepareRequest(run: ProxyRun, request: Request, auth: Authenticated): Promise<Prepared> {
  const { deps, trace } = run;
  const endpoint = findEndpoint(auth.providerKey.adapter.endpoints, request.method, trace.path);
  run.endpoint = endpoint;
  const limited = limitsReadBody(auth.proxyKey);
  if (limited && !endpoint) {
    throw new ProxyError("endpoint_not_allowed", `Cannot forward ${request.method} /v1${clip(trace.path)}: this key's limits cannot meter that endpoint`);
  }
  const hasBody = request.method !== "GET" && request.method !== "HEAD";
  const body = hasBody ? await readBody(request, deps.maxBodyBytes) : undefined;
  if (limited && endpoint?.body) return prepareLimited(run, auth, endpoint, body);
  return preparePassthrough(run, request, auth, body);
}

/**
 * A key whose limits read the body gets one strict reading of it: the bound
 * is written into it, it is admitted on that reading, and exactly that
 * reading goes upstream, serialised again.
 */
function prepareLimited(run: ProxyRun, auth: Authenticated, endpoint: Endpoint, body: Uint8Array | undefined): Prepared {
  const { deps, trace } = run;
  const { proxyKey, providerKey } = auth;
  const fields = endpoint.body;
  if (!fields || !body) throw new ProxyError("invalid_request", `Cannot read request: ${endpoint.name} takes a JSON body`);
  const read = readLimitedBody(decoder.decode(body), fields, {
    provider: providerKey.adapter.id,
    defaultMaxTokens: deps.defaultMaxTokens,
    bindsCost: proxyKey.budgetMicros !== null || proxyKey.tpm !== null,
    priced: proxyKey.budgetMicros !== null,
    unboundedReservationMicros: proxyKey.unboundedReservationMicros,
  });
  if (!read.ok) throw bodyRefusalError(read.refusal);
  const { json, model, stream, clientIncludeUsage } = read.body;
  trace.model = clip(model);
  trace.streamed = stream;
  const injectUsage = shouldInjectUsage(providerKey, endpoint.streamUsage === true, stream, clientIncludeUsage);
  if (injectUsage) {
    const existing = typeof json.stream_options === "object" && json.stream_options !== null ? json.stream_options : {};
    json.stream_options = { ...existing, include_usage: true };
  }
  const bytes = encoder.encode(JSON.stringify(json));
  run.bounded = true;
  run.admit(proxyKey, {
    bound: {
      model,
      promptTokens: promptTokensBound(json, bytes.byteLength),
      outputTokens: read.body.outputTokens,
      extraMicros: read.body.extraMicros,
      terms: read.body.terms,
    },
  });
  return { body: bytes, injectUsage, reserialised: true };
}

/** Keys whose limits do not read the body forward the client's bytes, adding a stream-usage request at most. */
function preparePassthrough(run: ProxyRun, request: Request, auth: Authenticated, body: Uint8Array<ArrayBuffer> | undefined): Prepared {
  const { trace } = run;
  const text = body && (request.headers.get("content-type") ?? "").includes("json") ? decoder.decode(body) : undefined;
  const facts = text === undefined ? undefined : readPassthroughFacts(text);
  trace.model = facts?.model === undefined ? undefined : clip(facts.model);
  trace.streamed = facts?.stream ?? false;
  run.admit(auth.proxyKey, { model: facts?.model });
  // Endpoints the registry does not know keep the old rule: chat streams, wherever their path starts.
  const streamUsage = run.endpoint ? run.endpoint.streamUsage === true : trace.path.endsWith("/chat/completions");
  const injectUsage = facts !== undefined && shouldInjectUsage(auth.providerKey, streamUsage, facts.stream, facts.clientIncludeUsage);
  const sent = injectUsage && facts && body && text !== undefined ? withStreamUsage(facts, body, text) : body;
  return { body: sent, injectUsage, reserialised: false };
}

/** OpenAI-style chat streams carry usage only when asked; keyward asks unless the client did or the provider key opts out. */
function shouldInjectUsage(providerKey: Authenticated["providerKey"], streamUsage: boolean, stream: boolean, clientIncludeUsage: boolean): boolean {
  return streamUsage && stream && providerKey.adapter.openaiStyleStreams && providerKey.row.injectStreamUsage && !clientIncludeUsage;
}

/** Swaps the client's credentials for the provider key's and sends the request to the provider key's base URL. */
async function sendUpstream(run: ProxyRun, request: Request, rest: string, prepared: Prepared): Promise<Response> {
  const { deps } = run;
  const providerKey = (run.trace.auth as Authenticated).providerKey;
  const headers = forwardRequestHeaders(request.headers, providerKey.adapter.passHeaders);
  if (prepared.reserialised) headers["content-type"] = "application/json";
  attachProviderCredential(headers, providerKey.adapter, providerKey.plain ?? (await deps.cache.providerSecret(providerKey)));
  const guard = new UpstreamGuard(() => deps.disconnectSignal(request), deps.upstreamTimeoutMs);
  run.guard = guard;
  run.sent = true;
  return forward({ url: providerKey.row.baseUrl + rest, method: request.method, headers, body: prepared.body }, { fetch: deps.fetch, guard });
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
    const settled = run.settleAnswer({ status: upstream.status, usage: kind === "json" ? usageOfJson(bytes) : undefined, cutShort: false });
    recordOutcome(deps, trace, upstream.status, { settled, ttfbMs: firstByteMs });
  });
  return new Response(bytes, { status: upstream.status, statusText: upstream.statusText, headers });
}

function answerBodiless(run: ProxyRun, upstream: Response, headers: Headers): Response {
  (run.guard as UpstreamGuard).release();
  const settled = run.settleAnswer({ status: upstream.status, usage: undefined, cutShort: false });
  recordOutcome(run.deps, run.trace, upstream.status, { settled });
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
      const end = { status: upstream.status, metered: kind === "other" ? undefined : result, promptBytes, cutShort: result.aborted || result.failed };
      const settled = run.settleAnswer(end);
      const status = result.aborted ? 499 : upstream.status;
      const errorCode = result.aborted ? "client_closed" : result.failed ? "upstream_body_failed" : undefined;
      recordOutcome(deps, trace, status, { settled, ttfbMs, errorCode });
    },
  });
  return new Response(metered, { status: upstream.status, statusText: upstream.statusText, headers });
}

/** Releases what the request held and answers in the OpenAI error shape (or 499 when the client left). */
function answerFailure(run: ProxyRun, err: unknown): Response {
  const { deps, trace } = run;
  run.guard?.release();
  // Once sent, a request may have been billed whatever became of the answer, unless no connection was ever made.
  const billable = run.sent && !(err instanceof ProxyError && (err.neverReachedProvider || err.code === "upstream_redirect"));
  const settled = run.settleAnswer({ status: 0, usage: undefined, cutShort: billable });
  if (err instanceof ClientGone) {
    recordOutcome(deps, trace, 499, { settled, errorCode: "client_closed" });
    return new Response(null, { status: 499 });
  }
  // Nothing before authentication can fail but authentication itself.
  if (!trace.auth && err instanceof ProxyError) deps.metrics.authFailures.inc({ code: err.code });
  const error = err instanceof ProxyError ? err : new ProxyError("internal_error", "Cannot forward request: internal error");
  if (!(err instanceof ProxyError)) {
    deps.logger.error("Proxy request failed", { error: err instanceof Error ? err.message : String(err), request_id: trace.requestId });
  }
  recordOutcome(deps, trace, error.status, { settled, errorCode: error.code, refused: !run.sent && error.status < 500 });
  // A limited key's x-ratelimit-* go with every answer, keyward's own refusals included.
  const rateHeaders = trace.auth ? deps.gate.rateHeaders(trace.auth.proxyKey, deps.clock.now()) : {};
  return error.toResponse({ ...rateHeaders, "x-request-id": trace.requestId });
}
