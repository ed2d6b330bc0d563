/**
 * The request log of an instance that shares PostgreSQL with others: its
 * rows go to the one log every instance writes and reads (`SharedState.log`),
 * so any instance answers the same usage and log pages.
 *
 * Unlike the SQLite writers, this one writes no spend. In a cluster a key's
 * spend is shared by every instance that serves it, and its budget leases
 * own it; a spend snapshot of this instance's alone, written with the rows,
 * would overwrite what the others charged. So it takes no `SpendSource`.
 *
 * `BatchedLogWriter` holds what the two writers of that log share: the
 * queue, its bound, the batches, the retries and what they log. Where a
 * batch goes is its `LogBatchTarget`: PostgreSQL from this thread
 * (`SharedRequestLogWriter`), or the log worker's own connection
 * (./threaded-shared-log.ts).
 */
import type { Clock } from "../clock.ts";
import type { NewRequestLogRow, SharedRequestLog } from "../db/store.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { LoggedRequest } from "./error-codes.ts";
import { DAY, RETENTION_SWEEP_MS, type RequestLogOptions, type RequestLogSink } from "./request-log.ts";

/** Rows per `appendMany`: one statement's arrays stay a few hundred KB, and a failed one costs one retry of that much. */
export const SHARED_LOG_BATCH_ROWS = 1_000;
/** Rows held in memory at most while PostgreSQL does not take them (about 50 MB). */
export const SHARED_LOG_MAX_ROWS = 100_000;
const STOP_TIMEOUT_MS = 10_000;
/** Between two tries of the last flush, at shutdown. */
const STOP_RETRY_MS = 250;
/** Between two batches of a retention sweep, so the rows being appended go first. */
const PRUNE_PAUSE_MS = 50;

export interface SharedRequestLogOptions extends RequestLogOptions {
  /** Rows per write (SHARED_LOG_BATCH_ROWS); a test may set fewer. */
  batchRows?: number;
  /** Rows held at most (SHARED_LOG_MAX_ROWS); past it the oldest are dropped. */
  maxRows?: number;
  /** How long `stop` keeps trying to write what is left (10 s). */
  stopTimeoutMs?: number;
  /** Told how many rows were just dropped, for a metric. */
  onDropped?: (rows: number) => void;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Where batches of queued rows go, and what a row is queued as. */
export interface LogBatchTarget<T> {
  /** What the queue holds for a row, made as the row is appended. */
  encode(row: LoggedRequest): T;
  /** Writes the batch whole, or fails and writes none of it. */
  appendMany(rows: T[]): Promise<void>;
  /** As `SharedRequestLog.pruneBatch`. */
  pruneBatch(at: number): Promise<number>;
}

/** Rows oldest first. Taking from the front moves no other row, as `Array.shift` or `splice` would on every call. */
class RowQueue<T> {
  private rows: T[] = [];
  private head = 0;

  get length(): number {
    return this.rows.length - this.head;
  }

  push(row: T): void {
    this.rows.push(row);
  }

  /** Removes and returns the oldest `n` (fewer when fewer are queued). */
  take(n: number): T[] {
    const out = this.rows.slice(this.head, this.head + n);
    this.head += out.length;
    if (this.head === this.rows.length) [this.rows, this.head] = [[], 0];
    else if (this.head > 1024 && this.head * 2 > this.rows.length) [this.rows, this.head] = [this.rows.slice(this.head), 0];
    return out;
  }

  /** Puts rows taken back in front, in their order: a write that failed. */
  restore(rows: T[]): void {
    this.rows = rows.concat(this.rows.slice(this.head));
    this.head = 0;
  }
}

/**
 * Rows queue in memory, and every flush interval they go to PostgreSQL in
 * batches, one write at a time (a slow database makes the next tick wait,
 * never piles writes up). A write that fails keeps its rows for the next
 * tick, so an outage delays the log; only a long one loses rows (see
 * `maxRows`). Retention is pruned here too, in small batches.
 */
export class BatchedLogWriter<T> implements RequestLogSink {
  private readonly queue = new RowQueue<T>();
  /** Taken from the queue for the write under way; put back if it fails. */
  private inFlight: T[] = [];
  /** Flushes run one after another on this chain; `queued` counts those not finished. */
  private chain: Promise<boolean> = Promise.resolve(true);
  private queued = 0;
  private failing = false;
  /** Rows dropped since the queue last overflowed; logged once the database takes rows again. */
  private droppedInStreak = 0;
  /** Rows dropped since start, for tests and logs. */
  dropped = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  private sweeper: ReturnType<typeof setInterval> | undefined;
  private pruning: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly log: LogBatchTarget<T>,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly options: SharedRequestLogOptions,
  ) {}

  append(row: LoggedRequest): void {
    this.queue.push(this.log.encode(row));
    this.dropOverflow();
  }

  get depth(): number {
    return this.queue.length + this.inFlight.length;
  }

  start(): void {
    this.stopped = false;
    this.timer ??= setInterval(() => {
      // A flush still running (a slow or unreachable database) is not joined by another.
      if (this.queued === 0 && this.queue.length > 0) void this.enqueueFlush();
    }, this.options.flushIntervalMs);
    this.sweeper ??= setInterval(() => void this.sweep(), RETENTION_SWEEP_MS);
    void this.sweep();
  }

