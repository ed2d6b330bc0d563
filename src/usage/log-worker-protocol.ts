/**
 * Messages between the server thread and the request-log worker. The worker
 * owns a second SQLite connection and does every request-log write, so a
 * commit of thousands of rows never stalls the thread that serves requests.
 */
import type { SpendUpdate } from "../db/store.ts";

/**
 * Rows travel as one string of JSON lines, each a `LogRowValues` array: the
 * server thread turns a row into its line when the row is appended, and a
 * flush posts one string. Posting thousands of arrays instead cost the server
 * thread three to four times as much in structured cloning, all at once.
 */
export type LogLines = string;

export type ToLogWorker =
  | { type: "open"; path: string; busyTimeoutMs: number }
  /** Commit these rows and the spend as of now (and anything held from a failed commit) in one transaction. */
  | { type: "commit"; id: number; rows: LogLines; spend: SpendUpdate[] }
  | { type: "sweep"; before: number }
  /** The same as `commit`, then close the connection and answer `stopped`. */
  | { type: "stop"; id: number; rows: LogLines; spend: SpendUpdate[] };

export type FromLogWorker =
  | { type: "opened" }
  | { type: "open-failed"; error: string }
  | { type: "committed"; id: number }
  /** The worker keeps the rows and spend and tries again at the next commit. */
  | { type: "commit-failed"; id: number; error: string; rows: number }
  | { type: "swept"; removed: number }
  | { type: "sweep-failed"; error: string }
  /** `ok: false`: the last commit failed and the server thread must write what it still holds. */
  | { type: "stopped"; id: number; ok: boolean };
