import type { AccessEntry, AccessLogger } from "./access-log.ts";
import type { Logger } from "./logger.ts";

/** Access lines per second for requests refused before anyone was authenticated. */
export const REFUSAL_LINES_PER_SECOND = 20;

export interface RefusalLinesOptions {
  perSecond?: number;
  /** One second; tests use a shorter one. */
  windowMs?: number;
  /** Milliseconds, monotonic; tests hand in their own. */
  now?: () => number;
}

/**
 * Access lines for requests refused at authentication (401 with no key id),
 * at most `perSecond` a second; the rest are counted and reported in one
 * `warn` line per second (per window). Every other access line passes through untouched.
 *
 * Why: a flood of wrong or made-up keys would otherwise write a line per
 * request, gigabytes a day at 1,000 a second, and journald's own rate limit
 * would then drop lines without regard to which, legitimate ones included.
 * Such requests already leave no request-log row for the same reason; they
 * stay counted in `/metrics`. A line is also a tenth of what a refusal costs
 * the serving thread, which the flood competes for with real traffic.
 */
export class RefusalLines {
  readonly log: AccessLogger;
  private windowStart = Number.NEGATIVE_INFINITY;
  private written = 0;
  private suppressed = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly perSecond: number;
  private readonly windowMs: number;
  private readonly now: () => number;

  constructor(
    access: AccessLogger,
    private readonly logger: Logger,
    options: RefusalLinesOptions = {},
  ) {
    this.perSecond = options.perSecond ?? REFUSAL_LINES_PER_SECOND;
    this.windowMs = options.windowMs ?? 1_000;
    this.now = options.now ?? (() => performance.now());
    this.log = (entry) => (isRefusal(entry) ? this.refused(entry, access) : access(entry));
  }

  /** Writes the count of refusals not logged one by one, if any (at each window's end and at shutdown). */
  report(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.suppressed === 0) return;
    this.logger.warn("Refused requests beyond the access-line limit", {
      refused: this.suppressed,
      limit_per_second: this.perSecond,
    });
    this.suppressed = 0;
  }

  private refused(entry: AccessEntry, access: AccessLogger): void {
    const now = this.now();
    if (now - this.windowStart >= this.windowMs) {
      this.report();
      this.windowStart = now;
      this.written = 0;
    }
    if (this.written < this.perSecond) {
      this.written++;
      access(entry);
      return;
    }
    this.suppressed++;
    // Reported when the window ends even if no refusal follows to notice it.
    this.timer ??= setTimeout(() => this.report(), Math.max(0, this.windowStart + this.windowMs - now));
  }
}

function isRefusal(entry: AccessEntry): boolean {
  return entry.status === 401 && entry.keyId === undefined;
}
