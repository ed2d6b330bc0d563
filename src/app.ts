import { Elysia, ValidationError } from "elysia";
import { adminTokenRoutes } from "./admin/admin-tokens/routes.ts";
import { auditRoutes } from "./admin/audit/routes.ts";
import { docsRoutes } from "./admin/docs/index.ts";
import { oidcExchangeRoutes } from "./admin/oidc/exchange.ts";
import { trustPolicyRoutes } from "./admin/oidc/routes.ts";
import { proxyKeyViews } from "./admin/proxy-keys/views.ts";
import { adminErrorResponse, validationError } from "./admin/error-handler.ts";
import { ApiError } from "./admin/errors.ts";
import { providerKeyRoutes } from "./admin/provider-keys/routes.ts";
import { priceRoutes } from "./admin/prices/routes.ts";
import { proxyKeyRoutes } from "./admin/proxy-keys/routes.ts";
import { usageRoutes } from "./admin/usage/routes.ts";
import type { Clock } from "./clock.ts";
import type { Store } from "./db/store.ts";
import type { BudgetLedger } from "./limits/budget.ts";
import { LimitGate } from "./limits/gate.ts";
import { PriceBook } from "./limits/pricing.ts";
import { ProxyError } from "./proxy/errors.ts";
import { AfterResponse } from "./proxy/after-response.ts";
import { KeyCache } from "./proxy/key-cache.ts";
import { isProxyPath, proxyFetch, proxyRoutes } from "./proxy/routes.ts";
import { healthRoutes } from "./telemetry/health.ts";
import type { AccessLogger } from "./telemetry/access-log.ts";
import type { RequestContext } from "./telemetry/request-context.ts";
import type { Logger } from "./telemetry/logger.ts";
import { Metrics } from "./telemetry/metrics.ts";
import { metricsRoutes } from "./telemetry/metrics-route.ts";
import { RequestLogWriter, type RequestLog } from "./usage/request-log.ts";
import { ThreadedRequestLog } from "./usage/threaded-request-log.ts";
import { createUpstreamClient, type UpstreamClient } from "./upstream/client.ts";
import type { Connect } from "./runtime/sockets.ts";
import { AdminTokenService } from "./vault/admin-tokens.ts";
import { VaultEvents } from "./changes/events.ts";
import { OidcExchange } from "./vault/oidc/exchange.ts";
import { ReplayCache } from "./vault/oidc/replay.ts";
import { TrustPolicyService } from "./vault/oidc/trust-policies.ts";
import { OidcTokenVerifier } from "./vault/oidc/verify.ts";
import { ProviderKeyService } from "./vault/provider-keys.ts";
import { ProxyKeyService } from "./vault/proxy-keys.ts";
import type { Sealer } from "./vault/sealing.ts";
import { ExpiredKeySweeper } from "./vault/sweeper.ts";
import { Argon2Workers } from "./vault/argon2-workers.ts";
import type { SecretAttempt } from "./vault/hashing.ts";
import { SecretVerifier } from "./vault/verifier.ts";

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
}

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
  /** The runtime's client-disconnect signal; defaults to `request.signal` (reliable on Bun). */
  disconnectSignal?: (request: Request) => AbortSignal | undefined;
}

/** Everything with state, built once per app; routes get what they need from here. */
export function createServices(deps: AppDeps) {
  const events = new VaultEvents();
  const common = { store: deps.store, clock: deps.clock, events };
  // One pool of low-priority argon2 threads for admin tokens and proxy keys alike.
  const argon2 = new Argon2Workers(deps.logger);
  const check = (attempt: SecretAttempt) => argon2.verify(attempt);
  const adminVerifier = new SecretVerifier({ clock: deps.clock, maxConcurrent: 2, maxFailures: 10, failureWindowMs: 60_000, check });
  events.on((event) => {
    if (event.kind === "admin-token") adminVerifier.forget(event.id);
  });
  const providerKeys = new ProviderKeyService({
    ...common,
    sealer: deps.sealer,
    allowHttpUpstreams: deps.config.allowHttpUpstreams,
  });
  // Proxy keys: argon2 at most twice at once on 2 cores, and 5 unverified tries per id per minute.
  const proxyVerifier = new SecretVerifier({ clock: deps.clock, maxConcurrent: 2, maxFailures: 5, failureWindowMs: 60_000, check });
  const keyCache = new KeyCache(
    deps.store,
    events,
    (row) => providerKeys.reveal(row),
    (id) => proxyVerifier.forget(id),
  );
  const metrics = new Metrics();
  const prices = new PriceBook(deps.store, deps.clock);
  const gate = new LimitGate(prices, { onReject: (reason) => metrics.rejections.inc({ limit: reason }) });
  const requestLog = createRequestLog(deps, gate.ledger);
  const proxyKeys = new ProxyKeyService(common);
  const replay = new ReplayCache(deps.clock);
  const oidcExchange = createOidcExchange(deps, proxyKeys, replay);
  const sweeper = new ExpiredKeySweeper(
    { ...common, logger: deps.logger, forget: (id) => proxyVerifier.forget(id) },
    { retentionDays: deps.config.expiredKeyRetentionDays, intervalMs: deps.config.keySweepIntervalMs },
  );
  return {
    events,
    argon2,
    adminVerifier,
    proxyVerifier,
    keyCache,
    providerKeys,
    proxyKeys,
    trustPolicies: new TrustPolicyService({ store: deps.store, clock: deps.clock, allowHttpIssuers: deps.config.allowHttpUpstreams }),
    oidcExchange,
    replay,
    sweeper,
    adminTokens: new AdminTokenService(common),
    metrics,
    prices,
    gate,
    requestLog,
  };
}

