import type { Clock } from "../clock.ts";
import type { ProxyKeyRow } from "../db/store.ts";
import { readRequestFacts } from "../limits/estimate.ts";
import type { Admission, LimitGate, Usage } from "../limits/gate.ts";
import type { AccessLogger } from "../telemetry/access-log.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { Metrics } from "../telemetry/metrics.ts";
import type { RequestLog } from "../usage/request-log.ts";
import { requestContext, type RequestContext } from "../telemetry/request-context.ts";
import type { UpstreamFetch } from "../upstream/client.ts";
import type { SecretVerifier } from "../vault/verifier.ts";
import type { AfterResponse } from "./after-response.ts";
import { authenticate } from "./authenticate.ts";
import { readBody } from "./body.ts";
import { attachProviderCredential } from "./credentials-out.ts";
import { ProxyError } from "./errors.ts";
import { ClientGone, forward } from "./forward.ts";
import { forwardRequestHeaders, forwardResponseHeaders } from "./headers.ts";
import type { KeyCache } from "./key-cache.ts";
import { meterBody } from "./meter.ts";
import type { ProxyDeps } from "./deps.ts";
import { recordOutcome, type Trace } from "./outcome.ts";
import { rewriteBody } from "./rewrite.ts";
import { UpstreamGuard } from "./upstream-guard.ts";
import { bodyKind, bufferable, isBodiless, readUpstream } from "./upstream-body.ts";
import { chargedUsage, usageOfJson } from "./usage.ts";

/** `/v1/chat/completions?x=1` → `/chat/completions?x=1`. */
function pathAfterV1(url: string): string {
  const start = url.indexOf("/v1/", url.indexOf("//") + 2);
  return url.slice(start + 3);
}

const decoder = new TextDecoder();

/** Limits that need to read the model from the body. */
function needsModel(row: ProxyKeyRow): boolean {
  return row.allowedModels !== null || row.budgetMicros !== null;
}

/**
 * One proxied request: authenticate, check limits and reserve budget, pick
 * the upstream from the proxy key's provider key (never from the client),
 * swap credentials, forward, and stream the answer back while metering it.
 */