  /** Resolves once what was queued before the call is written, or kept for a retry after a failure (logged once per outage). */
  async flush(): Promise<void> {
    await this.enqueueFlush();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearInterval(this.sweeper);
    this.timer = undefined;
    this.sweeper = undefined;
    let expired = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        expired = true;
        resolve();
      }, this.options.stopTimeoutMs ?? STOP_TIMEOUT_MS);
    });
    const last = async () => {
      await this.pruning;
      // A database that blinks at shutdown gets a few more tries, within the deadline.
      while (this.depth > 0 && !expired) {
        if (!(await this.enqueueFlush()) && !expired) await sleep(STOP_RETRY_MS);
      }
    };
    await Promise.race([last(), deadline]);
    clearTimeout(timer);
    if (this.depth > 0) {
      this.logger.error("Request log rows not written at shutdown: PostgreSQL did not take them in time", { rows: this.depth });
    }
  }

  /**
   * Prunes rows past retention a batch at a time, with a pause between. Every
   * instance sweeps; their batches skip rows another one holds, so sweeping
   * together shares the work rather than repeating it. Space comes back
   * through PostgreSQL's autovacuum, not a step of ours as on SQLite.
   */
  sweep(): Promise<void> {
    if (this.options.retentionDays <= 0 || this.stopped) return Promise.resolve();
    this.pruning ??= this.prune(this.clock.now() - this.options.retentionDays * DAY).finally(() => {
      this.pruning = undefined;
    });
    return this.pruning;
  }

  private async prune(before: number): Promise<void> {
    let removed = 0;
    try {
      for (;;) {
        const batch = await this.log.pruneBatch(before);
        removed += batch;
        if (batch === 0 || this.stopped) break;
        await sleep(PRUNE_PAUSE_MS);
      }
      if (removed > 0) this.logger.info("Request log retention applied", { removed });
    } catch (err) {
      this.logger.warn("Request log retention failed", { error: messageOf(err), removed });
    }
  }

  /** True when the queue was written out. */
  private enqueueFlush(): Promise<boolean> {
    this.queued++;
    const run = this.chain.then(() => this.writeQueued());
    this.chain = run.finally(() => this.queued--);
    return this.chain;
  }

  private async writeQueued(): Promise<boolean> {
    // Only what is queued now: rows appended meanwhile wait for the next tick, so a steady stream never keeps one flush going.
    let left = this.queue.length;
    while (left > 0) {
      const batch = this.queue.take(Math.min(left, this.options.batchRows ?? SHARED_LOG_BATCH_ROWS));
      if (batch.length === 0) break;
      left -= batch.length;
      this.inFlight = batch;
      try {
        await this.log.appendMany(batch);
      } catch (err) {
        this.inFlight = [];
        this.queue.restore(batch);
        this.noteFailure(err);
        return false;
      }
      this.inFlight = [];
      this.noteSuccess();
    }
    return true;
  }

  private noteFailure(err: unknown): void {
    if (this.failing) return;
    this.failing = true;
    this.logger.warn("Request log flush to PostgreSQL failed; keeping the rows and retrying", { error: messageOf(err), rows: this.depth });
  }

  private noteSuccess(): void {
    if (this.failing) {
      this.failing = false;
      this.logger.info("Request log flush to PostgreSQL works again", { rows: this.depth });
    }
    if (this.droppedInStreak > 0) {
      this.logger.warn("Request log dropped rows while PostgreSQL did not take them", { dropped: this.droppedInStreak, dropped_total: this.dropped });
      this.droppedInStreak = 0;
    }
  }

  /**
   * Rows wait in this process's memory only, so a long outage would grow it
   * until the process died, losing every row and the serving with them.
   * Past `maxRows` the oldest go: as many rows are lost either way, and the
   * newest are the ones someone looks at first once the database is back.
   * Usage then counts fewer requests than were served; budgets do not, since
   * spend is not written from here. Rows being written are never dropped.
   */
  private dropOverflow(): void {
    const over = this.depth - (this.options.maxRows ?? SHARED_LOG_MAX_ROWS);
    if (over <= 0) return;
    const gone = this.queue.take(over).length;
    if (gone === 0) return;
    if (this.droppedInStreak === 0) {
      this.logger.warn("Request log queue is full: dropping the oldest rows until PostgreSQL takes them", {
        max_rows: this.options.maxRows ?? SHARED_LOG_MAX_ROWS,
      });
    }
    this.droppedInStreak += gone;
    this.dropped += gone;
    this.options.onDropped?.(gone);
  }
}

/** The shared log written from this thread: each batch goes to PostgreSQL through the server's own pool. */
export class SharedRequestLogWriter extends BatchedLogWriter<NewRequestLogRow> {
  constructor(log: SharedRequestLog, clock: Clock, logger: Logger, options: SharedRequestLogOptions) {
    const target: LogBatchTarget<NewRequestLogRow> = {
      encode: (row) => row,
      appendMany: (rows) => log.appendMany(rows),
      pruneBatch: (at) => log.pruneBatch(at),
    };
    super(target, clock, logger, options);
  }
}
