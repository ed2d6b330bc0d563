/**
 * The shared request log (PostgreSQL) written from the log worker thread,
 * on a connection of the worker's own. Encoding a thousand rows for
 * PostgreSQL held the serving thread for several milliseconds every flush
 * (test/bench/README.md, scenario 9); here the serving thread only turns
 * each row into a JSON line as it is appended, as for SQLite
 * (ThreadedRequestLog), and posts up to a batch of lines in one message.
 *
 * The queue, its bound, one write at a time, retries and what they log are
 * `BatchedLogWriter`'s, as for the writer on this thread: rows stay in its
 * queue until the worker says they are written. The worker keeps nothing,
 * so a failed write is sent again by the queue's next flush, and a worker
 * that cannot start or dies loses nothing: the request it had not answered,
 * and every one after, is done on this thread with the server's own pool.
 */
import type { Clock } from "../clock.ts";
import type { PostgresOptions } from "../db/pg/connect.ts";
import { logRowValues, rowFromValues, type LogRowValues } from "../db/request-log-sql.ts";
import type { SharedRequestLog } from "../db/store.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { LoggedRequest } from "./error-codes.ts";
import { startLogWorker, type FromPostgresLogWorker, type PostgresLogAnswer, type PostgresLogRequest, type ToLogWorker } from "./log-worker-protocol.ts";
import type { RequestLogSink } from "./request-log.ts";
import { BatchedLogWriter, type LogBatchTarget, type SharedRequestLogOptions } from "./shared-request-log.ts";

export interface ThreadedSharedRequestLogOptions extends SharedRequestLogOptions {
  /** The server's own PostgreSQL options: the worker opens one connection with them. */
  postgres: PostgresOptions;
  /** The worker to talk to; a test may hand in its own. */
  worker?: () => Worker;
  /** How long stopping waits for the worker to close its connection before ending the thread (2 s). */
  closeTimeoutMs?: number;
}

const CLOSE_TIMEOUT_MS = 2_000;

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));
const decode = (line: string) => rowFromValues(JSON.parse(line) as LogRowValues);

/** A request posted to the worker and not answered yet. */
interface Pending {
  answer(message: PostgresLogAnswer): void;
  /** Does the same on this thread: the worker went before answering. */
  redo(): void;
}

/** The batches' target while the worker runs; this thread's pool once it cannot. */
class LogWorkerLink implements LogBatchTarget<string> {
  private worker: Worker | undefined;
  private fellBack = false;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(
    private readonly log: SharedRequestLog,
    private readonly logger: Logger,
    private readonly options: ThreadedSharedRequestLogOptions,
  ) {}

  encode(row: LoggedRequest): string {
    return JSON.stringify(logRowValues(row));
  }

  appendMany(lines: string[]): Promise<void> {
    return this.request(
      (id) => ({ type: "append", id, rows: lines.join("\n") }),
      () => this.log.appendMany(lines.map(decode)),
      () => undefined,
    );
  }

  pruneBatch(at: number): Promise<number> {
    return this.request(
      (id) => ({ type: "prune", id, before: at }),
      () => this.log.pruneBatch(at),
      (answer) => (answer.type === "pruned" ? answer.removed : 0),
    );
  }

  start(): void {
    if (this.worker || this.fellBack) return;
    try {
      const worker = (this.options.worker ?? startLogWorker)();
      worker.onmessage = (event: MessageEvent<FromPostgresLogWorker>) => this.receive(event.data);
      worker.onerror = (event) => {
        // Handled here: without this, an error in the worker would end the whole process.
        event.preventDefault();
        this.fallBack(`log worker failed: ${event.message}`);
      };
      this.worker = worker;
      // The options hold the password (or its file): this message is never logged.
      const open: ToLogWorker = { type: "open-postgres", postgres: this.options.postgres };
      worker.postMessage(open);
    } catch (err) {
      this.fallBack(`cannot start the log worker: ${messageOf(err)}`);
    }
  }

