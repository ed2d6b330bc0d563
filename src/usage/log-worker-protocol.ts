/**
 * Messages between the server thread and the request-log worker. The worker
 * owns a connection of its own and does every request-log write, so a
 * commit of thousands of rows never stalls the thread that serves requests.
 * It has two modes, chosen by the first message: SQLite (`open`), where it
 * writes rows and spend to the database file, and PostgreSQL
 * (`open-postgres`), where it writes rows to the log every instance shares.
 */
import { workerUrl } from "../runtime/worker-url.ts";
import type { PostgresOptions } from "../db/pg/connect.ts";
import type { SpendUpdate } from "../db/store.ts";

/**
 * Rows travel as one string of JSON lines, each a `LogRowValues` array: the
 * server thread turns a row into its line when the row is appended, and a
 * flush posts one string. Posting thousands of arrays instead cost the server
 * thread three to four times as much in structured cloning, all at once.
 */
export type LogLines = string;

export type ToSqliteLogWorker =
  | { type: "open"; path: string; busyTimeoutMs: number }
  /** Commit these rows and the spend as of now (and anything held from a failed commit) in one transaction. */
  | { type: "commit"; id: number; rows: LogLines; spend: SpendUpdate[] }
  | { type: "sweep"; before: number }
  /** The same as `commit`, then close the connection and answer `stopped`. */
  | { type: "stop"; id: number; rows: LogLines; spend: SpendUpdate[] };

/**
 * PostgreSQL mode keeps nothing: a write that fails is reported and
 * forgotten, and the server thread, which keeps every row until the worker
 * says it is written, sends it again. The options carry the password (or
 * its file), so no message is ever logged whole.
 */
export type ToPostgresLogWorker =
  | { type: "open-postgres"; postgres: PostgresOptions }
  /** Append these rows and their rollups in one transaction; answered `appended` or `failed`. */
  | { type: "append"; id: number; rows: LogLines }
  /** Delete one batch of rows older than `before`; answered `pruned` or `failed`. */
  | { type: "prune"; id: number; before: number }
  /** Close the connection; answered `closed`. */
  | { type: "close"; id: number };

export type ToLogWorker = ToSqliteLogWorker | ToPostgresLogWorker;

/** The PostgreSQL requests that follow `open-postgres`. */
export type PostgresLogRequest = Exclude<ToPostgresLogWorker, { type: "open-postgres" }>;

export type FromSqliteLogWorker =
  | { type: "opened" }
  | { type: "open-failed"; error: string }
  | { type: "committed"; id: number }
  /** The worker keeps the rows and spend and tries again at the next commit. */
  | { type: "commit-failed"; id: number; error: string; rows: number }
  | { type: "swept"; removed: number }
  | { type: "sweep-failed"; error: string }
  /** `ok: false`: the last commit failed and the server thread must write what it still holds. */
  | { type: "stopped"; id: number; ok: boolean };

/** What the worker answers a PostgreSQL request `id`. */
export type PostgresLogAnswer =
  | { type: "appended"; id: number }
  | { type: "pruned"; id: number; removed: number }
  | { type: "failed"; id: number; error: string }
  | { type: "closed"; id: number };

/** What the worker sends in PostgreSQL mode. */
export type FromPostgresLogWorker = { type: "opened" } | { type: "open-failed"; error: string } | PostgresLogAnswer;

export type FromLogWorker = FromSqliteLogWorker | FromPostgresLogWorker;

/** Starts the log worker: an extra entrypoint of the compiled binary (package.json "build"), a module file from source; its first message picks SQLite or PostgreSQL. */
export function startLogWorker(): Worker {
  return new Worker(workerUrl("usage/log-worker"), { type: "module" });
}
