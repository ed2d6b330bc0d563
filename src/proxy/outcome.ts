import type { LoggedRequest, RequestErrorCode } from "../usage/error-codes.ts";
import type { Authenticated } from "./authenticate.ts";
import type { AnswerSettled } from "./charge.ts";
import type { ProxyDeps } from "./deps.ts";

/** Paths are stored and logged at most this long: a client could send a URL of many kilobytes. */
const MAX_LOGGED_PATH = 256;
const clip = (path: string) => (path.length > MAX_LOGGED_PATH ? path.slice(0, MAX_LOGGED_PATH) : path);

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
  /** What was charged, with the usage to log. */
  settled?: AnswerSettled;
  ttfbMs?: number;
  errorCode?: RequestErrorCode;
  /** keyward refused the request before sending it: its log row is folded with others like it. */
  refused?: boolean;
  /**
   * keyward answered the request itself, with nothing proxied (`GET /v1/key`): no request-log row, so a
   * key holder checking their balance adds neither rows nor requests to usage, and its metrics count
   * under no provider. The access line still names the key.
   */
  answeredHere?: boolean;
}

/**
 * Records how a request ended, once: the request-log row (written later in
 * a batch, off the hot path), the metrics and the access line. Requests that
 * never authenticated get no request-log row: nothing was proxied or spent,
 * and a flood of made-up keys must not be able to fill the disk. They are
 * counted in the metrics and still get their access line.
 */
export function recordOutcome(deps: ProxyDeps, trace: Trace, status: number, extra: Outcome): void {
  const provider = extra.answeredHere ? null : (trace.auth?.providerKey.row.provider ?? null);
  const latencyMs = performance.now() - trace.started;
  const usage = extra.settled?.usage;
  const cost = extra.settled?.costMicros ?? 0;
  const path = clip(trace.path);
  if (trace.auth && !extra.answeredHere) {
    const row: LoggedRequest = {
      at: trace.startedAt,
      requestId: trace.requestId,
      proxyKeyId: trace.auth.proxyKey.id,
      providerKeyId: trace.auth.providerKey.row.id,
      provider,
      model: trace.model ?? null,
      method: trace.method,
      path,
      status,
      streamed: trace.streamed,
      inputTokens: usage?.inputTokens ?? 0,
      outputTokens: usage?.outputTokens ?? 0,
      cachedTokens: usage?.cachedTokens ?? 0,
      costMicros: cost,
      overrunMicros: extra.settled?.overrunMicros ?? 0,
      latencyMs: Math.round(latencyMs),
      ttfbMs: extra.ttfbMs === undefined ? null : Math.round(extra.ttfbMs),
      errorCode: extra.errorCode ?? null,
    };
    if (extra.refused) deps.log.appendRefusal(row);
    else deps.log.append(row);
  }
  const series = deps.metrics.forProvider(provider ?? "none");
  series.status(status).value++;
  series.latency.observe(latencyMs / 1000);
  if (usage && provider) {
    series.inputTokens.value += usage.inputTokens;
    series.outputTokens.value += usage.outputTokens;
  }
  if (cost && provider) series.cost.value += cost / 1_000_000;
  deps.access?.({
    requestId: trace.requestId,
    method: trace.method,
    path: `/v1${path}`,
    status,
    latencyMs,
    keyId: trace.auth?.proxyKey.id,
    client: trace.client,
  });
}
