import { Database } from "bun:sqlite";
import { superviseIfNeeded } from "./supervise.ts";
import type { Runtime, ServeOptions, ServerHandle, SqliteClient } from "./types.ts";

function openSqlite(path: string): SqliteClient {
  // `strict` lets drizzle bind parameters without `$` prefixes.
  return new Database(path, { create: true, strict: true }) as unknown as SqliteClient;
}

async function serve(options: ServeOptions): Promise<ServerHandle> {
  const server = Bun.serve({
    port: options.port,
    hostname: options.hostname,
    // Bun's maximum; streams opt out per request below.
    idleTimeout: 255,
    tls: options.tls,
    fetch(request, srv) {
      if (options.keepQuietConnection?.(request)) srv.timeout(request, 0);
      return options.fetch(request, { remoteAddress: srv.requestIP(request)?.address });
    },
  });
  return {
    port: server.port ?? options.port,
    hostname: server.hostname ?? options.hostname,
    stop: (force = false) => server.stop(force),
  };
}

export const bunRuntime: Runtime = {
  name: "bun",
  openSqlite,
  serve,
  // On Bun, request.signal aborts within milliseconds of a client disconnect.
  disconnectSignal: (request) => request.signal,
  superviseIfNeeded,
};
