import { Elysia, ValidationError } from "elysia";
import { adminTokenRoutes } from "./admin/admin-tokens/routes.ts";
import { auditRoutes } from "./admin/audit/routes.ts";
import { storedObjectRoutes } from "./admin/stored-objects/routes.ts";
import { docsRoutes } from "./admin/docs/index.ts";
import { consoleRoutes } from "./console/routes.ts";
import { oidcExchangeRoutes } from "./admin/oidc/exchange.ts";
import { trustPolicyRoutes } from "./admin/oidc/routes.ts";
import { proxyKeyViews } from "./admin/proxy-keys/views.ts";
import { adminErrorResponse, validationError } from "./admin/error-handler.ts";
import { ApiError } from "./admin/errors.ts";
import { providerKeyRoutes } from "./admin/provider-keys/routes.ts";
import { priceRoutes } from "./admin/prices/routes.ts";
import { proxyKeyRoutes } from "./admin/proxy-keys/routes.ts";
import { teamRoutes } from "./admin/teams/routes.ts";
import { usageRoutes } from "./admin/usage/routes.ts";
import { webhookRoutes } from "./admin/webhooks/routes.ts";
import type { AlertOptions } from "./alerts/options.ts";
import type { Clock } from "./clock.ts";
import { StorageUnavailableError } from "./db/errors.ts";
import type { Store } from "./db/store.ts";
import type { PostgresOptions } from "./db/pg/connect.ts";
import { ObjectOwners } from "./vault/stored-objects.ts";
import { BatchSettler } from "./proxy/batch-settler.ts";
import { ProxyError } from "./proxy/errors.ts";
import { AfterResponse } from "./proxy/after-response.ts";
import { isProxyPath, proxyFetch, proxyRoutes } from "./proxy/routes.ts";
import { healthRoutes } from "./telemetry/health.ts";
import type { AccessLogger } from "./telemetry/access-log.ts";
import type { RequestContext } from "./telemetry/request-context.ts";
import type { Logger } from "./telemetry/logger.ts";
import { metricsRoutes } from "./telemetry/metrics-route.ts";
import { createUpstreamClient, type UpstreamClient } from "./upstream/client.ts";
import type { Connect } from "./runtime/sockets.ts";
import type { Sealer } from "./vault/sealing.ts";
import { closeCeilings, createBatchSettler, createServices, type Services } from "./services.ts";

export interface AppConfig {
  allowHttpUpstreams: boolean;
  upstreamTimeoutMs: number;
  maxBodyBytes: number;
  version: string;
  /** Output cap assumed for budgeted requests that set none. */
  defaultMaxTokens: number;
  logRetentionDays: number;
  logFlushIntervalMs: number;
  /** Days after expiry or revocation before a proxy key's secret hash is deleted (0: at the next sweep). */
  expiredKeyRetentionDays: number;
  /** How often the expired-key sweeper runs. */
  keySweepIntervalMs: number;
  /** When set, `/metrics` requires it as a bearer token. */
  metricsToken?: string;
  /** Browser origins answered with CORS headers on `/v1/*` (`--cors-origins`); absent or empty: CORS off. */
  corsOrigins?: readonly string[];
  /** Alert checks and webhook delivery (intervals, retries, bounds); unset fields take `DEFAULT_ALERT_OPTIONS`. */
  alerts?: Partial<AlertOptions>;
  /** How often open batch charges are checked with their provider (ms); unset: `DEFAULT_BATCH_SETTLE_INTERVAL_MS`, 0: never. */
  batchSettleIntervalMs?: number;
}

/** Batches run up to a day: asking every five minutes settles one soon enough after it ends, at a few requests per round. */
export const DEFAULT_BATCH_SETTLE_INTERVAL_MS = 5 * 60_000;

