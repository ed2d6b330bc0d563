import type { Clock } from "../clock.ts";
import { logRowValues, rowFromValues, type LogRowValues } from "../db/request-log-sql.ts";
import type { LoggedRequest } from "./error-codes.ts";
import { startLogWorker, type FromSqliteLogWorker, type ToSqliteLogWorker } from "./log-worker-protocol.ts";
import type { Logger } from "../telemetry/logger.ts";
import { DAY, RETENTION_SWEEP_MS, type RequestLogSink, type RequestLogWriter, type RequestLogOptions, type SpendSource } from "./request-log.ts";

export interface ThreadedRequestLogOptions extends RequestLogOptions {
  /** The database file; the worker opens its own connection to it. */
  path: string;
  busyTimeoutMs: number;
  /** Writes rows on the server thread when the worker cannot: it failed to start, died, or could not write at shutdown. */
  /** The server-thread writer: it also takes back rows read from the worker's lines. */
  fallback: () => RequestLogWriter;
  /** The worker to talk to; a test may hand in its own. */
  worker?: () => Worker;
  /** How long shutdown waits for the worker's last commit before writing the rows itself (10 s). */
  stopTimeoutMs?: number;
}

/** The least time between two commits that reads asked for (see `flush`). */
const FORCED_GAP_MS = 25;

/**
 * The request log in a worker thread: the proxy appends rows in memory and
 * every flush interval they go to the worker in one message, which commits
 * them with the spend snapshot in one transaction on its own connection.
 * Committing thousands of rows no longer pauses the thread that serves
 * requests. One message per interval, not per row or per small batch: on a
 * small VM each wake-up of the worker thread cost more request latency than
 * the insert it saved (measured with `bun run bench`). Rows stay here until
 * the worker has committed them, so a worker that dies loses nothing: they
 * are written on the server thread instead.
 */
