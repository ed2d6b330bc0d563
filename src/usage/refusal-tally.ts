import type { Clock } from "../clock.ts";
import type { LoggedRequest } from "./error-codes.ts";
import type { RequestLog, RequestLogSink } from "./request-log.ts";

export const MINUTE_MS = 60_000;

/**
 * Groups waiting at most. Past it the oldest group is written early with its
 * count so far: refusals spread over many keys and codes then cost at worst
 * one row each, as before the tally, never unbounded memory here. Folding
 * into the oldest group instead would keep the row count down but put one
 * key's refusals on another key's row.
 */
export const MAX_PENDING_GROUPS = 10_000;

export interface RefusalTallyOptions {
  /** How often groups of minutes that have ended go to the sink: the sink's own flush interval. */
  flushIntervalMs: number;
  /** Pending groups at most (MAX_PENDING_GROUPS); a test may set fewer. */
  maxGroups?: number;
}

interface Group {
  /** The first refused request's row, with `at` moved to its minute's start. */
  row: LoggedRequest;
  count: number;
}

/** The start of the UTC minute `at` falls in. */
export function minuteStart(at: number): number {
  return Math.floor(at / MINUTE_MS) * MINUTE_MS;
}

/**
 * The request log the proxy writes to: rows pass straight to the sink, and
 * refusals keyward answers itself are tallied per proxy key, error code and
 * minute, then written as one row with `count` = how many. A client retrying
 * into a rate limit in a tight loop would otherwise write a row per attempt,
 * and the log (disk, the worker's commits) would grow with the abuse, not
 * with the traffic served. A group is written once its minute has ended (the
 * timer), or at once by `flush` and `stop`, so tests, admin reads and
 * shutdown see every refusal counted.
 */
export class TalliedRequestLog implements RequestLog {
  /** Insertion order is age order: the first entry is the oldest group. */
  private readonly groups = new Map<string, Group>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly maxGroups: number;

  constructor(
    private readonly sink: RequestLogSink,
    private readonly clock: Clock,
    private readonly options: RefusalTallyOptions,
  ) {
    this.maxGroups = Math.max(1, options.maxGroups ?? MAX_PENDING_GROUPS);
  }

  append(row: LoggedRequest): void {
    this.sink.append(row);
  }

  appendRefusal(row: LoggedRequest): void {
    const minute = minuteStart(row.at);
    // Key ids and error codes never contain a newline, so the parts cannot run into each other.
    const key = `${row.proxyKeyId ?? ""}\n${row.errorCode ?? ""}\n${minute}`;
    const n = row.count ?? 1;
    const group = this.groups.get(key);
    if (group) {
      group.count += n;
      return;
    }
    if (this.groups.size >= this.maxGroups) this.emitOldest();
    this.groups.set(key, { row: { ...row, at: minute }, count: n });
  }

  /** Rows in the sink plus groups not yet handed to it. */
  get depth(): number {
    return this.sink.depth + this.groups.size;
  }

  start(): void {
    this.sink.start();
    this.timer ??= setInterval(() => this.emitEnded(this.clock.now()), this.options.flushIntervalMs);
  }

  /** Every group goes to the sink first, its minute ended or not, so a flush sees every refusal so far. */
  flush(): Promise<void> {
    this.emitAll();
    return this.sink.flush();
  }

  stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.emitAll();
    return this.sink.stop();
  }

  /** Writes the groups whose minute is over at `now`; the timer calls it, a test may too. */
  emitEnded(now: number): void {
    for (const [key, group] of this.groups) {
      if (group.row.at + MINUTE_MS > now) continue;
      this.groups.delete(key);
      this.emit(group);
    }
  }

  private emitAll(): void {
    for (const group of this.groups.values()) this.emit(group);
    this.groups.clear();
  }

  private emitOldest(): void {
    for (const [key, group] of this.groups) {
      this.groups.delete(key);
      this.emit(group);
      return;
    }
  }

  private emit(group: Group): void {
    // The row is the group's own copy, made when the group began.
    group.row.count = group.count;
    this.sink.append(group.row);
  }
}