export type Services = ReturnType<typeof createServices>;

/**
 * With the database's path, request-log rows are written by a worker thread
 * on a connection of its own (falling back to this thread if it fails);
 * without it, here, which is simpler for in-process tests.
 */
function createRequestLog(deps: AppDeps, ledger: BudgetLedger): RequestLog {
  const logOptions = { flushIntervalMs: deps.config.logFlushIntervalMs, retentionDays: deps.config.logRetentionDays };
  const inlineLog = () => new RequestLogWriter(deps.store, ledger, deps.clock, deps.logger, logOptions);
  if (!deps.logWorkerPath) return inlineLog();
  return new ThreadedRequestLog(ledger, deps.clock, deps.logger, {
    ...logOptions,
    path: deps.logWorkerPath,
    busyTimeoutMs: 5_000,
    fallback: inlineLog,
  });
}

function createOidcExchange(deps: AppDeps, proxyKeys: ProxyKeyService, replay: ReplayCache): OidcExchange {
  return new OidcExchange({
    store: deps.store,
    verifier: new OidcTokenVerifier({ fetch: deps.fetch, clock: deps.clock, allowHttp: deps.config.allowHttpUpstreams }),
    replay,
    proxyKeys,
  });
}

/** The `/v1` handler, on the services it shares with the admin API. */
function createProxy(deps: AppDeps, services: Services, upstream: UpstreamClient | undefined, afterResponse: AfterResponse) {
  return proxyFetch({
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
  const proxy = createProxy(deps, services, upstream, afterResponse);
  // The docs module asks the finished app for its own OpenAPI document.
  let selfFetch: (request: Request) => Promise<Response> = async () => new Response(null, { status: 503 });
  const app = new Elysia({ normalize: false })
    .onError(({ code, error, path }) => answerError(deps.logger, { code, error, path }))
    .use(docsRoutes(deps.config.version, (path): Promise<Response> => selfFetch(new Request(`http://localhost${path}`))))
    .use(healthRoutes(deps.store))
    .use(metricsRoutes(services.metrics, () => ({ logQueueDepth: services.requestLog.depth }), deps.config.metricsToken))
    .use(proxyRoutes(proxy))
    .group("/api", (api) =>
      api
        .use(providerKeyRoutes(auth, services.providerKeys))
        .use(proxyKeyRoutes(auth, services.proxyKeys, services.gate.ledger))
        .use(adminTokenRoutes(auth, services.adminTokens))
        .use(auditRoutes(auth))
        .use(priceRoutes(auth, services.prices))
        .use(usageRoutes(auth, services.requestLog))
        .use(trustPolicyRoutes(auth, services.trustPolicies))
        .use(oidcExchangeRoutes(services.oidcExchange, proxyKeyViews(deps.store, deps.clock, services.gate.ledger))),
    );
  selfFetch = (request) => app.handle(request);
  services.requestLog.start();
  services.sweeper.start();
  return {
    app,
    /** The server's entry: `/v1` goes straight to the proxy, everything else through the admin app. */
    fetch: (request: Request, context?: RequestContext): Response | Promise<Response> =>
      isProxyPath(request.url) ? proxy(request, context) : app.handle(request),
    services,
    close: async (): Promise<void> => {
      services.sweeper.stop();
      upstream?.close();
      services.argon2.close();
      afterResponse.run();
      await services.requestLog.stop();
    },
  };
}
