/**
 * The app's stateful parts, built once per app from its injected dependencies:
 * the vault services, limits and ledger, request log, reads, alerting and
 * batch settlement. `createApp` (src/app.ts) composes them into routes.
 */
import { AlertChecks } from "./alerts/checks.ts";
import { WebhookDispatcher } from "./alerts/dispatcher.ts";
import { DEFAULT_ALERT_OPTIONS, type AlertOptions } from "./alerts/options.ts";
import { WebhookService } from "./alerts/webhooks.ts";
import { InlineReads, ThreadedReads } from "./db/reads.ts";
import { ADMIN_READS, type AdminReads } from "./admin/reads.ts";
import { ADMIN_READ_PACE, PacedReads } from "./admin/paced-reads.ts";
import { SharedAdminReads } from "./admin/shared-reads.ts";
import { workerUrl } from "./runtime/worker-url.ts";
import type { Store } from "./db/store.ts";
import type { BudgetLedger } from "./limits/budget.ts";
import { LimitGate } from "./limits/gate.ts";
import { LeaseKeeper } from "./limits/lease-keeper.ts";
import { BatchCharges } from "./usage/batch-charges.ts";
import { BatchSettler } from "./proxy/batch-settler.ts";
import { overrunRecorder } from "./usage/overruns.ts";
import { PriceBook } from "./limits/pricing.ts";
import { KeyCache } from "./proxy/key-cache.ts";
import { Metrics } from "./telemetry/metrics.ts";
import { TalliedRequestLog } from "./usage/refusal-tally.ts";
import { RequestLogWriter, type RequestLog, type RequestLogSink } from "./usage/request-log.ts";
import { SharedRequestLogWriter } from "./usage/shared-request-log.ts";
import { ThreadedRequestLog } from "./usage/threaded-request-log.ts";
import { ThreadedSharedRequestLog } from "./usage/threaded-shared-log.ts";
import type { UpstreamClient } from "./upstream/client.ts";
import { AdminTokenService } from "./vault/admin-tokens.ts";
import { VaultEvents } from "./changes/events.ts";
import { eventsForRemoteRow } from "./changes/remote.ts";
import { OidcExchange } from "./vault/oidc/exchange.ts";
import { ReplayCache } from "./vault/oidc/replay.ts";
import { TrustPolicyService } from "./vault/oidc/trust-policies.ts";
import { OidcTokenVerifier } from "./vault/oidc/verify.ts";
import { ProviderKeyService } from "./vault/provider-keys.ts";
import { ProxyKeyService } from "./vault/proxy-keys.ts";
import { TeamService } from "./vault/teams.ts";
import { ExpiredKeySweeper } from "./vault/sweeper.ts";
import { Argon2Workers } from "./vault/argon2-workers.ts";
import type { SecretAttempt } from "./vault/hashing.ts";
import { SecretVerifier } from "./vault/verifier.ts";
import { DEFAULT_BATCH_SETTLE_INTERVAL_MS, type AppDeps } from "./app.ts";