export class ThreadedRequestLog implements RequestLogSink {
  private worker: Worker | undefined;
  private inline: RequestLogWriter | undefined;
  /** Appended (as JSON lines, see LogLines), not yet posted. */
  private batch: string[] = [];
  /** Posted with the commit request `id`, not yet acknowledged. */
  private awaiting: { id: number; rows: string[] }[] = [];
  private waiters = new Map<number, () => void>();
  private nextId = 1;
  private stopping = false;
  private timer: ReturnType<typeof setInterval> | undefined;
  /** The commit that the flushes arriving within FORCED_GAP_MS of the last one wait for together. */
  private forced: Promise<void> | undefined;
  private lastForcedAt = Number.NEGATIVE_INFINITY;
  private sweeper: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly spend: SpendSource & { dirtyAll(): void },
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly options: ThreadedRequestLogOptions,
  ) {}

  get depth(): number {
    let n = this.batch.length;
    for (const segment of this.awaiting) n += segment.rows.length;
    return n + (this.inline?.depth ?? 0);
  }

  start(): void {
    if (this.worker || this.inline) return;
    try {
      const worker = (this.options.worker ?? startLogWorker)();
      worker.onmessage = (event: MessageEvent<FromSqliteLogWorker>) => this.receive(event.data);
      worker.onerror = (event) => {
        // Handled here: without this, an error in the worker would end the whole process.
        event.preventDefault();
        this.fallBack(`log worker failed: ${event.message}`);
      };
      this.worker = worker;
      this.send({ type: "open", path: this.options.path, busyTimeoutMs: this.options.busyTimeoutMs });
    } catch (err) {
      return this.fallBack(`cannot start the log worker: ${err instanceof Error ? err.message : String(err)}`);
    }
    this.timer = setInterval(() => this.tick(), this.options.flushIntervalMs);
    this.sweeper = setInterval(() => this.sweep(), RETENTION_SWEEP_MS);
    this.sweep();
  }

  append(row: LoggedRequest): void {
    if (this.inline) return this.inline.append(row);
    this.batch.push(JSON.stringify(logRowValues(row)));
  }

  /**
   * Resolves once everything appended so far is committed: usage and log reads call it first, so that a read
   * sees every request answered before it. Such commits are at least FORCED_GAP_MS apart, and every flush
   * meanwhile shares the next one: a dashboard reading back to back had the worker wake, commit and sync once
   * per read, hundreds of times a second, on the cores the proxied requests use.
   */
  flush(): Promise<void> {
    if (this.inline) return this.inline.flush();
    // Nothing appended or on its way since the last commit: there is nothing for a read to wait for.
    if (!this.worker || (this.batch.length === 0 && this.awaiting.length === 0)) return Promise.resolve();
    if (this.forced) return this.forced;
    const wait = this.lastForcedAt + FORCED_GAP_MS - performance.now();
    const commit = (resolve: () => void) => {
      this.lastForcedAt = performance.now();
      // The worker failed meanwhile: its rows went to the inline writer.
      if (this.inline) return void this.inline.flush().then(resolve);
      // Stopped meanwhile: the stop's own commit took every row.
      if (!this.worker || this.stopping) return resolve();
      this.post("commit", resolve);
    };
    if (wait <= 0) return new Promise(commit);
    this.forced = new Promise((resolve) =>
      setTimeout(() => {
        this.forced = undefined;
        commit(resolve);
      }, wait),
    );
    return this.forced;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    if (this.sweeper) clearInterval(this.sweeper);
    this.timer = undefined;
    this.sweeper = undefined;
    if (this.worker) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.post("stop", resolve);
        // A worker that hangs must not hang the shutdown: its rows are written here instead.
        timer = setTimeout(() => this.fallBack("the log worker did not answer at shutdown"), this.options.stopTimeoutMs ?? 10_000);
      });
      clearTimeout(timer);
      this.worker?.terminate();
      this.worker = undefined;
    }
    if (this.inline) await this.inline.stop();
  }

  /** The timer's flush: nothing is posted (and the worker not woken) when there is nothing to write. */
  private tick(): void {
    const spend = this.spend.drain();
    // Unacknowledged commits (a locked database) are retried with each tick even when idle.
    if (this.batch.length === 0 && spend.length === 0 && this.awaiting.length === 0) return;
    this.post("commit", () => {}, spend);
  }

  private sweep(): void {
    if (this.options.retentionDays <= 0) return;
    if (this.inline) return; // the inline writer runs its own sweeper
    this.send({ type: "sweep", before: this.clock.now() - this.options.retentionDays * DAY });
  }

  /** Sends what was appended, with the spend as of now, to be committed (and, for `stop`, the worker to close). */
  private post(type: "commit" | "stop", done: () => void, spend = this.spend.drain()): void {
    const id = this.nextId++;
    const rows = this.batch;
    this.batch = [];
    this.awaiting.push({ id, rows });
    this.waiters.set(id, done);
    this.send({ type, id, rows: rows.join("\n"), spend });
  }

  private send(message: ToSqliteLogWorker): void {
    this.worker?.postMessage(message);
  }

  private settle(id: number): void {
    this.awaiting = this.awaiting.filter((segment) => segment.id > id);
    this.waiters.get(id)?.();
    this.waiters.delete(id);
  }

  private receive(message: FromSqliteLogWorker): void {
    switch (message.type) {
      case "opened":
        return;
      case "open-failed":
        return this.fallBack(`log worker cannot open the database: ${message.error}`);
      case "committed":
        return this.settle(message.id);
      case "commit-failed":
        // The worker holds the rows and spend and retries at the next commit; ours stay as the safety copy.
        this.logger.warn("Request log flush failed; will retry", { error: message.error, rows: message.rows });
        this.waiters.get(message.id)?.();
        this.waiters.delete(message.id);
        return;
      case "swept":
        if (message.removed > 0) this.logger.info("Request log retention applied", { removed: message.removed });
        return;
      case "sweep-failed":
        this.logger.warn("Request log retention failed", { error: message.error });
        return;
      case "stopped":
        if (message.ok) return this.settle(message.id);
        return this.fallBack("the log worker could not write its last rows");
    }
  }

  /** From here on rows are written on the server thread; everything not acknowledged is written there too. */
  private fallBack(reason: string): void {
    if (this.inline) return;
    this.logger.error("Request log moves to the server thread", { reason });
    this.worker?.terminate();
    this.worker = undefined;
    const inline = this.options.fallback();
    const handBack = (line: string) => inline.append(rowFromValues(JSON.parse(line) as LogRowValues));
    for (const segment of this.awaiting) segment.rows.forEach(handBack);
    this.batch.forEach(handBack);
    this.awaiting = [];
    this.batch = [];
    // Spend the worker held is gone with it: the ledger writes every key's snapshot again.
    this.spend.dirtyAll();
    this.inline = inline;
    clearInterval(this.timer);
    clearInterval(this.sweeper);
    this.timer = undefined;
    this.sweeper = undefined;
    if (!this.stopping) inline.start();
    void inline.flush().then(() => {
      for (const resolve of this.waiters.values()) resolve();
      this.waiters.clear();
    });
  }
}
