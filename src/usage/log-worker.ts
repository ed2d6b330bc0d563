/**
 * Worker entry: writes request-log rows and spend on its own SQLite
 * connection (WAL lets it commit while the server thread reads), or, when
 * its first message is `open-postgres`, request-log rows on a PostgreSQL
 * connection of its own (./log-worker-postgres.ts). One entry for both, so
 * the compiled binary needs no second one. Listed as an entrypoint of the
 * compiled binary; see ThreadedRequestLog and ThreadedSharedRequestLog for
 * the other side.
 */
import {
  prepareLogWrites,
  pruneLogBatch,
  SPEND_UPDATE,
  spendValues,
  TEAM_SPEND_UPDATE,
  vacuumStep,
  writeLogRows,
  type LogRowValues,
  type LogWriteStatements,
} from "../db/request-log-sql.ts";
import type { SpendUpdate } from "../db/store.ts";
import { detectRuntime, type SqliteClient } from "../runtime/index.ts";
import { lowerThreadPriority } from "../runtime/thread-priority.ts";
import type { SqliteStatement } from "../runtime/types.ts";
import type { FromLogWorker, LogLines, PostgresLogRequest, ToLogWorker } from "./log-worker-protocol.ts";

/** The worker global, typed narrowly: keyward type-checks against Bun's DOM-less globals. */
const port = globalThis as unknown as {
  onmessage: ((event: MessageEvent<ToLogWorker>) => void) | null;
  postMessage(message: FromLogWorker): void;
};

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

let client: SqliteClient | undefined;
let statements: (LogWriteStatements & { setSpend: SqliteStatement; setTeamSpend: SqliteStatement }) | undefined;
let held: LogRowValues[] = [];
/** Latest spend per key and team: a later snapshot replaces an earlier one that failed to commit. */
const spend = new Map<string, SpendUpdate>();
/** Keys and teams apart in `spend`: their ids come from different tables. */
const spendKey = (update: SpendUpdate) => (update.team ? `team ${update.id}` : update.id);

/** PostgreSQL mode, once `open-postgres` has opened it: the requests that follow go here. */
let postgres: ((msg: PostgresLogRequest) => Promise<void>) | undefined;

function closeDatabase(): void {
  client?.close();
  client = undefined;
  statements = undefined;
}

/** Adds rows and spend to what is held (a failed commit keeps them), then commits it all. */
function commit(lines: LogLines, updates: SpendUpdate[]): void {
  if (lines) for (const line of lines.split("\n")) held.push(JSON.parse(line) as LogRowValues);
  for (const update of updates) spend.set(spendKey(update), update);
  // Reported as a failure, never as "committed": the server thread then keeps its copy of the rows.
  if (!client || !statements) throw new Error("the database is not open");
  if (held.length === 0 && spend.size === 0) return;
  const db = client;
  const writes = statements;
  // Synchronous, as bun:sqlite transactions must be; nothing awaits inside. Rows, their rollups and spend commit together.
  db.transaction(() => {
    writeLogRows(writes, held);
    for (const update of spend.values()) (update.team ? writes.setTeamSpend : writes.setSpend).run(...spendValues(update));
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
        statements = { ...prepareLogWrites(client), setSpend: client.prepare(SPEND_UPDATE), setTeamSpend: client.prepare(TEAM_SPEND_UPDATE) };
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
      // One sweep at a time; a later one (an hour on) finds what an unfinished one left.
      if (!pruning) {
        pruning = { before: msg.before, removed: 0 };
        schedulePrune();
      }
      return;
    case "open-postgres":
      try {
        lowerThreadPriority();
        // Loaded here, not above: a worker on SQLite never loads the PostgreSQL driver.
        const { openPostgresLog } = await import("./log-worker-postgres.ts");
        postgres = openPostgresLog(msg.postgres, (answer) => port.postMessage(answer));
        port.postMessage({ type: "opened" });
      } catch (err) {
        port.postMessage({ type: "open-failed", error: message(err) });
      }
      return;
    case "append":
    case "prune":
    case "close":
      if (postgres) return postgres(msg);
      // Answered all the same, so that nothing on the server thread waits for it.
      if (msg.type === "close") port.postMessage({ type: "closed", id: msg.id });
      else port.postMessage({ type: "failed", id: msg.id, error: "the database is not open" });
      return;
    case "stop": {
      pruning = undefined;
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

/**
 * Retention pruning in steps: one small batch of rows (or of vacuum) per
 * step, each its own short transaction, queued behind any commit that
 * arrived meanwhile. Deleting months of rows at once held the write lock for
 * seconds, and the serving thread's own writes (keys, budget ceilings) waited
 * for it; a step holds it for milliseconds (test/bench/README.md).
 */
let pruning: { before: number; removed: number; vacuuming?: boolean } | undefined;
/** Between steps, so writes from the serving thread get the lock in between. */
const PRUNE_PAUSE_MS = 20;

function schedulePrune(): void {
  setTimeout(() => enqueue(pruneStep), PRUNE_PAUSE_MS);
}

function pruneStep(): void {
  const job = pruning;
  if (!job) return;
  try {
    if (!client) throw new Error("the database is not open");
    if (!job.vacuuming) {
      const removed = pruneLogBatch(client, job.before);
      job.removed += removed;
      if (removed > 0) return schedulePrune();
      job.vacuuming = true;
    }
    if (vacuumStep(client)) return schedulePrune();
    pruning = undefined;
    port.postMessage({ type: "swept", removed: job.removed });
  } catch (err) {
    pruning = undefined;
    port.postMessage({ type: "sweep-failed", error: message(err) });
  }
}

// Messages are handled strictly in order: `open` awaits the runtime import before any row lands.
let queue: Promise<void> = Promise.resolve();
function enqueue(step: () => void | Promise<void>): void {
  queue = queue.then(step);
}
port.onmessage = (event) => enqueue(() => handle(event.data));