/** Everything with state, built once per app; routes get what they need from here. */
export function createServices(deps: AppDeps) {
  // First, before the key cache or the ledger reads any proxy key's spend.
  burnOpenCeilings(deps);
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
  // Proxy keys: argon2 at most twice at once on 2 cores, and 5 unverified tries per id and client address per minute.
  const proxyVerifier = new SecretVerifier({ clock: deps.clock, maxConcurrent: 2, maxFailures: 5, failureWindowMs: 60_000, check });
  const keyCache = new KeyCache(
    deps.store,
    events,
    (row) => providerKeys.reveal(row),
    (id) => proxyVerifier.forget(id),
  );
  const metrics = new Metrics();
  const prices = new PriceBook(deps.store, deps.clock);
  followRemoteChanges(deps.store, events, prices);
  const gate = new LimitGate(prices, {
    onReject: (reason) => metrics.rejections.inc({ limit: reason }),
    onOverrun: overrunRecorder({ store: deps.store, clock: deps.clock, metrics, logger: deps.logger }),
    ceilings: deps.store.budgetCeilings,
    leases: deps.store.shared?.leases,
    rateShare: deps.store.shared && ((limit: number) => deps.store.shared?.rateShare(limit) ?? limit),
  });
  events.on((event) => {
    if (event.kind === "team" && event.budgetChanged === true) {
      const team = deps.store.teams.byId(event.id);
      if (team && !gate.ledger.rebaseTeam(team, deps.clock.now())) {
        deps.logger.warn("Cannot replace a team's budget ceiling after a budget change: a crash would take the old one as spent", { team_id: event.id });
      }
      return;
    }
    if (event.kind !== "proxy-key" || event.budgetChanged !== true) return;
    const row = deps.store.proxyKeys.byId(event.id);
    if (row && !gate.ledger.rebase(row, deps.clock.now())) {
      deps.logger.warn("Cannot replace a budget ceiling after a budget change: a crash would take the old one as spent", { key_id: event.id });
    }
  });
  const batchCharges = new BatchCharges({
    store: deps.store,
    clock: deps.clock,
    ledger: gate.ledger,
    onOverrun: overrunRecorder({ store: deps.store, clock: deps.clock, metrics, logger: deps.logger }),
  });
  const requestLog = createRequestLog(deps, gate.ledger);
  const shared = deps.store.shared;
  const leaseKeeper = shared ? new LeaseKeeper({ ledger: gate.ledger, leases: shared.leases, clock: deps.clock, logger: deps.logger }) : undefined;
  const alerting = createAlerting(deps, metrics, gate.ledger);
  const reads = createReads(deps);
  // Minting hashes on the same low-priority argon2 threads as verification.
  const proxyKeys = new ProxyKeyService({ ...common, hash: (secret) => argon2.hash(secret) });
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
    teams: new TeamService(common),
    oidcExchange,
    replay,
    sweeper,
    adminTokens: new AdminTokenService(common),
    metrics,
    prices,
    gate,
    batchCharges,
    requestLog,
    leaseKeeper,
    reads,
    webhooks: alerting.webhooks,
    webhookDispatcher: alerting.dispatcher,
    alerts: alerting.checks,
  };
}

export type Services = ReturnType<typeof createServices>;

/** With a shared database: what other instances change reaches this one's caches and ledger as its own writes do. */
function followRemoteChanges(store: Store, events: VaultEvents, prices: PriceBook): void {
  store.shared?.onRemoteChange((rows) => {
    for (const row of rows) {
      if (row.table === "prices") prices.reload();
      for (const event of eventsForRemoteRow(row)) events.emit(event);
    }
  });
}

/**
 * Budget ceilings still open were granted by a process that did not stop
 * cleanly: what it spent within them may never have reached the file, so it
 * is all taken as spent. A crash then costs a key at most a slice of unspent
 * budget, instead of letting it spend again what it already spent.
 */
