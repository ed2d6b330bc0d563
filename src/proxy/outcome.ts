import type { Usage } from "../limits/gate.ts";
import type { RequestErrorCode } from "../usage/error-codes.ts";
import type { Authenticated } from "./authenticate.ts";
import type { ProxyDeps } from "./deps.ts";

/** What the handler learns about a request as it goes, for its log row and access line. */
export interface Trace {
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

export interface Outcome {
  usage?: Usage;
  cost?: number;
  ttfbMs?: number;
  errorCode?: RequestErrorCode;
}

/**
 * Records how a request ended, once: the request-log row (written later in
 * a batch, off the hot path), the metrics and the access line. Requests that
 * never authenticated get no request-log row: nothing was proxied or spent,
 * and a flood of made-up keys must not be able to fill the disk. They are
 * counted in the metrics and still get their access line.
 */
export function recordOutcome(deps: ProxyDeps, trace: Trace, status: number, extra: Outcome): void {
  const provider = trace.auth?.providerKey.row.provider ?? null;
  const latencyMs = performance.now() - trace.started;
  if (trace.auth) {
    deps.log.append({
      at: trace.startedAt,
      requestId: trace.requestId,
      proxyKeyId: trace.auth.proxyKey.id,
      providerKeyId: trace.auth.providerKey.row.id,
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
  }
  const series = deps.metrics.forProvider(provider ?? "none");
  series.status(status).value++;
  series.latency.observe(latencyMs / 1000);
  if (extra.usage && provider) {
    series.inputTokens.value += extra.usage.inputTokens;
    series.outputTokens.value += extra.usage.outputTokens;
  }
  if (extra.cost && provider) series.cost.value += extra.cost / 1_000_000;
  deps.access?.({
    requestId: trace.requestId,
    method: trace.method,
    path: `/v1${trace.path}`,
    status,
    latencyMs,
    keyId: trace.auth?.proxyKey.id,
    client: trace.client,
  });
}