export const DEFAULT_APP_CONFIG: Omit<AppConfig, "version"> = {
  allowHttpUpstreams: false,
  upstreamTimeoutMs: 60_000,
  maxBodyBytes: 20 * 1024 * 1024,
  defaultMaxTokens: 4096,
  logRetentionDays: 90,
  logFlushIntervalMs: 200,
  expiredKeyRetentionDays: 30,
  keySweepIntervalMs: 3_600_000,
};

export interface AppDeps {
  store: Store;
  sealer: Sealer;
  clock: Clock;
  /** Outgoing HTTP: OIDC discovery and JWKS, and proxied requests without `connect` or while they overlap. */
  fetch: typeof fetch;
  /**
   * The runtime's sockets for keyward's own upstream client (src/upstream/);
   * without them (Deno, an egress proxy, a test's scripted `fetch`) proxied
   * requests go through `fetch`.
   */
  connect?: Connect;
  config: AppConfig;
  logger: Logger;
  /** Access lines for proxy requests (the server logs the others around the app). */
  access?: AccessLogger;
  /**
   * The database file, when request-log rows should be written by a worker
   * thread on its own connection (the server does this); without it they are
   * written on this thread, which is simpler for in-process tests.
   */
  logWorkerPath?: string;
  /**
   * With a store shared through PostgreSQL: the server's own options, for
   * the log worker's connection, when request-log rows should be written
   * from the worker thread (the server does this); without it they are
   * written on this thread.
   */
  logWorkerPostgres?: PostgresOptions;
  /**
   * The database file, for the worker thread that answers the admin API's
   * long reads on its own connection (usage, logs, audit, key pages).
   * Defaults to `logWorkerPath`; without either, reads run on this thread.
   */
  readWorkerPath?: string;
  /** The runtime's client-disconnect signal; defaults to `request.signal` (reliable on Bun). */
  disconnectSignal?: (request: Request) => AbortSignal | undefined;
}

/** The `/v1` handler, on the services it shares with the admin API. */
function createProxy(deps: AppDeps, services: Services, batches: BatchSettler, upstream: UpstreamClient | undefined, afterResponse: AfterResponse) {
  const options = { corsOrigins: deps.config.corsOrigins };
  return proxyFetch(options, {
    cache: services.keyCache,
    verifier: services.proxyVerifier,
    gate: services.gate,
    log: services.requestLog,
    metrics: services.metrics,
    clock: deps.clock,
    fetch: upstream?.fetch ?? deps.fetch,
    logger: deps.logger,
    upstreamTimeoutMs: deps.config.upstreamTimeoutMs,
    maxBodyBytes: deps.config.maxBodyBytes,
    defaultMaxTokens: deps.config.defaultMaxTokens,
    disconnectSignal: deps.disconnectSignal ?? ((request) => request.signal),
    access: deps.access,
    afterResponse,
    objects: new ObjectOwners(deps.store, deps.clock),
    batches,
    vaultFresh: deps.store.shared ? () => deps.store.shared?.isFresh() === true : undefined,
    alerts: services.alerts,
  });
}

/**
 * The answer to an error a route did not answer itself: the admin API's in
 * its error shape, the proxy's in OpenAI's, anything unexpected logged and
 * answered as a 500 that says nothing more.
 */
function answerError(logger: Logger, failure: { code: string | number; error: unknown; path: string }): Response {
  const { code, error, path } = failure;
  if (error instanceof ApiError) return error.toResponse();
  if (error instanceof StorageUnavailableError) {
    logger.warn("Cannot complete a request: the shared database is unavailable", { error: error.message });
    return path.startsWith("/v1")
      ? new ProxyError("service_unavailable", error.message, { headers: { "retry-after": "1" } }).toResponse()
      : adminErrorResponse({ code: "service_unavailable", message: error.message });
  }
  if (path.startsWith("/v1")) {
    if (error instanceof ProxyError) return error.toResponse();
    logger.error("Unhandled proxy error", { code: String(code) });
    return new ProxyError(code === "NOT_FOUND" ? "not_found" : "internal_error", "Cannot forward request").toResponse();
  }
  if (error instanceof ValidationError) return adminErrorResponse(validationError(error));
  if (code === "PARSE") {
    return adminErrorResponse({ code: "invalid_request", message: "Cannot parse request body: it is not valid JSON" });
  }
  if (code === "NOT_FOUND") return adminErrorResponse({ code: "not_found", message: "Cannot find this route" });
  logger.error("Unhandled error", {
    code: String(code),
    error: error instanceof Error ? error.message : String(error),
  });
  return adminErrorResponse({ code: "internal_error", message: "Internal error" });
}

