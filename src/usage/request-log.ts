import type { Clock } from "../clock.ts";
import type { NewRequestLogRow, SpendUpdate, Store } from "../db/store.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { LoggedRequest } from "./error-codes.ts";

export interface RequestLogOptions {
  flushIntervalMs: number;
  /** Rows kept this many days; 0 keeps them forever. */
  retentionDays: number;
}

export const DAY = 86_400_000;
export const RETENTION_SWEEP_MS = 3_600_000;
/** Between two batches of a retention sweep, so requests (and other writers) go first. */
const PRUNE_PAUSE_MS = 20;

/** What writes request-log rows as they are appended, one row each; spend goes with them, from the budget ledger. */
export interface RequestLogSink {
  append(row: LoggedRequest): void;
  /** Rows appended and not yet committed. */
  readonly depth: number;
  start(): void;
  /** Resolves once what was appended before the call is committed, or kept for a retry after a logged failure. */
  flush(): Promise<void>;
  /** Stops the timers and writes what is left. */
  stop(): Promise<void>;
}

/** Where the proxy puts request-log rows: a sink that also folds keyward's refusals (src/usage/refusal-tally.ts). */
export interface RequestLog extends RequestLogSink {
  /**
   * A request keyward refused itself (a limit, a bad body): folded into one
   * row per proxy key, error code and minute, whose `count` says how many,
   * so a client hammering a limit cannot write a row per attempt.
   */
  appendRefusal(row: LoggedRequest): void;
}

/** The budget ledger's side of a flush: spend changed since the last one. */
export interface SpendSource {
  drain(): SpendUpdate[];
  requeue(updates: SpendUpdate[]): void;
}

/**
 * Writes request-log rows and spend in batches, off the hot path: the proxy
 * appends to an in-memory queue; a timer commits queue and spend changes in
 * one transaction. A failed flush keeps everything for the next try, so a
 * busy database delays the log but never loses it.
 */
export class RequestLogWriter implements RequestLogSink {
  private queue: NewRequestLogRow[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  private sweeper: ReturnType<typeof setInterval> | undefined;
  /** The next step of a retention sweep under way. */
  private pruning: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly store: Store,
    private readonly spend: SpendSource,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly options: RequestLogOptions,
  ) {}

  /** Also takes rows read back from storage's form, as the threaded log hands them over. */
  append(row: NewRequestLogRow): void {
    this.queue.push(row);
  }

  get depth(): number {
    return this.queue.length;
  }

  start(): void {
    this.timer ??= setInterval(() => this.flushNow(), this.options.flushIntervalMs);
    this.sweeper ??= setInterval(() => this.sweep(), RETENTION_SWEEP_MS);
    this.sweep();
  }

  /** Commits what is queued, synchronously (the returned promise is already settled); safe to call any time. */
  flush(): Promise<void> {
    this.flushNow();
    return Promise.resolve();
  }

  private flushNow(): void {
    const rows = this.queue;
    const spend = this.spend.drain();
    if (rows.length === 0 && spend.length === 0) return;
    this.queue = [];
    try {
      this.store.relaxedTransaction((tx) => {
        if (rows.length > 0) tx.requestLog.appendMany(rows);
        for (const update of spend) (update.team ? tx.teams : tx.proxyKeys).setSpend(update);
      });
    } catch (err) {
      this.queue = rows.concat(this.queue);
      this.spend.requeue(spend);
      this.logger.warn("Request log flush failed; will retry", { error: err instanceof Error ? err.message : String(err), rows: rows.length });
    }
  }

  /**
   * Prunes rows past retention one small batch per turn of the event loop
   * (then gives the freed pages back the same way): deleting them all at
   * once held this thread, and the write lock, for seconds.
   */
  sweep(): void {
    if (this.options.retentionDays <= 0 || this.pruning) return;
    const before = this.clock.now() - this.options.retentionDays * DAY;
    let removed = 0;
    let rowsLeft = true;
    const step = (): void => {
      this.pruning = undefined;
      if (!this.timer) return; // stopped meanwhile; the next start sweeps again
      try {
        if (rowsLeft) {
          const batch = this.store.requestLog.pruneBatch(before);
          removed += batch;
          rowsLeft = batch > 0;
        }
        if (rowsLeft || this.store.vacuumStep()) {
          this.pruning = setTimeout(step, PRUNE_PAUSE_MS);
          return;
        }
        if (removed > 0) this.logger.info("Request log retention applied", { removed });
      } catch (err) {
        this.logger.warn("Request log retention failed", { error: err instanceof Error ? err.message : String(err) });
      }
    };
    this.pruning = setTimeout(step, 0);
  }

  stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.sweeper) clearInterval(this.sweeper);
    clearTimeout(this.pruning);
    this.timer = undefined;
    this.sweeper = undefined;
    this.pruning = undefined;
    return this.flush();
  }
}
