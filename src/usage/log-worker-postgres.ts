/**
 * The request-log worker's PostgreSQL mode: log-worker.ts loads this module
 * when its first message is `open-postgres`, so a worker on SQLite never
 * loads the PostgreSQL driver. Rows arrive as JSON lines and are encoded
 * and sent here, on the worker's own connection, which is what took the
 * serving thread several milliseconds per thousand rows when it did it.
 */
import type { Sql } from "postgres";
import { openPostgres, type PostgresOptions } from "../db/pg/connect.ts";
import { appendLogValues, createPgRequestLog } from "../db/pg/request-log.ts";
import type { LogRowValues } from "../db/request-log-sql.ts";
import type { LogLines, PostgresLogAnswer, PostgresLogRequest } from "./log-worker-protocol.ts";

/** The worker's connection in `pg_stat_activity`. */
export const LOG_WORKER_APPLICATION_NAME = "keyward log worker";

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** How long closing waits for a query under way before cutting the connection: by then the server thread has stopped waiting. */
const CLOSE_TIMEOUT_S = 1;

function parseLines(lines: LogLines): LogRowValues[] {
  return lines ? lines.split("\n").map((line) => JSON.parse(line) as LogRowValues) : [];
}

/**
 * Opens the worker's connection (lazily: the first query connects, so a
 * database that is down shows as failed writes, which the server thread
 * retries) and returns what handles the requests that follow, one at a
 * time. Throws only for options that cannot work at all (a bad URL, a
 * password file that cannot be read).
 */
export function openPostgresLog(options: PostgresOptions, answer: (message: PostgresLogAnswer) => void): (msg: PostgresLogRequest) => Promise<void> {
  // One connection: the worker takes one request at a time. Named apart from the server's pool, so pg_stat_activity tells them apart.
  let sql: Sql | undefined = openPostgres({ ...options, max: 1, applicationName: LOG_WORKER_APPLICATION_NAME });
  const log = createPgRequestLog(sql);
  return async (msg) => {
    switch (msg.type) {
      case "append":
        try {
          if (!sql) throw new Error("the connection is closed");
          await appendLogValues(sql, parseLines(msg.rows));
          answer({ type: "appended", id: msg.id });
        } catch (err) {
          answer({ type: "failed", id: msg.id, error: message(err) });
        }
        return;
      case "prune":
        try {
          if (!sql) throw new Error("the connection is closed");
          answer({ type: "pruned", id: msg.id, removed: await log.pruneBatch(msg.before) });
        } catch (err) {
          answer({ type: "failed", id: msg.id, error: message(err) });
        }
        return;
      case "close": {
        const closing = sql;
        sql = undefined;
        try {
          await closing?.end({ timeout: CLOSE_TIMEOUT_S });
        } catch {
          // Closing is best effort: the worker is terminated next either way.
        }
        answer({ type: "closed", id: msg.id });
        return;
      }
    }
  };
}
