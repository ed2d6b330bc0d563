import { DatabaseSync } from "node:sqlite";
import type { Runtime, ServeOptions, ServerHandle, SqliteClient, SqliteStatement } from "./types.ts";

/**
 * Makes `node:sqlite` look like the part of `bun:sqlite` that drizzle's
 * synchronous session uses, so both runtimes share one driver and one set of
 * synchronous transactions (drizzle's async sqlite-proxy cannot hold a
 * transaction open across queries safely).
 */
function openSqlite(path: string): SqliteClient {
  const db = new DatabaseSync(path);
  const bind = (params: unknown[]) => params as never[];
  return {
    exec: (sql) => db.exec(sql),
    prepare(sql): SqliteStatement {
      const rows = db.prepare(sql);
      const arrays = db.prepare(sql);
      arrays.setReturnArrays(true);
      return {
        run: (...params) => rows.run(...bind(params)),
        all: (...params) => rows.all(...bind(params)),
        get: (...params) => rows.get(...bind(params)),
        values: (...params) => arrays.all(...bind(params)) as unknown as unknown[][],
      };
    },
    transaction(fn) {
      const run = (begin: string) => {
        db.exec(begin);
        try {
          fn();
          db.exec("COMMIT");
        } catch (err) {
          db.exec("ROLLBACK");
          throw err;
        }
      };
      return {
        deferred: () => run("BEGIN DEFERRED"),
        immediate: () => run("BEGIN IMMEDIATE"),
        exclusive: () => run("BEGIN EXCLUSIVE"),
      };
    },
    close: () => db.close(),
  };
}

interface DenoServer {
  addr: { port: number; hostname: string };
  shutdown(): Promise<void>;
  finished: Promise<void>;
}
interface DenoNamespace {
  serve(
    options: {
      port: number;
      hostname: string;
      cert?: string;
      key?: string;
      onListen?: () => void;
      onError?: (error: unknown) => Response;
    },
    handler: (request: Request, info: { remoteAddr: { hostname: string } }) => Response | Promise<Response>,
  ): DenoServer;
}

/**
 * No `reloadTls` here: Deno 2.9 can swap certificates only through a second
 * listener on the same port (`reusePort`), which it allows for TLS only with
 * `--unstable-net`. On Deno a renewed certificate needs a restart.
 */
async function serve(options: ServeOptions): Promise<ServerHandle> {
  const deno = (globalThis as unknown as { Deno: DenoNamespace }).Deno;
  const server = deno.serve(
    {
      port: options.port,
      hostname: options.hostname,
      cert: options.tls?.cert,
      key: options.tls?.key,
      onListen: () => {},
      onError: options.onError,
    },
    (request, info) => options.fetch(request, { remoteAddress: info.remoteAddr.hostname }),
  );
  return {
    port: server.addr.port,
    hostname: server.addr.hostname,
    stop: async () => {
      await server.shutdown();
    },
  };
}

export const denoRuntime: Runtime = {
  name: "deno",
  openSqlite,
  serve,
  // Deno fires request.signal after every response, not only on disconnect;
  // there, a disconnect shows as the response body stream being cancelled.
  disconnectSignal: () => undefined,
  superviseIfNeeded: () => undefined,
};
