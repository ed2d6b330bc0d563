/**
 * Worker entry: writes request-log rows and spend on its own SQLite
 * connection (WAL lets it commit while the server thread reads). Listed as an
 * entrypoint of the compiled binary; see ThreadedRequestLog for the other side.
 */
import { LOG_DELETE_BEFORE, LOG_INSERT, LOG_INSERT_MANY, LOG_INSERT_ROWS, SPEND_UPDATE, spendValues, type LogRowValues } from "../db/request-log-sql.ts";
import type { SpendUpdate } from "../db/store.ts";
import { detectRuntime, type SqliteClient } from "../runtime/index.ts";
import { lowerThreadPriority } from "../runtime/thread-priority.ts";
import type { SqliteStatement } from "../runtime/types.ts";
import type { FromLogWorker, LogLines, ToLogWorker } from "./log-worker-protocol.ts";

/** The worker global, typed narrowly: keyward type-checks against Bun's DOM-less globals. */
const port = globalThis as unknown as {
  onmessage: ((event: MessageEvent<ToLogWorker>) => void) | null;
  postMessage(message: FromLogWorker): void;
};

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

let client: SqliteClient | undefined;
let statements: { insert: SqliteStatement; insertMany: SqliteStatement; setSpend: SqliteStatement; deleteBefore: SqliteStatement } | undefined;
let held: LogRowValues[] = [];
/** Latest spend per key: a later snapshot replaces an earlier one that failed to commit. */
const spend = new Map<string, SpendUpdate>();

function closeDatabase(): void {
  client?.close();
  client = undefined;
  statements = undefined;
}

/** Adds rows and spend to what is held (a failed commit keeps them), then commits it all. */
function commit(lines: LogLines, updates: SpendUpdate[]): void {
  if (lines) for (const line of lines.split("\n")) held.push(JSON.parse(line) as LogRowValues);
  for (const update of updates) spend.set(update.id, update);
  // Reported as a failure, never as "committed": the server thread then keeps its copy of the rows.
  if (!client || !statements) throw new Error("the database is not open");
  if (held.length === 0 && spend.size === 0) return;
  const db = client;
  const { insert, insertMany, setSpend } = statements;
  // Synchronous, as bun:sqlite transactions must be; nothing awaits inside.
  db.transaction(() => {
    let i = 0;
    for (; i + LOG_INSERT_ROWS <= held.length; i += LOG_INSERT_ROWS) insertMany.run(...held.slice(i, i + LOG_INSERT_ROWS).flat());
    for (; i < held.length; i++) insert.run(...(held[i] as LogRowValues));
    for (const update of spend.values()) setSpend.run(...spendValues(update));
  }).immediate();
  held = [];
  spend.clear();
}

async function handle(msg: ToLogWorker): Promise<void> {
  switch (msg.type) {
    case "open": {
      try {
        // Below the serving thread: a commit is a burst of CPU every flush interval.
        lowerThreadPriority();
        const runtime = await detectRuntime();
        client = runtime.openSqlite(msg.path);
        client.exec(`PRAGMA busy_timeout = ${Math.trunc(msg.busyTimeoutMs)}`);
        // Log rows are the relaxed part of keyward's data: losing the last flush interval's rows
        // to a power cut costs a few log lines, while an fsync per commit would cost throughput.
        // Keys and spend limits stay FULL on the server's own connection.
        client.exec("PRAGMA synchronous = NORMAL");
        statements = {
          insert: client.prepare(LOG_INSERT),
          insertMany: client.prepare(LOG_INSERT_MANY),
          setSpend: client.prepare(SPEND_UPDATE),
          deleteBefore: client.prepare(LOG_DELETE_BEFORE),
        };
        port.postMessage({ type: "opened" });
      } catch (err) {
        closeDatabase();
        port.postMessage({ type: "open-failed", error: message(err) });
      }
      return;
    }
    case "commit":
      try {
        commit(msg.rows, msg.spend);
        port.postMessage({ type: "committed", id: msg.id });
      } catch (err) {
        port.postMessage({ type: "commit-failed", id: msg.id, error: message(err), rows: held.length });
      }
      return;
    case "sweep":
      try {
        const result = statements?.deleteBefore.run(msg.before) as { changes?: number | bigint } | undefined;
        const removed = Number(result?.changes ?? 0);
        port.postMessage({ type: "swept", removed });
      } catch (err) {
        port.postMessage({ type: "sweep-failed", error: message(err) });
      }
      return;
    case "stop": {
      let ok = true;
      try {
        commit(msg.rows, msg.spend);
      } catch {
        // The server thread still holds these rows and writes them itself.
        ok = false;
      }
      closeDatabase();
      port.postMessage({ type: "stopped", id: msg.id, ok });
      return;
    }
  }
}

// Messages are handled strictly in order: `open` awaits the runtime import before any row lands.
let queue: Promise<void> = Promise.resolve();
port.onmessage = (event) => {
  queue = queue.then(() => handle(event.data));
};
