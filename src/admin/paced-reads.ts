/**
 * The admin API's long reads, paced: a burst of reads goes at once, then one
 * every `intervalMs`, each later read waiting its turn (a token bucket), and
 * a read that took longer than `intervalMs` costs as many turns as it took.
 *
 * Why: besides the read itself (off the serving thread), every admin request
 * costs the serving thread its share (the request, the token check, handing
 * the answer on, a page of keys' views). A client reading back to back (a
 * dashboard's loop, a script paging through every key) made that up to half
 * of the serving thread on a 2-core VM, and proxied requests felt it, even
 * with no view made at all (test/bench/README.md). A person clicking
 * through the console never waits here; a script paging through 100,000 keys
 * (500 pages of 200) takes seconds.
 */
import type { ReadArgs, ReadHandlers, ReadResult, Reads } from "../db/reads.ts";

export interface Pace {
  /** Reads that may go at once after a quiet spell. */
  burst: number;
  /** Then one read per this many milliseconds. */
  intervalMs: number;
}

/** The pace of the admin API's reads: a console page's few reads go at once; a loop is held to 50 a second. */
export const ADMIN_READ_PACE: Pace = { burst: 20, intervalMs: 20 };

export class PacedReads<H extends ReadHandlers> implements Reads<H> {
  /** Reads that may start now; below zero, turns already promised to waiting reads. */
  private available: number;
  private refilledAt: number;

  constructor(
    /** The reads being paced. */
    readonly reads: Reads<H>,
    private readonly pace: Pace,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.available = pace.burst;
    this.refilledAt = now();
  }

  start(): void {
    this.reads.start();
  }

  read<N extends keyof H & string>(name: N, ...args: ReadArgs<H, N>): Promise<ReadResult<H, N>> {
    const wait = this.turn();
    const run = () => {
      const started = this.now();
      // A long read costs more turns: a step of a log page reads for up to 25 ms, and back to back such steps
      // kept a core busy; charged by their length, reads use about half of one.
      return this.reads.read(name, ...args).finally(() => {
        this.available -= (this.now() - started) / this.pace.intervalMs;
      });
    };
    if (wait <= 0) return run();
    return new Promise((resolve) => setTimeout(resolve, wait)).then(run);
  }

  close(): void {
    this.reads.close();
  }

  /** How long this read waits for its turn (ms). */
  private turn(): number {
    const now = this.now();
    this.available = Math.min(this.pace.burst, this.available + (now - this.refilledAt) / this.pace.intervalMs);
    this.refilledAt = now;
    this.available -= 1;
    return this.available >= 0 ? 0 : -this.available * this.pace.intervalMs;
  }
}
