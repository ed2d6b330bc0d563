import { hostname } from "node:os";
import { join } from "node:path";
import { createApp, DEFAULT_APP_CONFIG, type AppDeps } from "./app.ts";
import { systemClock, type Clock } from "./clock.ts";
import type { ServeConfig } from "./config.ts";
import { openDatabase, type OpenedDatabase } from "./db/open.ts";
import { openSharedDatabase } from "./db/cluster/open.ts";
import { openPostgres, type PostgresOptions } from "./db/pg/connect.ts";
import { createSqliteStore } from "./db/sqlite-store.ts";
import type { Store } from "./db/store.ts";
import type { Runtime, ServerHandle } from "./runtime/index.ts";
import type { ServeOptions } from "./runtime/types.ts";
import { removePidFile, writePidFile } from "./ops/pidfile.ts";
import { readTlsFiles } from "./ops/tls.ts";
import { ProxyError } from "./proxy/errors.ts";
import { accessLogger, withAccessLog } from "./telemetry/access-log.ts";
import type { Logger } from "./telemetry/logger.ts";
import { RefusalLines } from "./telemetry/refusal-lines.ts";
import { routableRequest } from "./telemetry/request-url.ts";
import { openKeyring } from "./vault/keyring.ts";
import { loadMasterKey, MasterKeyError } from "./vault/master-key.ts";
import { VERSION } from "./version.ts";

export interface RunningServer {
  url: string;
  port: number;
  services: ReturnType<typeof createApp>["services"];
  /**
   * Re-reads the TLS certificate and key files and serves new connections
   * with them; connections already open (streams included) go on. False when
   * there is no TLS or the new files are unusable (the old pair stays).
   */
  reloadTls(): Promise<boolean>;
  /** Stops accepting, waits for in-flight requests up to the shutdown timeout, closes the database. */
  stop(): Promise<void>;
}

export interface StartOptions {
  config: ServeConfig;
  runtime: Runtime;
  logger: Logger;
  /** Where the one-time root token banner goes (stdout by default). */
  print?: (text: string) => void;
  clock?: Clock;
  fetch?: typeof fetch;
  /** How current an instance sharing PostgreSQL must prove itself (tests shorten it). */
  cluster?: { freshnessMs: number; pollMs: number };
}

/** A successful read of the change log vouches for an instance's state this long. */
const DEFAULT_FRESHNESS_MS = 5000;
const DEFAULT_POLL_MS = 1000;

function banner(token: string): string {
  const line = "=".repeat(78);
  return [
    line,
    "keyward created a root admin token. It is shown only this once; store it now:",
    "",
    `    ${token}`,
    "",
    "Use it as `Authorization: Bearer <token>` on /api/* or in Swagger UI at /docs.",
    "Set KEYWARD_ADMIN_TOKEN to choose the root token yourself instead.",
    line,
    "",
  ].join("\n");
}

/**
 * The answer to an error nothing else caught: a 500 in OpenAI's error shape,
 * which carries the `code` and `message` the admin API's clients read as well.
 */
function internalError(): Response {
  return new ProxyError("internal_error", "Internal error").toResponse();
}

/** Wires the real parts (SQLite file, master key, clock, fetch) and listens. */
export async function startServer(options: StartOptions): Promise<RunningServer> {
  const { config, runtime, logger } = options;
  const clock = options.clock ?? systemClock;
  const refusalLines = new RefusalLines(accessLogger(logger), logger);
  const access = refusalLines.log;
  const { store, logWorkerPath, logWorkerPostgres, close } = await openStore(options);
  try {
    // Written before anything else so a restore or rotation started meanwhile sees a live server.
    writePidFile(config.dataDir);
    const sealer = await openKeyring(store, unlockMasterKey(config, logger), clock);
    const app = createApp(appDeps(options, { store, sealer, clock, access, logWorkerPath, logWorkerPostgres }));
    await bootstrapRootToken(app.services, options);
    const logged = withAccessLog(app.fetch, { access, trustProxy: config.trustProxy });
    // Before anything reads the path: routing must never depend on the Host header.
    const handle = await listen(options, (request, info) => logged(routableRequest(request), info));
    const url = listeningUrl(config, handle.port);
    logger.info("keyward listening", { url, runtime: runtime.name, version: VERSION, data_dir: config.dataDir });
    return {
      url,
      port: handle.port,
      services: app.services,
      reloadTls: () => reloadTls(options, handle),
      async stop() {
        await drain(handle, config.shutdownTimeoutMs, logger);
        await app.close();
        refusalLines.report();
        await close();
        removePidFile(config.dataDir);
      },
    };
  } catch (err) {
    await close();
    removePidFile(config.dataDir);
    throw err;
  }
}

interface OpenedStore {
  store: Store;
  /** The SQLite file the request-log worker and the read worker open. */
  logWorkerPath: string;
  /** With a shared database: where the request-log worker writes the shared log instead, on a connection of its own. */
  logWorkerPostgres?: PostgresOptions;
  close: () => Promise<void>;
}