export async function handleProxyRequest(deps: ProxyDeps, request: Request, given?: RequestContext): Promise<Response> {
  const rest = pathAfterV1(request.url);
  const path = rest.split("?", 1)[0] as string;
  const context = given ?? requestContext(request);
  const trace: Trace = {
    requestId: context.id,
    client: context.client,
    method: request.method,
    path,
    startedAt: deps.clock.now(),
    started: performance.now(),
    streamed: false,
  };
  let admission: Admission | undefined;
  // Released where the exchange ends: after the whole read, when a stream ends, with no body, or in the catch below.
  let exchange: UpstreamGuard | undefined;
  const settle = (usage: Usage | undefined): number => {
    if (!admission || !trace.auth) return 0;
    const cost = deps.gate.finish(trace.auth.proxyKey, admission, usage, deps.clock.now());
    admission = undefined;
    return cost;
  };

  try {
    try {
      const auth = authenticate(request.headers, deps.cache, deps.verifier, deps.clock);
      trace.auth = auth instanceof Promise ? await auth : auth;
    } catch (err) {
      if (err instanceof ProxyError) deps.metrics.authFailures.inc({ code: err.code });
      throw err;
    }
    const { proxyKey, providerKey } = trace.auth;
    const { adapter, row } = providerKey;
    if (adapter.paths && !adapter.paths.test(path)) {
      throw new ProxyError("not_found", `Cannot forward request: ${adapter.id} does not serve /v1${path}`);
    }
    const hasBody = request.method !== "GET" && request.method !== "HEAD";
    let body = hasBody ? await readBody(request, deps.maxBodyBytes) : undefined;
    const text = body && (request.headers.get("content-type") ?? "").includes("json") ? decoder.decode(body) : undefined;
    const facts = readRequestFacts(body, text, path, adapter.id, deps.defaultMaxTokens);
    if (!facts && body && needsModel(proxyKey)) {
      throw new ProxyError("invalid_request", "Cannot read request: this key's limits need the model, but the body is not a JSON object");
    }
    trace.model = facts?.model;
    trace.streamed = facts?.stream ?? false;

    admission = deps.gate.admit(proxyKey, facts, deps.clock.now());
    const injectUsage =
      facts !== undefined &&
      facts.stream &&
      adapter.openaiStyleStreams &&
      row.injectStreamUsage &&
      !facts.clientIncludeUsage &&
      path.endsWith("/chat/completions");
    const capTokens =
      facts && proxyKey.budgetMicros !== null && facts.clientMaxTokens === undefined && facts.maxTokensField
        ? deps.defaultMaxTokens
        : undefined;
    if (facts && body && text !== undefined) body = rewriteBody(facts, body, text, injectUsage, capTokens) ?? body;

    const headers = forwardRequestHeaders(request.headers, adapter.passHeaders);
    attachProviderCredential(headers, adapter, providerKey.plain ?? (await deps.cache.providerSecret(providerKey)));
    const guard = new UpstreamGuard(() => deps.disconnectSignal(request), deps.upstreamTimeoutMs);
    exchange = guard;
    const upstream = await forward({ url: row.baseUrl + rest, method: request.method, headers, body }, { fetch: deps.fetch, guard });

    const responseHeaders = forwardResponseHeaders(upstream.headers);
    for (const [k, v] of Object.entries(admission.rateHeaders)) responseHeaders.set(k, v);
    responseHeaders.set("x-request-id", trace.requestId);
    const kind = bodyKind(upstream);
    const promptBytes = body?.byteLength ?? 0;
    let ttfbMs: number | undefined;
    const bodiless = isBodiless(request.method, upstream);
    if (!bodiless && kind !== "sse" && (kind === "json" || upstream.status >= 400) && bufferable(upstream)) {
      // A JSON answer arrives at once anyway: read it whole, meter it, send one buffer.
      const bytes = await readUpstream(upstream, guard);
      guard.release();
      const firstByteMs = performance.now() - trace.started;
      // Metering and bookkeeping after the answer is on its way: the client does not wait for them.
      // The reservation holds the budget meanwhile, so nothing can be overspent in that moment.
      deps.afterResponse.add(() => {
        deps.metrics.forProvider(row.provider).ttfb.observe(firstByteMs / 1000);
        const usage = kind === "json" ? usageOfJson(bytes) : undefined;
        recordOutcome(deps, trace, upstream.status, { usage, cost: settle(usage), ttfbMs: firstByteMs });
      });
      return new Response(bytes, { status: upstream.status, statusText: upstream.statusText, headers: responseHeaders });
    }
    const stream = bodiless ? null : upstream.body;
    if (!stream) {
      guard.release();
      const usage = undefined;
      recordOutcome(deps, trace, upstream.status, { usage, cost: settle(usage) });
      return new Response(null, { status: upstream.status, statusText: upstream.statusText, headers: responseHeaders });
    }
    deps.metrics.activeStreams++;
    const metered = meterBody(stream, {
      kind,
      stripUsage: injectUsage,
      onFirstChunk: () => {
        ttfbMs = performance.now() - trace.started;
        deps.metrics.forProvider(row.provider).ttfb.observe(ttfbMs / 1000);
      },
      onDone: (result) => {
        guard.release();
        deps.metrics.activeStreams--;
        const usage = kind === "other" ? undefined : chargedUsage(result, promptBytes);
        const status = result.aborted ? 499 : upstream.status;
        const errorCode = result.aborted ? "client_closed" : result.failed ? "upstream_body_failed" : undefined;
        recordOutcome(deps, trace, status, { usage, cost: settle(usage), ttfbMs, errorCode });
      },
    });
    return new Response(metered, { status: upstream.status, statusText: upstream.statusText, headers: responseHeaders });
  } catch (err) {
    exchange?.release();
    settle(undefined);
    if (err instanceof ClientGone) {
      recordOutcome(deps, trace, 499, { errorCode: "client_closed" });
      return new Response(null, { status: 499 });
    }
    const error =
      err instanceof ProxyError ? err : new ProxyError("internal_error", "Cannot forward request: internal error");
    if (!(err instanceof ProxyError)) {
      deps.logger.error("Proxy request failed", { error: err instanceof Error ? err.message : String(err), request_id: trace.requestId });
    }
    recordOutcome(deps, trace, error.status, { errorCode: error.code });
    // A limited key's x-ratelimit-* go with every answer, keyward's own refusals included.
    const rateHeaders = trace.auth ? deps.gate.rateHeaders(trace.auth.proxyKey, deps.clock.now()) : {};
    return error.toResponse({ ...rateHeaders, "x-request-id": trace.requestId });
  }
}
