import type { Clock } from "../clock.ts";
import type { ProxyKeyRow } from "../db/store.ts";
import { readRequestFacts, type RequestFacts } from "../limits/estimate.ts";
import type { Admission, LimitGate, Usage } from "../limits/gate.ts";
import type { AccessLogger } from "../telemetry/access-log.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { Metrics } from "../telemetry/metrics.ts";
import type { RequestLogWriter } from "../telemetry/request-log.ts";
import { requestContext } from "../telemetry/request-context.ts";
import type { SecretVerifier } from "../vault/verifier.ts";
import { authenticate, type Authenticated } from "./authenticate.ts";
import { readBody } from "./body.ts";
import { attachProviderCredential } from "./credentials-out.ts";
import { ProxyError } from "./errors.ts";
import { ClientGone, forward } from "./forward.ts";
import { forwardRequestHeaders, forwardResponseHeaders } from "./headers.ts";
import type { KeyCache } from "./key-cache.ts";
import { meterBody, type BodyKind, type MeterResult } from "./meter.ts";
import { completeUsage, usageFrom } from "./usage.ts";

export interface ProxyDeps {
  cache: KeyCache;
  verifier: SecretVerifier;
  gate: LimitGate;
  log: RequestLogWriter;
  metrics: Metrics;
  clock: Clock;
  fetch: typeof fetch;
  logger: Logger;
  upstreamTimeoutMs: number;
  maxBodyBytes: number;
  /** Output cap assumed (and written into the request) when a budgeted client sets none. */
  defaultMaxTokens: number;
  /** The runtime's client-disconnect signal for a request, where it has a reliable one. */
  disconnectSignal: (request: Request) => AbortSignal | undefined;
  /** Writes the request's access line (logRow calls it once the outcome is known). */
  access?: AccessLogger;
}

/** `/v1/chat/completions?x=1` → `/chat/completions?x=1`. */
function pathAfterV1(url: string): string {
  const start = url.indexOf("/v1/", url.indexOf("//") + 2);
  return url.slice(start + 3);
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Limits that need to read the model from the body. */
function needsModel(row: ProxyKeyRow): boolean {
  return row.allowedModels !== null || row.budgetMicros !== null;
}

function bodyKind(response: Response): BodyKind {
  if (response.status >= 400 || !response.body) return "other";
  const type = response.headers.get("content-type") ?? "";
  if (type.includes("text/event-stream")) return "sse";
  if (type.includes("json")) return "json";
  return "other";
}

/**
 * Usage to charge: what the provider reported, completed by estimates for
 * what it did not (an aborted stream ends before its final usage event):
 * input ≈ prompt bytes / 4, output ≈ one token per content delta event.
 * For an aborted stream the output is at least the deltas seen, since
 * Anthropic's `message_start` reports a provisional `output_tokens: 1`.
 */
function chargedUsage(result: MeterResult, promptBytes: number): Usage | undefined {
  const reported = result.usage;
  if (!result.aborted && reported?.inputTokens !== undefined && reported.outputTokens !== undefined) {
    return completeUsage(reported);
  }
  if (!result.aborted && reported === undefined && result.contentEvents === 0) return undefined;
  return completeUsage({
    ...reported,
    inputTokens: reported?.inputTokens ?? Math.ceil(promptBytes / 4),
    outputTokens: Math.max(reported?.outputTokens ?? 0, result.contentEvents),
  });
}

/** Plain bodies up to this size are read whole rather than streamed through the meter. */
const MAX_BUFFERED_BYTES = 32 * 1024 * 1024;

function bufferable(response: Response): boolean {
  const length = response.headers.get("content-length");
  return length === null || Number(length) <= MAX_BUFFERED_BYTES;
}

/** Reads an upstream body whole; a client that leaves meanwhile surfaces as ClientGone. */
async function readUpstream(response: Response, disconnect: AbortSignal | undefined): Promise<Uint8Array<ArrayBuffer>> {
  try {
    return new Uint8Array(await response.arrayBuffer());
  } catch {
    if (disconnect?.aborted) throw new ClientGone();
    throw new ProxyError("upstream_unreachable", "Cannot forward response: the provider's answer broke off");
  }
}

function usageOfJson(bytes: Uint8Array): Usage | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(bytes));
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return undefined;
  const usage = usageFrom(parsed as Record<string, unknown>);
  return usage ? completeUsage(usage) : undefined;
}

