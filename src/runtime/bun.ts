import { Database } from "bun:sqlite";
import { bunConnect } from "./bun-connect.ts";
import { superviseIfNeeded } from "./supervise.ts";
import type { Runtime, ServeOptions, ServerHandle, SqliteClient, TlsPem } from "./types.ts";

function openSqlite(path: string): SqliteClient {
  // `strict` lets drizzle bind parameters without `$` prefixes.
  const db = new Database(path, { create: true, strict: true });
  const close = db.close.bind(db);
  // Release the connection now, finalizing its statements. Plain close() leaves it open until
  // every prepared statement is collected (sqlite3_close_v2), so a connection closed by a worker
  // thread could stay open for good, and the WAL would outlive the process.
  db.close = () => {
    try {
      close(true);
    } catch {
      // Throws only while a statement is mid-step, which neither shutdown nor a worker between messages is.
      close(false);
    }
  };
  return db;
}

async function serve(options: ServeOptions): Promise<ServerHandle> {
  const listen = (port: number, tls: TlsPem | undefined) =>
    Bun.serve({
      port,
      hostname: options.hostname,
      // Bun's maximum; streams opt out per request below.
      idleTimeout: 255,
      tls,
      // Bun 1.4.5's server.reload() keeps the first certificate, so a renewed one is applied by
      // binding a second listener to the same port (SO_REUSEPORT) and draining the first. Only
      // with TLS: a plain server keeps failing loudly when its port is taken.
      reusePort: tls !== undefined,
      // Bun's development mode (the default unless NODE_ENV=production) answers an uncaught error with a
      // page showing its message and stack; a vault must never show either.
      development: false,
      error: options.onError,
      fetch(request, srv) {
        if (options.keepQuietConnection?.(request)) srv.timeout(request, 0);
        return options.fetch(request, { remoteAddress: srv.requestIP(request)?.address });
      },
    });
  let current = listen(options.port, options.tls);
  const port = current.port ?? options.port;
  // Listeners replaced by a TLS reload that still finish their open connections.
  const draining = new Set<ReturnType<typeof listen>>();
  return {
    port,
    hostname: current.hostname ?? options.hostname,
    async stop(options) {
      const closeActiveConnections = options?.closeActiveConnections ?? false;
      await Promise.all([current, ...draining].map((server) => server.stop(closeActiveConnections)));
    },
    async reloadTls(tls) {
      const previous = current;
      // Throws (bad PEM, mismatched key) before anything changes.
      current = listen(port, tls);
      draining.add(previous);
      void previous.stop(false).finally(() => draining.delete(previous));
    },
  };
}

export const bunRuntime: Runtime = {
  name: "bun",
  openSqlite,
  serve,
  // On Bun, request.signal aborts within milliseconds of a client disconnect.
  disconnectSignal: (request) => request.signal,
  connect: bunConnect,
  superviseIfNeeded,
};