/**
 * Builds the whole HTTP app from injected parts; no env, no listening.
 * `close()` stops background work and writes what the request log still holds.
 */
export function createApp(deps: AppDeps) {
  const services = createServices(deps);
  const auth = { store: deps.store, clock: deps.clock, verifier: services.adminVerifier };
  const afterResponse = new AfterResponse(deps.logger);
  const upstream = deps.connect ? createUpstreamClient(deps.connect, { busy: deps.fetch }) : undefined;
  const batches = createBatchSettler(deps, services, upstream);
  const proxy = createProxy(deps, services, batches, upstream, afterResponse);
  // The docs module asks the finished app for its own OpenAPI document.
  let selfFetch: (request: Request) => Promise<Response> = async () => new Response(null, { status: 503 });
  const app = new Elysia({ normalize: false })
    .onError(({ code, error, path }) => answerError(deps.logger, { code, error, path }))
    .use(docsRoutes(deps.config.version, (path): Promise<Response> => selfFetch(new Request(`http://localhost${path}`))))
    .use(healthRoutes(deps.store))
    .use(consoleRoutes())
    .use(metricsRoutes(services.metrics, () => ({ logQueueDepth: services.requestLog.depth }), deps.config.metricsToken))
    .use(proxyRoutes(proxy))
    .group("/api", (api) =>
      api
        .use(providerKeyRoutes(auth, services.providerKeys))
        .use(proxyKeyRoutes(auth, services.proxyKeys, services.gate.ledger, services.reads))
        .use(teamRoutes(auth, services.teams, services.gate.ledger))
        .use(adminTokenRoutes(auth, services.adminTokens))
        .use(auditRoutes(auth, services.reads))
        .use(storedObjectRoutes(auth))
        .use(priceRoutes(auth, services.prices))
        .use(usageRoutes({ ...auth, reads: services.reads, retentionDays: deps.config.logRetentionDays }, services.requestLog))
        .use(trustPolicyRoutes(auth, services.trustPolicies))
        .use(webhookRoutes(auth, services.webhooks))
        .use(oidcExchangeRoutes(services.oidcExchange, proxyKeyViews(deps.store, deps.clock, services.gate.ledger))),
    );
  selfFetch = (request) => app.handle(request);
  services.requestLog.start();
  services.leaseKeeper?.start();
  services.reads.start();
  services.sweeper.start();
  services.alerts.start();
  services.webhookDispatcher.start();
  batches.start();
  return {
    app,
    /** The server's entry: `/v1` goes straight to the proxy, everything else through the admin app. */
    fetch: (request: Request, context?: RequestContext): Response | Promise<Response> =>
      isProxyPath(request.url) ? proxy(request, context) : app.handle(request),
    services,
    close: async (): Promise<void> => {
      services.sweeper.stop();
      // First: attempts in flight are cut short and stay due for the next start.
      await services.webhookDispatcher.stop();
      // Before the upstream client closes: a batch being settled finishes reading its output.
      await batches.stop();
      upstream?.close();
      services.argon2.close();
      services.reads.close();
      afterResponse.run();
      await services.requestLog.stop();
      // After the last settle: what every slice spent is reported, and the rest goes back to the budget.
      await services.leaseKeeper?.stop();
      // After the last settle: alerts still noted become outbox rows, delivered after the next start.
      await services.alerts.stop();
      closeCeilings(deps, services.gate.ledger);
    },
  };
}