function burnOpenCeilings(deps: AppDeps): void {
  let burnt: number;
  let teams: number;
  try {
    burnt = deps.store.budgetCeilings.burnOpen();
    // Teams' too: a team's keys spend its budget together, and it has ceilings of its own.
    teams = deps.store.budgetCeilings.burnOpenTeams();
  } catch (err) {
    // Serving without it could let keys spend twice: refuse to start.
    throw new Error(`Cannot take unclosed budget ceilings as spent: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (burnt > 0 || teams > 0) {
    deps.logger.warn("Took unclosed budget slices as spent after an unclean stop", teams > 0 ? { keys: burnt, teams } : { keys: burnt });
  }
}

/**
 * At a clean stop, once the request log's last flush committed all spend:
 * the ceilings are closed, so the next start takes nothing as spent. With
 * spend left unwritten (a failed flush, a request still in flight) they stay,
 * and the next start burns them, which is the safe side.
 */
export function closeCeilings(deps: AppDeps, ledger: BudgetLedger): void {
  if (!ledger.settled()) {
    deps.logger.warn("Left budget ceilings open: spend is not all written; the next start takes them as spent");
    return;
  }
  try {
    deps.store.budgetCeilings.closeAll();
  } catch (err) {
    deps.logger.warn("Cannot close budget ceilings: the next start takes them as spent", { error: err instanceof Error ? err.message : String(err) });
  }
}

/**
 * With the database's path, request-log rows are written by a worker thread
 * on a connection of its own (falling back to this thread if it fails);
 * without it, here, which is simpler for in-process tests. With a shared
 * database, they go to PostgreSQL's one log for every instance. Either way
 * refusals are tallied in front of it, so every path folds them the same.
 */
function createRequestLog(deps: AppDeps, ledger: BudgetLedger): RequestLog {
  const logOptions = { flushIntervalMs: deps.config.logFlushIntervalMs, retentionDays: deps.config.logRetentionDays };
  const shared = deps.store.shared;
  if (shared) {
    // No spend goes with these rows: in a cluster, budget leases own it.
    const sink: RequestLogSink = deps.logWorkerPostgres
      ? new ThreadedSharedRequestLog(shared.log, deps.clock, deps.logger, { ...logOptions, postgres: deps.logWorkerPostgres })
      : new SharedRequestLogWriter(shared.log, deps.clock, deps.logger, logOptions);
    return new TalliedRequestLog(sink, deps.clock, { flushIntervalMs: logOptions.flushIntervalMs });
  }
  const inlineLog = () => new RequestLogWriter(deps.store, ledger, deps.clock, deps.logger, logOptions);
  const sink: RequestLogSink = deps.logWorkerPath
    ? new ThreadedRequestLog(ledger, deps.clock, deps.logger, {
        ...logOptions,
        path: deps.logWorkerPath,
        busyTimeoutMs: 5_000,
        fallback: inlineLog,
      })
    : inlineLog();
  return new TalliedRequestLog(sink, deps.clock, { flushIntervalMs: logOptions.flushIntervalMs });
}

/**
 * Webhooks and the alerts posted to them. The proxy only notes what it sees
 * (a provider key refused upstream; the ledger's budget crossings, noted as a
 * request settles) in memory; the checks' timer turns that into outbox rows,
 * and the dispatcher's timer delivers them: neither ever runs on a request's path.
 */
function createAlerting(deps: AppDeps, metrics: Metrics, ledger: BudgetLedger) {
  const options: AlertOptions = { ...DEFAULT_ALERT_OPTIONS, ...deps.config.alerts };
  const webhooks = new WebhookService({ store: deps.store, sealer: deps.sealer, clock: deps.clock, allowHttp: deps.config.allowHttpUpstreams });
  const dispatcher = new WebhookDispatcher(
    {
      store: deps.store,
      clock: deps.clock,
      fetch: deps.fetch,
      logger: deps.logger,
      signingKey: (row) => webhooks.signingKey(row),
      onDropped: (reason, count) => metrics.webhookDropped.inc({ reason }, count),
      onAttempt: (result) => metrics.webhookAttempts.inc({ result }),
      userAgent: `keyward/${deps.config.version}`,
      leading: deps.store.shared && (() => deps.store.shared?.isLeader() === true),
    },
    options,
  );
  const checks = new AlertChecks({ store: deps.store, clock: deps.clock, logger: deps.logger }, options);
  ledger.onThreshold((crossing) => checks.noteCrossing(crossing));
  return { webhooks, dispatcher, checks };
}

/**
 * The admin API's long reads: on a worker thread with its own connection
 * when there is a database file (falling back to this thread if it fails),
 * else here. With a shared database, usage and logs are read from the
 * request log on PostgreSQL instead, the one every instance writes. Paced
 * either way (paced-reads.ts).
 */
function createReads(deps: AppDeps): AdminReads {
  const path = deps.readWorkerPath ?? deps.logWorkerPath;
  const local: AdminReads = path
    ? new ThreadedReads({
        handlers: ADMIN_READS,
        path,
        store: deps.store,
        logger: deps.logger,
        // An extra entrypoint of the compiled binary (package.json "build"); a module file from source.
        worker: () => new Worker(workerUrl("admin/read-worker"), { type: "module" }),
      })
    : new InlineReads(ADMIN_READS, deps.store);
  return new PacedReads(deps.store.shared ? new SharedAdminReads(local, deps.store.shared.log, deps.logger) : local, ADMIN_READ_PACE);
}

function createOidcExchange(deps: AppDeps, proxyKeys: ProxyKeyService, replay: ReplayCache): OidcExchange {
  return new OidcExchange({
    store: deps.store,
    verifier: new OidcTokenVerifier({ fetch: deps.fetch, clock: deps.clock, allowHttp: deps.config.allowHttpUpstreams }),
    replay,
    proxyKeys,
  });
}

/** Settles batches' charges when they end; with several instances only the leader asks the providers on its own. */
export function createBatchSettler(deps: AppDeps, services: Services, upstream: UpstreamClient | undefined): BatchSettler {
  return new BatchSettler({
    charges: services.batchCharges,
    cache: services.keyCache,
    gate: services.gate,
    fetch: upstream?.fetch ?? deps.fetch,
    logger: deps.logger,
    upstreamTimeoutMs: deps.config.upstreamTimeoutMs,
    intervalMs: deps.config.batchSettleIntervalMs ?? DEFAULT_BATCH_SETTLE_INTERVAL_MS,
    leading: deps.store.shared && (() => deps.store.shared?.isLeader() === true),
  });
}