interface Trace {
  requestId: string;
  method: string;
  path: string;
  startedAt: number;
  started: number;
  auth?: Authenticated;
  model?: string;
  streamed: boolean;
  client?: string;
}

function logRow(deps: ProxyDeps, trace: Trace, status: number, extra: { usage?: Usage; cost?: number; ttfbMs?: number; errorCode?: string }) {
  const provider = trace.auth?.providerKey.row.provider ?? null;
  const latencyMs = performance.now() - trace.started;
  deps.log.append({
    at: trace.startedAt,
    requestId: trace.requestId,
    proxyKeyId: trace.auth?.proxyKey.id ?? null,
    providerKeyId: trace.auth?.providerKey.row.id ?? null,
    provider,
    model: trace.model ?? null,
    method: trace.method,
    path: trace.path,
    status,
    streamed: trace.streamed,
    inputTokens: extra.usage?.inputTokens ?? 0,
    outputTokens: extra.usage?.outputTokens ?? 0,
    cachedTokens: extra.usage?.cachedTokens ?? 0,
    costMicros: extra.cost ?? 0,
    latencyMs: Math.round(latencyMs),
    ttfbMs: extra.ttfbMs === undefined ? null : Math.round(extra.ttfbMs),
    errorCode: extra.errorCode ?? null,
  });
  const labels = { provider: provider ?? "none", status: String(status) };
  deps.metrics.requests.inc(labels);
  deps.metrics.latency.observe({ provider: provider ?? "none" }, latencyMs / 1000);
  if (extra.usage && provider) {
    deps.metrics.tokens.inc({ provider, direction: "input" }, extra.usage.inputTokens);
    deps.metrics.tokens.inc({ provider, direction: "output" }, extra.usage.outputTokens);
  }
  if (extra.cost && provider) deps.metrics.cost.inc({ provider }, extra.cost / 1_000_000);
  deps.access?.({ requestId: trace.requestId, method: trace.method, path: `/v1${trace.path}`, status, latencyMs, keyId: trace.auth?.proxyKey.id, client: trace.client });
}

/** Sets `stream_options.include_usage` and the output cap where keyward needs them; returns the new body or undefined. */
function rewriteBody(facts: RequestFacts, injectUsage: boolean, capTokens: number | undefined): Uint8Array<ArrayBuffer> | undefined {
  if (!facts.json || (!injectUsage && capTokens === undefined)) return undefined;
  const json = { ...facts.json };
  if (injectUsage) {
    const existing = typeof json.stream_options === "object" && json.stream_options !== null ? json.stream_options : {};
    json.stream_options = { ...existing, include_usage: true };
  }
  if (capTokens !== undefined && facts.maxTokensField) json[facts.maxTokensField] = capTokens;
  return encoder.encode(JSON.stringify(json));
}

/**
 * One proxied request: authenticate, check limits and reserve budget, pick
 * the upstream from the proxy key's provider key (never from the client),
 * swap credentials, forward, and stream the answer back while metering it.
 */
