/**
 * In-process keyward for tests: a real SQLite file in a temp dir, a real
 * master key, an adjustable clock, and a root admin token.
 *
 * With `KEYWARD_TEST_BACKEND=postgres` the vault is instead an empty database
 * on the test PostgreSQL server, opened as `--database-url` opens it
 * (./app-store.ts), so the same tests check that both backends keep the
 * storage contract (test/integration/postgres-backend.test.ts runs them so).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp, DEFAULT_APP_CONFIG, type AppConfig } from "../../src/app.ts";
import type { Clock } from "../../src/clock.ts";
import { detectRuntime } from "../../src/runtime/index.ts";
import { silentLogger, type Logger } from "../../src/telemetry/logger.ts";
import { openKeyring } from "../../src/vault/keyring.ts";
import { FRESHNESS, openTestStore } from "./app-store.ts";

export { TEST_BACKEND } from "./app-store.ts";

export class TestClock implements Clock {
  constructor(public current = Date.UTC(2026, 0, 15, 12, 0, 0)) {}
  now(): number {
    return this.current;
  }
  advance(ms: number): void {
    this.current += ms;
  }
}

export interface TestAppOptions {
  clock?: TestClock;
  config?: Partial<AppConfig>;
  fetch?: typeof fetch;
  /** Reuse a data dir (e.g. to reopen a database). */
  dataDir?: string;
  masterKey?: Uint8Array;
  /** The root token of an earlier app on the same `dataDir` (a reopened database has one already). */
  rootToken?: string;
  /** Write the request log from a worker thread, as the server does (await `close()` then). */
  logWorker?: boolean;
  /** The runtime's client-disconnect signal (default: `request.signal`), e.g. to count who asks for it. */
  disconnectSignal?: (request: Request) => AbortSignal | undefined;
  /** Where the app logs (default: nowhere), e.g. to see what a start after a crash reports. */
  logger?: Logger;
  /**
   * PostgreSQL backend only: the database of an earlier app (its `databaseUrl`), to reopen it or to
   * run a second instance on it. A reused `dataDir` reopens its own database without it.
   */
  databaseUrl?: string;
}

export async function createTestApp(options: TestAppOptions = {}) {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "keyward-test-"));
  const runtime = await detectRuntime();
  const opened = await openTestStore(runtime, dataDir, { databaseUrl: options.databaseUrl, logger: options.logger ?? silentLogger });
  const store = opened.store;
  const clock = options.clock ?? new TestClock();
  const masterKey = options.masterKey ?? crypto.getRandomValues(new Uint8Array(32));
  const sealer = await openKeyring(store, masterKey, clock);
  const {
    app,
    services,
    fetch: appFetch,
    close: closeApp,
  } = createApp({
    store,
    sealer,
    clock,
    fetch: options.fetch ?? fetch,
    // The server's upstream client, unless a test scripts fetch itself.
    connect: options.fetch ? undefined : runtime.connect,
    logger: options.logger ?? silentLogger,
    logWorkerPath: options.logWorker ? opened.path : undefined,
    // Admin reads run on their worker thread, as in the server.
    readWorkerPath: opened.path,
    disconnectSignal: options.disconnectSignal,
    config: {
      ...DEFAULT_APP_CONFIG,
      allowHttpUpstreams: true,
      upstreamTimeoutMs: 5_000,
      maxBodyBytes: 1024 * 1024,
      version: "test",
      ...options.config,
    },
  });
  const boot = await services.adminTokens.bootstrap(options.rootToken);
  const rootToken = options.rootToken ?? (boot.ok ? boot.value.generated : undefined);
  if (!boot.ok || rootToken === undefined) throw new Error("Cannot bootstrap test admin token");

  /** JSON request through `app.handle`; `token: null` sends no Authorization. */
  async function call(method: string, path: string, body?: unknown, opts: { token?: string | null; headers?: Record<string, string>; raw?: string } = {}) {
    // Over HTTP a turn of the event loop always separates one request from the next: the
    // bookkeeping of the previous answer (AfterResponse) has run by then. Do the same here.
    await new Promise((resolve) => setImmediate(resolve));
    const headers: Record<string, string> = { ...opts.headers };
    const token = opts.token === undefined ? rootToken : opts.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (body !== undefined || opts.raw !== undefined) headers["content-type"] ??= "application/json";
    const response = await app.handle(
      new Request(`http://localhost${path}`, {
        method,
        headers,
        body: opts.raw ?? (body === undefined ? undefined : JSON.stringify(body)),
      }),
    );
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    // Tests index into arbitrary JSON; a precise type per call site is future work.
    // oxlint-disable-next-line typescript/no-explicit-any
    return { status: response.status, headers: response.headers, text, json: json as any };
  }

  let closing: Promise<void> | undefined;
  return {
    app,
    /** The server's handler (the proxy past Elysia's router), for `withAccessLog` as `src/server.ts` wraps it. */
    fetch: appFetch,
    services,
    store,
    clock,
    dataDir,
    masterKey,
    /** The SQLite file: the vault's, or on PostgreSQL the instance's mirror of it. */
    dbPath: opened.path,
    /** The PostgreSQL database (`KEYWARD_TEST_BACKEND=postgres`), for `databaseUrl` of another app; else undefined. */
    databaseUrl: opened.databaseUrl,
    rootToken,
    call,
    /**
     * Resolves once this app may use whole rate and concurrency limits. On SQLite that is at once; on
     * PostgreSQL a new instance takes no share of them for two freshness bounds (each other instance
     * must lower its own first), so a test of the limits themselves waits out that start.
     */
    async wholeRateLimits(): Promise<void> {
      const shared = store.shared;
      if (!shared) return;
      const limit = 1_000_000;
      const deadline = performance.now() + 10 * FRESHNESS.freshnessMs;
      while (shared.rateShare(limit) < limit) {
        if (performance.now() > deadline)
          throw new Error(`createTestApp: the instance holds ${shared.rateShare(limit)} of ${limit} after ${10 * FRESHNESS.freshnessMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    /** Writes queued request-log rows and spend now instead of waiting for the timer. */
    flushLog(): Promise<void> {
      return services.requestLog.flush();
    },
    /**
     * Await it: the store closes after the app's last write (the request log's, then closing the budget ceilings).
     * The database stays, as a file stays in its data dir, for a test that reopens it; `cleanup` removes both.
     */
    close(): Promise<void> {
      // Once only: a test may close an app to reopen its database, then clean it up.
      closing ??= (async () => {
        try {
          await closeApp();
        } finally {
          await opened.close();
        }
      })();
      return closing;
    },
    async cleanup(): Promise<void> {
      await this.close();
      rmSync(dataDir, { recursive: true, force: true });
      await opened.discard();
    },
  };
}

export type TestApp = Awaited<ReturnType<typeof createTestApp>>;
