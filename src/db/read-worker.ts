/**
 * The worker side of ThreadedReads (reads.ts): a worker entry calls
 * `serveReads(handlers)` to answer reads on a connection of its own,
 * read-only, at low CPU priority.
 */
import { detectRuntime, type SqliteClient } from "../runtime/index.ts";
import { lowerThreadPriority } from "../runtime/thread-priority.ts";
import { createDb } from "./client.ts";
import { runRead, type FromReadWorker, type ReadArgs, type ReadHandlers, type ToReadWorker } from "./reads.ts";
import { createSqliteStore } from "./sqlite-store.ts";
import type { Store } from "./store.ts";

/** The worker global, typed narrowly: keyward type-checks against Bun's DOM-less globals. */
const port = globalThis as unknown as {
  onmessage: ((event: MessageEvent<ToReadWorker>) => void) | null;
  postMessage(message: FromReadWorker, transfer?: ArrayBuffer[]): void;
};

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** The bytes of an answer made as bytes (itself, or its `body`), to move rather than copy. */
function transferable(value: unknown): ArrayBuffer[] {
  const bytes = value !== null && typeof value === "object" && "body" in value ? value.body : value;
  return bytes instanceof Uint8Array ? [bytes.buffer as ArrayBuffer] : [];
}

export function serveReads<H extends ReadHandlers>(handlers: H): void {
  let client: SqliteClient | undefined;
  let store: Store | undefined;

  async function handle(msg: ToReadWorker): Promise<void> {
    switch (msg.type) {
      case "open":
        try {
          // Below the serving thread: a summary or a page reads far longer than a proxied request takes.
          lowerThreadPriority();
          const runtime = await detectRuntime();
          client = runtime.openSqlite(msg.path);
          client.exec(`PRAGMA busy_timeout = ${Math.trunc(msg.busyTimeoutMs)}`);
          // Read-only on both runtimes' adapters: a read that tried to write would fail rather than take the lock.
          client.exec("PRAGMA query_only = ON");
          const opened = client;
          store = createSqliteStore(createDb(opened), () => opened.close());
          port.postMessage({ type: "opened" });
        } catch (err) {
          client?.close();
          client = undefined;
          port.postMessage({ type: "open-failed", error: message(err) });
        }
        return;
      case "read":
        // Not open: the server thread has been told, and runs the reads it sent itself.
        if (!store) return;
        try {
          const value = runRead(handlers, store, msg.name, msg.args as ReadArgs<H, string>);
          // An answer made as bytes moves to the serving thread rather than being copied there.
          port.postMessage({ type: "result", id: msg.id, value }, transferable(value));
        } catch (err) {
          port.postMessage({ type: "failed", id: msg.id, error: message(err) });
        }
        return;
    }
  }

  // Messages are handled strictly in order: `open` awaits the runtime import before any read runs.
  let queue: Promise<void> = Promise.resolve();
  port.onmessage = (event) => {
    queue = queue.then(() => handle(event.data));
  };
}