export async function handleProxyRequest(deps: ProxyDeps, request: Request): Promise<Response> {
  const rest = pathAfterV1(request.url);
  const path = rest.split("?", 1)[0] as string;
  const context = requestContext(request);
  const trace: Trace = {
    requestId: context.id,
    client: context.client,
    method: request.method,
    path,
    startedAt: deps.clock.now(),
    started: performance.now(),
    streamed: false,
  };
  const idHeader = { "x-request-id": trace.requestId };
  let admission: Admission | undefined;
  const settle = (usage: Usage | undefined): number => {
    if (!admission || !trace.auth) return 0;
    const cost = deps.gate.finish(trace.auth.proxyKey, admission, usage, deps.clock.now());
    admission = undefined;
    return cost;
  };

  try {
    try {
      trace.auth = await authenticate(request.headers, deps.cache, deps.verifier, deps.clock);
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
    if (facts) body = rewriteBody(facts, injectUsage, capTokens) ?? body;

    const headers = forwardRequestHeaders(request.headers, adapter.passHeaders);
    attachProviderCredential(headers, adapter, await deps.cache.providerSecret(providerKey));
    const upstream = await forward(
      { url: row.baseUrl + rest, method: request.method, headers, body },
      { fetch: deps.fetch, timeoutMs: deps.upstreamTimeoutMs, disconnect: deps.disconnectSignal(request) },
    );

    const responseHeaders = forwardResponseHeaders(upstream.headers);
    for (const [k, v] of Object.entries(admission.rateHeaders)) responseHeaders.set(k, v);
    responseHeaders.set("x-request-id", trace.requestId);
    const kind = bodyKind(upstream);
    const promptBytes = body?.byteLength ?? 0;
    let ttfbMs: number | undefined;
    if (!upstream.body) {
      const usage = undefined;
      logRow(deps, trace, upstream.status, { usage, cost: settle(usage) });
      return new Response(null, { status: upstream.status, statusText: upstream.statusText, headers: responseHeaders });
    }
    if (kind !== "sse" && (kind === "json" || upstream.status >= 400) && bufferable(upstream)) {
      // A JSON answer arrives at once anyway: read it whole, meter it, send one buffer.
      const bytes = await readUpstream(upstream, deps.disconnectSignal(request));
      ttfbMs = performance.now() - trace.started;
      deps.metrics.ttfb.observe({ provider: row.provider }, ttfbMs / 1000);
      const usage = kind === "json" ? usageOfJson(bytes) : undefined;
      logRow(deps, trace, upstream.status, { usage, cost: settle(usage), ttfbMs });
      return new Response(bytes, { status: upstream.status, statusText: upstream.statusText, headers: responseHeaders });
    }
    deps.metrics.activeStreams++;
    const metered = meterBody(upstream.body, {
      kind,
      stripUsage: injectUsage,
      onFirstChunk: () => {
        ttfbMs = performance.now() - trace.started;
        deps.metrics.ttfb.observe({ provider: row.provider }, ttfbMs / 1000);
      },
      onDone: (result) => {
        deps.metrics.activeStreams--;
        const usage = kind === "other" ? undefined : chargedUsage(result, promptBytes);
        const status = result.aborted ? 499 : upstream.status;
        const errorCode = result.aborted ? "client_closed" : result.failed ? "upstream_body_failed" : undefined;
        logRow(deps, trace, status, { usage, cost: settle(usage), ttfbMs, errorCode });
      },
    });
    return new Response(metered, { status: upstream.status, statusText: upstream.statusText, headers: responseHeaders });
  } catch (err) {
    settle(undefined);
    if (err instanceof ClientGone) {
      logRow(deps, trace, 499, { errorCode: "client_closed" });
      return new Response(null, { status: 499 });
    }
    const error =
      err instanceof ProxyError ? err : new ProxyError("internal_error", "Cannot forward request: internal error");
    if (!(err instanceof ProxyError)) {
      deps.logger.error("Proxy request failed", { error: err instanceof Error ? err.message : String(err), request_id: trace.requestId });
    }
    logRow(deps, trace, error.status, { errorCode: error.code });
    // A limited key's x-ratelimit-* go with every answer, keyward's own refusals included.
    const rateHeaders = trace.auth ? deps.gate.rateHeaders(trace.auth.proxyKey, deps.clock.now()) : {};
    return error.toResponse(new Headers({ ...rateHeaders, ...idHeader }));
  }
}
