import type { Admission } from "../limits/gate.ts";
import type { ProviderAdapter } from "../providers/types.ts";
import { requestContext, type RequestContext } from "../telemetry/request-context.ts";
import { StorageUnavailableError } from "../db/errors.ts";
import { authenticate, type Authenticated } from "./authenticate.ts";
import { attachPinnedAccount, attachProviderCredential } from "./credentials-out.ts";
import type { ProxyDeps } from "./deps.ts";
import { echoFor } from "./echo.ts";
import { ProxyError } from "./errors.ts";
import { ClientGone, forward } from "./forward.ts";
import { forwardRequestHeaders, forwardResponseHeaders } from "./headers.ts";
import { meterBody, type BodyKind } from "./meter.ts";
import { recordOutcome, type Trace } from "./outcome.ts";
import { afterStoredObjectAnswer, answerUploadSession, checkOwnership, checkReferences, recordStreamedObject } from "./ownership.ts";
import { prepareRequest } from "./prepare.ts";
import { ProxyRun, type Prepared } from "./run.ts";
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
    // An instance that cannot vouch for its copy of the vault may have missed a revocation: it answers no key.
    if (deps.vaultFresh && !deps.vaultFresh()) throw STALE_VAULT;
    // Synchronous for a key verified before: no promise on the path every request takes.
    const auth = authenticate(request.headers, deps.cache, deps.verifier, deps.clock, run.trace.client);
    run.trace.auth = auth instanceof Promise ? await auth : auth;
    checkPath(run.trace.auth.providerKey.adapter, run.trace.path);
    const prepared = await prepareRequest(run, request, run.trace.auth);
    const admitting = run.admitted();
    if (admitting) await admitting;
    checkOwnership(run, deps.objects);
    checkReferences(run, deps.objects, prepared.json);
    // Only now may the connection outlive the server's idle timeout (a quiet stream): a request that is not
    // authenticated, or whose body its sender stalls, may not.
    given?.onAuthenticated?.();
    const upstream = await sendUpstream(run, request, rest, prepared);
    // A buffered answer is still being read: its failures belong to the catch below.
    const answered = answer(run, request, upstream, prepared);
    return answered instanceof Promise ? await answered : answered;
  } catch (err) {
    // An admission still waiting for a budget's slice settles first, so what it holds is released below.
    await run.admitted()?.catch(() => {});
    return answerFailure(run, err);
  }
}

const STALE_VAULT = new ProxyError(
  "service_unavailable",
  "Cannot serve requests: this instance cannot confirm it holds the vault's latest changes (the shared database does not answer); retry, another instance may serve",
  { headers: { "retry-after": "1" }, neverReachedProvider: true },
);

