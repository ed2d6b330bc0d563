import type { Clock } from "../clock.ts";
import type { LimitGate } from "../limits/gate.ts";
import type { AccessLogger } from "../telemetry/access-log.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { Metrics } from "../telemetry/metrics.ts";
import type { RequestLog } from "../usage/request-log.ts";
import type { UpstreamFetch } from "../upstream/client.ts";
import type { ObjectOwners } from "../vault/stored-objects.ts";
import type { SecretVerifier } from "../vault/verifier.ts";
import type { AfterResponse } from "./after-response.ts";
import type { ProviderAuthAlerts } from "../alerts/checks.ts";
import type { BatchSettler } from "./batch-settler.ts";
import type { KeyCache } from "./key-cache.ts";

/** What the proxy handler is built from; `createApp` wires the real parts, tests their own. */
export interface ProxyDeps {
  cache: KeyCache;
  verifier: SecretVerifier;
  gate: LimitGate;
  log: RequestLog;
  metrics: Metrics;
  clock: Clock;
  fetch: UpstreamFetch;
  logger: Logger;
  upstreamTimeoutMs: number;
  maxBodyBytes: number;
  /** Output cap assumed (and written into the request) when a budgeted client sets none. */
  defaultMaxTokens: number;
  /** The runtime's client-disconnect signal for a request, where it has a reliable one (asked for lazily: UpstreamGuard). */
  disconnectSignal: (request: Request) => AbortSignal | undefined;
  /** Writes the request's access line (logRow calls it once the outcome is known). */
  access?: AccessLogger;
  /** Where bookkeeping goes that the client need not wait for. */
  afterResponse: AfterResponse;
  /** Who created each stored object, so other proxy keys get 404 for it. */
  objects: ObjectOwners;
  /** Batch input files checked at upload, and the charges of batches made from them, settled when they end. */
  batches: BatchSettler;
  /** False while this instance cannot confirm it holds the shared vault's latest changes: every key is refused (503). Absent: one process, always current. */
  vaultFresh?: () => boolean;
  /** Told when an upstream refuses a provider key (401/403); it only notes it, the alert goes out later. */
  alerts?: ProviderAuthAlerts;
}
