/** How long an upstream exchange runs before keyward starts watching its client. */
export const CLIENT_WATCH_AFTER_MS = 250;

/**
 * What stops one upstream exchange early: the upstream timeout (connect and
 * first byte), and the client leaving.
 *
 * Watching the client is deferred. On Bun, merely asking a server request for
 * its `signal` costs the serving thread a noticeable share of what keyward
 * does for a request (test/bench/README.md has the figure), and it buys
 * nothing for an answer that is back in a few milliseconds. So the guard asks
 * only once an exchange has run for `watchAfterMs`. A client that left before
 * then is not missed: the signal is created already aborted, and the upstream
 * is cancelled at that moment, at most `watchAfterMs` late.
 *
 * One timer per exchange, as a plain timeout would need: it fires at the
 * watch point or the timeout, whichever is sooner, and is re-armed only
 * while one of them is still ahead.
 */
export class UpstreamGuard {
  private readonly controller = new AbortController();
  private readonly started = performance.now();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private client: AbortSignal | undefined;
  /**
   * Asked once, when the watch starts, then dropped: the caller's closure
   * holds its whole scope (the request body as sent, its parsed form), which
   * would otherwise stay alive for as long as an answer streams.
   */
  private clientSignal: (() => AbortSignal | undefined) | undefined;
  private watching = false;
  private answered = false;
  private released = false;
  private expired = false;

  constructor(
    clientSignal: () => AbortSignal | undefined,
    readonly timeoutMs: number,
    private readonly watchAfterMs = CLIENT_WATCH_AFTER_MS,
  ) {
    this.clientSignal = clientSignal;
    this.timer = setTimeout(this.tick, Math.min(watchAfterMs, timeoutMs));
  }

  /** Aborts the upstream fetch and its body. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The client has left (as far as the guard has looked). */
  get clientGone(): boolean {
    return this.client?.aborted === true;
  }

  /** The upstream did not answer within the timeout. */
  get timedOut(): boolean {
    return this.expired;
  }

  /** The upstream's headers are in: the timeout no longer applies (a long answer is not cut), the client watch does. */
  headersReceived(): void {
    this.answered = true;
  }

  /** The exchange is over (body read, stream ended, or failed): stop the timer and the watch. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.clientSignal = undefined;
    clearTimeout(this.timer);
    this.client?.removeEventListener("abort", this.abort);
  }

  private readonly abort = () => this.controller.abort();

  private readonly tick = () => {
    if (this.released) return;
    const elapsed = performance.now() - this.started;
    if (!this.watching && elapsed >= this.watchAfterMs) this.watch();
    if (!this.answered && elapsed >= this.timeoutMs) {
      this.expired = true;
      this.abort();
      return;
    }
    const untilWatch = this.watching ? Infinity : this.watchAfterMs - elapsed;
    const untilTimeout = this.answered ? Infinity : this.timeoutMs - elapsed;
    const next = Math.min(untilWatch, untilTimeout);
    this.timer = next === Infinity ? undefined : setTimeout(this.tick, Math.max(0, next));
  };

  private watch(): void {
    this.watching = true;
    this.client = this.clientSignal?.();
    this.clientSignal = undefined;
    if (!this.client) return;
    if (this.client.aborted) this.abort();
    else this.client.addEventListener("abort", this.abort, { once: true });
  }
}