function storageUnavailable(err: StorageUnavailableError): ProxyError {
  return new ProxyError("service_unavailable", err.message, { headers: { "retry-after": "1" } });
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

function checkPath(adapter: ProviderAdapter, path: string): void {
  if (adapter.paths && !adapter.paths.test(path)) {
    throw new ProxyError("not_found", `Cannot forward request: ${adapter.id} does not serve /v1${path}`);
  }
}

/** Swaps the client's credentials for the provider key's and sends the request where the provider key and endpoint say. */
async function sendUpstream(run: ProxyRun, request: Request, rest: string, prepared: Prepared): Promise<Response> {
  const { deps } = run;
  const providerKey = (run.trace.auth as Authenticated).providerKey;
  const headers = forwardRequestHeaders(request.headers, providerKey.adapter.passHeaders);
  if (prepared.contentType !== undefined) headers["content-type"] = prepared.contentType;
  headers["x-request-id"] = run.trace.requestId;
  attachPinnedAccount(headers, providerKey.row);
  const secret = providerKey.plain ?? (await deps.cache.providerSecret(providerKey));
  attachProviderCredential(headers, run.endpoint?.credential ?? providerKey.adapter.auth, secret);
  run.echo = echoFor(providerKey, secret, providerKey.row.keyHint);
  const clientSignal = () => deps.disconnectSignal(request);
  const guard = new UpstreamGuard(clientSignal, deps.upstreamTimeoutMs);
  run.guard = guard;
  run.sent = true;
  const url = upstreamBase(providerKey.row.baseUrl, run, providerKey.adapter, rest) + withoutGoogleKeyParam(rest, run);
  if (run.endpoint?.stores?.action === "list") run.upstreamRequest = { url, headers, clientSignal };
  try {
    return await forward({ url, method: request.method, headers, body: prepared.body, stream: run.trace.streamed }, { fetch: deps.fetch, guard });
  } catch (err) {
    // A body keyward cut off on its way (a batch input that failed its check) failed the exchange: its reason is the answer.
    throw prepared.refusal?.() ?? err;
  }
}

/**
 * Where the path goes: after the provider key's base URL, or after its origin
 * for paths that carry their own API version (Gemini's `/v1beta/…`). Azure's
 * dated API (deployment paths, and any request with a dated `api-version`, as
 * the `AzureOpenAI` client sends) lives beside its v1 API: `…/openai/files`,
 * not `…/openai/v1/files`.
 */
function upstreamBase(baseUrl: string, run: ProxyRun, adapter: ProviderAdapter, rest: string): string {
  const upstream = run.endpoint?.upstream;
  if (upstream === "origin") return new URL(baseUrl).origin;
  if ((upstream === "dated" || (adapter.datedApiVersion && DATED_API_VERSION.test(rest))) && baseUrl.endsWith("/v1")) return baseUrl.slice(0, -3);
  return baseUrl;
}

/** `api-version=2024-10-21` or `2025-04-01-preview`; the v1 API takes none, or `preview` or `latest`. */
const DATED_API_VERSION = /[?&]api-version=\d{4}-\d{2}-\d{2}/;

/**
 * Google also reads a credential from `?key=`. On its native API the provider
 * key travels in `x-goog-api-key` only: a client's `key` parameter (a proxy key
 * pasted where Google's docs put it) is not passed on.
 */
function withoutGoogleKeyParam(rest: string, run: ProxyRun): string {
  const start = rest.indexOf("?");
  if (run.endpoint?.credential !== "x-goog-api-key" || start < 0) return rest;
  const kept = rest
    .slice(start + 1)
    .split("&")
    .filter((pair) => paramName(pair) !== "key");
  return kept.length > 0 ? `${rest.slice(0, start)}?${kept.join("&")}` : rest.slice(0, start);
}

function paramName(pair: string): string {
  const name = pair.split("=", 1)[0] ?? "";
  try {
    return decodeURIComponent(name.replaceAll("+", " "));
  } catch {
    return name;
  }
}

/** The three ways an upstream answer goes back: read whole, without a body, or streamed. */
function answer(run: ProxyRun, request: Request, upstream: Response, prepared: Prepared): Promise<Response> | Response {
  // The provider refused its own key (revoked or cut off there): noted for an alert, never waited for.
  if (upstream.status === 401 || upstream.status === 403)
    run.deps.alerts?.providerAuthFailed((run.trace.auth as Authenticated).providerKey.row.id, upstream.status);
  const headers = forwardResponseHeaders(upstream.headers);
  run.echo?.inHeaders(headers);
  for (const [k, v] of Object.entries((run.admission as Admission).rateHeaders)) headers.set(k, v);
  // The provider's own request id is the one its support asks for (SDKs expose it): it keeps x-request-id.
  if (!headers.has("x-request-id")) headers.set("x-request-id", run.trace.requestId);
  headers.set("x-keyward-request-id", run.trace.requestId);
  // A resumable upload's session is the caller's before the client hears where to send its chunks.
  const session = answerUploadSession(run, run.deps.objects, upstream.status, headers, request.url);
  if (session) return session.then(() => answerBy(run, request, upstream, headers, prepared));
  return answerBy(run, request, upstream, headers, prepared);
}

function answerBy(run: ProxyRun, request: Request, upstream: Response, headers: Headers, prepared: Prepared): Promise<Response> | Response {
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
  // A stored object's owner is written before the client hears of the object: it may use it at once.
  const recorded = afterStoredObjectAnswer(run, deps.objects, upstream.status, await readUpstream(upstream, guard));
  const bytes = recorded instanceof Promise ? await recorded : recorded;
  guard.release();
  const firstByteMs = performance.now() - trace.started;
  // A batch the client sees ended is settled first: its spend is current when the client looks next.
  if (run.endpoint?.settlesBatch && upstream.status === 200) await deps.batches.afterRead((trace.auth as Authenticated).providerKey, bytes);
  const provider = (trace.auth as Authenticated).providerKey.row.provider;
  // The client does not wait for metering and bookkeeping; the reservation holds the budget meanwhile,
  // so nothing can be overspent in that moment.
  deps.afterResponse.add(() => {
    deps.metrics.forProvider(provider).ttfb.observe(firstByteMs / 1000);
    const settled = run.settleAnswer({ status: upstream.status, usage: kind === "json" ? usageOfJson(bytes) : undefined, cutShort: false });
    recordOutcome(deps, trace, upstream.status, { settled, ttfbMs: firstByteMs });
  });
  const body = run.echo ? run.echo.inBody(bytes) : bytes;
  return new Response(body, { status: upstream.status, statusText: upstream.statusText, headers });
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
  const promptBytes = prepared.body instanceof Uint8Array ? prepared.body.byteLength : 0;
  let ttfbMs: number | undefined;
  deps.metrics.activeStreams++;
  const metered = meterBody(stream, {
    kind,
    stripUsage: prepared.injectUsage,
    echo: run.echo,
    onFirstChunk: () => {
      ttfbMs = performance.now() - trace.started;
      deps.metrics.forProvider(provider).ttfb.observe(ttfbMs / 1000);
    },
    // The id is the creator's before the event announcing it reaches the client, which may use it at once.
    onObjectId: (id) => recordStreamedObject(run, deps.objects, id),
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
  const error =
    err instanceof ProxyError
      ? err
      : err instanceof StorageUnavailableError
        ? storageUnavailable(err)
        : new ProxyError("internal_error", "Cannot forward request: internal error");
  if (!(err instanceof ProxyError) && !(err instanceof StorageUnavailableError)) {
    // An error's message may quote what it was given, the provider key included (a header it refused).
    const message = err instanceof Error ? err.message : String(err);
    deps.logger.error("Proxy request failed", { error: run.echo ? run.echo.inText(message) : message, request_id: trace.requestId });
  }
  recordOutcome(deps, trace, error.status, { settled, errorCode: error.code, refused: !run.sent && error.status < 500 });
  // A limited key's x-keyward-ratelimit-* go with every answer, keyward's own refusals included.
  const rateHeaders = trace.auth ? deps.gate.rateHeaders(trace.auth.proxyKey, deps.clock.now()) : {};
  return error.toResponse({ ...rateHeaders, "x-request-id": trace.requestId, "x-keyward-request-id": trace.requestId });
}