/** SQLite in the data dir by default; with `--database-url`, the vault shared through PostgreSQL and mirrored under the data dir. */
async function openStore(options: StartOptions): Promise<OpenedStore> {
  const { config, runtime, logger } = options;
  if (!config.postgres) {
    const opened = openDatabase(runtime, config.dataDir);
    reportMigration(opened, logger);
    const store = createSqliteStore(opened.db, () => opened.client.close());
    return { store, logWorkerPath: opened.path, close: async () => store.close() };
  }
  const sql = openPostgres(config.postgres);
  try {
    const shared = await openSharedDatabase(runtime, {
      sql,
      mirrorDir: join(config.dataDir, "mirror"),
      instanceId: `${hostname()}-${process.pid}-${crypto.randomUUID().slice(0, 8)}`,
      freshnessMs: options.cluster?.freshnessMs ?? DEFAULT_FRESHNESS_MS,
      pollMs: options.cluster?.pollMs ?? DEFAULT_POLL_MS,
      onError: (err) => logger.warn("Cannot read the shared vault's changes from PostgreSQL", { error: describeError(err) }),
    });
    if (shared.applied > 0) logger.info("Database migrated", { database: "postgresql", migrations: shared.applied });
    logger.info("Joined the shared vault", { instance: shared.store.shared.instanceId, version: shared.store.shared.version() });
    return {
      store: shared.store,
      logWorkerPath: shared.mirror.path,
      logWorkerPostgres: config.postgres,
      close: async () => {
        await shared.store.shared.stop();
        shared.mirror.client.close();
        await sql.end({ timeout: 5 });
      },
    };
  } catch (err) {
    await sql.end({ timeout: 1 });
    throw err;
  }
}

function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function reportMigration(opened: OpenedDatabase, logger: Logger): void {
  if (opened.upgradeBackup) logger.info("Backed up the database before migrating it", { backup: opened.upgradeBackup });
  if (opened.applied > 0) logger.info("Database migrated", { path: opened.path, migrations: opened.applied });
}

/** The master key's bytes; a key generated just now is announced, since losing it loses every provider key. */
function unlockMasterKey(config: ServeConfig, logger: Logger): Uint8Array {
  if (config.postgres && !config.masterKey && !config.masterKeyFile) {
    // A key generated here would be this instance's alone: the others could not open what it seals.
    throw new MasterKeyError(
      "Cannot start on a shared database without a master key: set KEYWARD_MASTER_KEY or --master-key-file to the same key on every instance",
    );
  }
  const masterKey = loadMasterKey(config, { createIfMissing: true });
  if (masterKey.generatedAt) {
    logger.warn("Generated a new master key; back it up, provider keys cannot be decrypted without it", {
      path: masterKey.generatedAt,
    });
  }
  return masterKey.bytes;
}

/** The app's parts: those opened above, and the rest from the options and the configuration. */
function appDeps(options: StartOptions, opened: Pick<AppDeps, "store" | "sealer" | "clock" | "access" | "logWorkerPath" | "logWorkerPostgres">): AppDeps {
  const { config, runtime, logger } = options;
  return {
    ...opened,
    fetch: options.fetch ?? fetch,
    // An egress proxy is honoured by fetch (HTTPS_PROXY and friends), not by raw sockets.
    connect: options.fetch || config.egressProxy ? undefined : runtime.connect,
    logger,
    disconnectSignal: (request) => runtime.disconnectSignal(request),
    config: {
      ...DEFAULT_APP_CONFIG,
      allowHttpUpstreams: config.allowHttpUpstreams,
      upstreamTimeoutMs: config.upstreamTimeoutMs,
      maxBodyBytes: config.maxBodyBytes,
      defaultMaxTokens: config.defaultMaxTokens,
      logRetentionDays: config.logRetentionDays,
      expiredKeyRetentionDays: config.expiredKeyRetentionDays,
      metricsToken: config.metricsToken,
      corsOrigins: config.corsOrigins,
      version: VERSION,
    },
  };
}

/** Makes sure a root admin token exists; one generated here is shown once, on `print`. */
async function bootstrapRootToken(services: RunningServer["services"], options: StartOptions): Promise<void> {
  const boot = await services.adminTokens.bootstrap(options.config.adminToken);
  if (!boot.ok) throw new Error(boot.error.message);
  if (boot.value.generated) (options.print ?? ((t) => process.stdout.write(t)))(banner(boot.value.generated));
  if (boot.value.registered) options.logger.info("Registered KEYWARD_ADMIN_TOKEN as root admin token", { id: boot.value.registered });
}

function listen(options: StartOptions, fetch: ServeOptions["fetch"]): Promise<ServerHandle> {
  const { config, logger } = options;
  return options.runtime.serve({
    port: config.port,
    hostname: config.host,
    fetch,
    tls: config.tls ? readTlsFiles(config.tls) : undefined,
    // Lifted per request once the proxy has authenticated it (RequestContext.onAuthenticated).
    idleTimeoutSeconds: config.idleTimeoutSeconds,
    onError: (error) => {
      logger.error("Unhandled server error", { error: error instanceof Error ? error.message : String(error) });
      return internalError();
    },
  });
}

/** Where a client on this host reaches the server: a wildcard address is reached on loopback. */
function listeningUrl(config: ServeConfig, port: number): string {
  const host = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
  return `${config.tls ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

async function reloadTls(options: StartOptions, handle: ServerHandle): Promise<boolean> {
  const { config, runtime, logger } = options;
  if (!config.tls) return false;
  if (!handle.reloadTls) {
    logger.warn("TLS reload is not supported on this runtime; restart keyward to apply a new certificate", { runtime: runtime.name });
    return false;
  }
  try {
    await handle.reloadTls(readTlsFiles(config.tls));
    logger.info("TLS certificate reloaded", { cert: config.tls.certFile });
    return true;
  } catch (err) {
    logger.error("TLS reload failed; still serving the previous certificate", { error: err instanceof Error ? err.message : String(err) });
    return false;
  }
}

/** Lets in-flight requests (streams included) finish for up to `timeoutMs`, then closes what is left. */
async function drain(handle: ServerHandle, timeoutMs: number, logger: Logger): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  const outcome = await Promise.race([handle.stop().then(() => "drained" as const), deadline]);
  clearTimeout(timer);
  if (outcome === "timeout") {
    logger.warn("Shutdown timeout reached; closing remaining connections");
    await handle.stop({ closeActiveConnections: true });
  }
}
