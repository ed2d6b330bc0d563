/**
 * The only seam between keyward and its JavaScript runtime: serving HTTP,
 * opening SQLite and, where the runtime has them, client sockets for the
 * upstream client. Everything else is plain Web-standard TypeScript.
 */

import type { Connect } from "./sockets.ts";

/** The subset of `bun:sqlite`'s statement that drizzle's bun-sqlite session calls. */
export interface SqliteStatement {
  run(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  get(...params: unknown[]): unknown;
  values(...params: unknown[]): unknown[][];
}

/** The subset of `bun:sqlite`'s `Database` that drizzle's bun-sqlite session calls. */
export interface SqliteClient {
  exec(sql: string): void;
  prepare(sql: string): SqliteStatement;
  transaction(fn: () => void): {
    deferred(): void;
    immediate(): void;
    exclusive(): void;
  };
  /** Releases the connection at once, statements included (the last one to close checkpoints and removes the WAL). */
  close(): void;
}

/** PEM text of a certificate (chain) and its private key. */
export interface TlsPem {
  cert: string;
  key: string;
}

/** What the server knows of a request besides the request itself. */
export interface ServeInfo {
  remoteAddress?: string;
  /**
   * Lifts the server's idle timeout for this request's connection, where the
   * runtime has one (Bun): for a stream that may be quiet for long. Until it
   * is called, a connection that stays silent (a half-sent request) is closed.
   */
  keepQuiet?: () => void;
}

export interface ServeOptions {
  port: number;
  hostname: string;
  fetch(request: Request, info: ServeInfo): Response | Promise<Response>;
  /** Seconds a connection may stay silent before the server closes it (Bun; 1-255, default 255). */
  idleTimeoutSeconds?: number;
  /** Serve HTTPS with this certificate. */
  tls?: TlsPem;
  /**
   * The answer when `fetch` throws or rejects. Without it each runtime has its
   * own default, and Bun's (outside NODE_ENV=production) is an HTML page with
   * the error's message and stack.
   */
  onError?: (error: unknown) => Response;
}

export interface ServerHandle {
  readonly port: number;
  readonly hostname: string;
  /** Stops accepting; resolves when in-flight requests finish, or at once when told to close active connections. */
  stop(options?: { closeActiveConnections: boolean }): Promise<void>;
  /** Serves new connections with another certificate; open connections keep theirs. Only when started with `tls`. */
  reloadTls?(tls: TlsPem): Promise<void>;
}

export interface Runtime {
  readonly name: "bun" | "deno";
  openSqlite(path: string): SqliteClient;
  serve(options: ServeOptions): Promise<ServerHandle>;
  /** A signal that fires when the client of `request` disconnects, where the runtime has a reliable one. */
  disconnectSignal(request: Request): AbortSignal | undefined;
  /** TCP/TLS sockets for keyward's own upstream client, where the runtime has them (Bun). */
  connect?: Connect;
  /**
   * Runs the server in a child process when the runtime needs settings that
   * only apply at process start; resolves with the child's exit code, or
   * `undefined` when this process should serve itself.
   */
  superviseIfNeeded(env: Record<string, string | undefined>, args: string[]): Promise<number> | undefined;
}