  /**
   * Has the worker close its connection (unless `graceful` is false: a write
   * is still stuck in it), then ends it. A request it never answered fails,
   * its rows kept by the writer.
   */
  async close(graceful: boolean): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    if (graceful) await this.closeConnection(worker);
    worker.terminate();
    this.worker = undefined;
    const left = [...this.pending.entries()];
    this.pending.clear();
    for (const [id, request] of left) request.answer({ type: "failed", id, error: "the log worker was stopped" });
  }

  /** Resolves once the worker has closed its connection, or after `closeTimeoutMs`. */
  private async closeConnection(worker: Worker): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await new Promise<void>((resolve) => {
      const id = this.nextId++;
      this.pending.set(id, { answer: () => resolve(), redo: resolve });
      const close: ToLogWorker = { type: "close", id };
      worker.postMessage(close);
      timer = setTimeout(resolve, this.options.closeTimeoutMs ?? CLOSE_TIMEOUT_MS);
    });
    clearTimeout(timer);
  }

  /** Posts a request to the worker, or runs `inline` here when there is none. */
  private request<T>(message: (id: number) => PostgresLogRequest, inline: () => Promise<T>, value: (answer: PostgresLogAnswer) => T): Promise<T> {
    const worker = this.worker;
    if (!worker) return inline();
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, {
        answer: (answer) => (answer.type === "failed" ? reject(new Error(answer.error)) : resolve(value(answer))),
        redo: () => void Promise.resolve().then(inline).then(resolve, reject),
      });
      worker.postMessage(message(id));
    });
  }

  private receive(message: FromPostgresLogWorker): void {
    switch (message.type) {
      case "opened":
        return;
      case "open-failed":
        return this.fallBack(`log worker cannot open the database: ${message.error}`);
      case "appended":
      case "pruned":
      case "failed":
      case "closed": {
        const request = this.pending.get(message.id);
        this.pending.delete(message.id);
        request?.answer(message);
        return;
      }
    }
  }

  /** From here on batches go to PostgreSQL from this thread, the unanswered ones first. */
  private fallBack(reason: string): void {
    if (this.fellBack) return;
    this.fellBack = true;
    this.logger.error("Request log moves to the server thread", { reason });
    this.worker?.terminate();
    this.worker = undefined;
    const unanswered = [...this.pending.values()];
    this.pending.clear();
    for (const request of unanswered) request.redo();
  }
}

/**
 * The request log of an instance sharing PostgreSQL, as `keyward serve`
 * runs it: `BatchedLogWriter`'s queue on this thread, its writes in the log
 * worker. Like `SharedRequestLogWriter`, it writes no spend.
 */
export class ThreadedSharedRequestLog implements RequestLogSink {
  private readonly link: LogWorkerLink;
  private readonly writer: BatchedLogWriter<string>;

  constructor(log: SharedRequestLog, clock: Clock, logger: Logger, options: ThreadedSharedRequestLogOptions) {
    this.link = new LogWorkerLink(log, logger, options);
    this.writer = new BatchedLogWriter(this.link, clock, logger, options);
  }

  get depth(): number {
    return this.writer.depth;
  }

  /** Rows dropped since start, past the queue's bound. */
  get dropped(): number {
    return this.writer.dropped;
  }

  append(row: LoggedRequest): void {
    this.writer.append(row);
  }

  start(): void {
    this.link.start();
    this.writer.start();
  }

  flush(): Promise<void> {
    return this.writer.flush();
  }

  /** The writer's stop (what is left, within its bound), then the worker's connection and thread. */
  async stop(): Promise<void> {
    await this.writer.stop();
    // Rows left mean the database did not take them in time: waiting longer for it to say goodbye helps nothing.
    await this.link.close(this.writer.depth === 0);
  }

  /** A retention sweep now (the writer's, its batches run in the worker). */
  sweep(): Promise<void> {
    return this.writer.sweep();
  }
}
