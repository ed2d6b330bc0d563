/**
 * Long reads answered on a worker thread with a connection of its own: a
 * query over millions of rows used to hold the thread that serves proxied
 * requests for seconds. What the reads are is the caller's (`ReadHandlers`,
 * functions of a store: the admin API's in src/admin/reads.ts, which also
 * turn the rows into the answer's JSON there); this module runs them on the
 * worker (`serveReads` in read-worker.ts, on a read-only connection at low
 * CPU priority), or on the serving thread where the worker cannot run. WAL
 * lets the worker read while others write, and it sees every commit made
 * before a read was asked for.
 */
import type { Logger } from "../telemetry/logger.ts";
import type { Store } from "./store.ts";

/** Reads by name, each a synchronous function of a store; arguments and results cross threads by structured clone. */
export type ReadHandlers = Record<string, (store: Store, ...args: never[]) => unknown>;

export type ReadArgs<H extends ReadHandlers, N extends keyof H> = Parameters<H[N]> extends [Store, ...infer A] ? A : never;
export type ReadResult<H extends ReadHandlers, N extends keyof H> = ReturnType<H[N]>;

export function runRead<H extends ReadHandlers, N extends keyof H & string>(handlers: H, store: Store, name: N, args: ReadArgs<H, N>): ReadResult<H, N> {
  const handler = handlers[name];
  if (!handler) throw new Error(`Cannot read ${name}: no such read`);
  // One signature per name; TypeScript cannot narrow the union of them by `N`, the lookup above guarantees it.
  return (handler as unknown as (store: Store, ...args: ReadArgs<H, N>) => ReadResult<H, N>)(store, ...args);
}

export type ToReadWorker = { type: "open"; path: string; busyTimeoutMs: number } | { type: "read"; id: number; name: string; args: unknown[] };

export type FromReadWorker =
  { type: "opened" } | { type: "open-failed"; error: string } | { type: "result"; id: number; value: unknown } | { type: "failed"; id: number; error: string };

/** The long reads, asynchronous wherever they run. */
export interface Reads<H extends ReadHandlers> {
  /** Gets ready to read: a worker is started now rather than at the first read. */
  start(): void;
  read<N extends keyof H & string>(name: N, ...args: ReadArgs<H, N>): Promise<ReadResult<H, N>>;
  close(): void;
}

/** On the serving thread: for apps without a database file, and where the worker cannot run. */
export class InlineReads<H extends ReadHandlers> implements Reads<H> {
  constructor(
    private readonly handlers: H,
    private readonly store: Store,
  ) {}

  start(): void {}

  read<N extends keyof H & string>(name: N, ...args: ReadArgs<H, N>): Promise<ReadResult<H, N>> {
    try {
      return Promise.resolve(runRead(this.handlers, this.store, name, args));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  close(): void {}
}

export interface ThreadedReadsOptions<H extends ReadHandlers> {
  /** The same handlers the worker's entry serves, for reads once the worker cannot run. */
  handlers: H;
  /** The database file; the worker opens its own connection to it. */
  path: string;
  /** The serving thread's store, for those reads. */
  store: Store;
  logger: Logger;
  /** Starts the worker whose entry calls `serveReads(handlers)`. */
  worker: () => Worker;
  busyTimeoutMs?: number;
}

interface Pending {
  name: string;
  args: unknown[];
  resolve: (value: never) => void;
  reject: (err: Error) => void;
}

/**
 * Reads on one worker thread, one at a time in the order asked, started by
 * `start()` at server start (starting a worker holds the calling thread for
 * a while, which the first read's caller would otherwise wait through). A
 * worker that cannot start, cannot open the database or dies is logged once,
 * and from then on (its unanswered reads included) reads run on the serving
 * thread: slower for the proxy, never lost.
 */
export class ThreadedReads<H extends ReadHandlers> implements Reads<H> {
  private worker: Worker | undefined;
  private inline: InlineReads<H> | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  /** Reads the worker answered; exposed for tests, like the argon2 pool's `workerRuns`. */
  workerReads = 0;

  constructor(private readonly options: ThreadedReadsOptions<H>) {}

  start(): void {
    if (!this.worker && !this.inline && !this.closed) this.spawn();
  }

  read<N extends keyof H & string>(name: N, ...args: ReadArgs<H, N>): Promise<ReadResult<H, N>> {
    if (this.inline || this.closed) return (this.inline ?? this.fallbackReads()).read(name, ...args);
    const worker = this.worker ?? this.spawn();
    if (!worker) return this.read(name, ...args);
    return new Promise<ReadResult<H, N>>((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { name, args, resolve, reject });
      worker.postMessage({ type: "read", id, name, args } satisfies ToReadWorker);
    });
  }

  close(): void {
    this.closed = true;
    this.worker?.terminate();
    this.worker = undefined;
    // Nothing is left waiting: what the worker had not answered runs here.
    this.handBack();
  }

  private fallbackReads(): InlineReads<H> {
    return new InlineReads(this.options.handlers, this.options.store);
  }

  private spawn(): Worker | undefined {
    try {
      const worker = this.options.worker();
      worker.onmessage = (event: MessageEvent<FromReadWorker>) => this.receive(event.data);
      worker.onerror = (event) => {
        // Handled here: without this, an error in the worker would end the whole process.
        event.preventDefault();
        this.fallBack(`read worker failed: ${event.message}`);
      };
      // An idle reader must not keep a process alive (Bun; Deno's Worker has no unref).
      (worker as Worker & { unref?: () => void }).unref?.();
      worker.postMessage({ type: "open", path: this.options.path, busyTimeoutMs: this.options.busyTimeoutMs ?? 5_000 } satisfies ToReadWorker);
      this.worker = worker;
      return worker;
    } catch (err) {
      this.fallBack(`cannot start the read worker: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    }
  }

  private receive(message: FromReadWorker): void {
    switch (message.type) {
      case "opened":
        return;
      case "open-failed":
        return this.fallBack(`read worker cannot open the database: ${message.error}`);
      case "result": {
        const pending = this.pending.get(message.id);
        this.pending.delete(message.id);
        this.workerReads++;
        pending?.resolve(message.value as never);
        return;
      }
      case "failed": {
        const pending = this.pending.get(message.id);
        this.pending.delete(message.id);
        pending?.reject(new Error(message.error));
        return;
      }
    }
  }

  private fallBack(reason: string): void {
    if (this.inline) return;
    this.options.logger.error("Admin reads move to the server thread", { reason });
    this.worker?.terminate();
    this.worker = undefined;
    this.inline = this.fallbackReads();
    this.handBack();
  }

  private handBack(): void {
    const inline = this.inline ?? this.fallbackReads();
    for (const [id, pending] of this.pending) {
      this.pending.delete(id);
      // The name and arguments came from a typed `read`; they are handed on as they were.
      (inline as unknown as { read(name: string, ...args: unknown[]): Promise<never> })
        .read(pending.name, ...pending.args)
        .then(pending.resolve, pending.reject);
    }
  }
}
