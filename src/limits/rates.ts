import { MinuteWindow } from "./window.ts";

/** What carries rate limits: a proxy key's row, or a team's (whose RateLimits is its own). */
export interface RateSubject {
  id: string;
  rpm: number | null;
  tpm: number | null;
  maxConcurrency: number | null;
}

/** A rate limit that does not fit now: why, and when a retry may (absent: waiting cannot help). */
export interface RateRefusal {
  reason: "concurrency" | "rpm" | "tpm";
  message: string;
  retryAfterSeconds?: number;
}

const fmtSeconds = (s: number) => `${s}s`;

/**
 * Concurrency, requests per minute and tokens per minute, per key, in memory.
 * Tokens are held like money: a request is admitted only if its token bound
 * fits what is left of the minute besides the bounds of requests in flight,
 * and its hold is replaced by its real count when it settles. So concurrent
 * large requests cannot all pass a small `tpm` before any of them is counted.
 */
export class RateLimits {
  /**
   * `share`: the part of a limit this process may use (all of it alone; its
   * share when instances split each limit between them, summing to the limit).
   */
  constructor(private readonly share: (limit: number) => number = (limit) => limit) {}

  private readonly requests = new Map<string, MinuteWindow>();
  private readonly tokens = new Map<string, MinuteWindow>();
  private readonly inFlight = new Map<string, number>();
  private readonly heldTokens = new Map<string, number>();

  private window(map: Map<string, MinuteWindow>, id: string): MinuteWindow {
    let w = map.get(id);
    if (!w) {
      w = new MinuteWindow();
      map.set(id, w);
    }
    return w;
  }

  /** Why a request with this token bound cannot start now, if it cannot; `holder` names whose limit it is in the message. */
  check(row: RateSubject, tokenBound: number, now: number, holder = "this key"): RateRefusal | undefined {
    if (row.maxConcurrency !== null && (this.inFlight.get(row.id) ?? 0) >= this.share(row.maxConcurrency)) {
      return {
        reason: "concurrency",
        message: `Cannot start request: ${holder} allows ${row.maxConcurrency} at a time${this.shared(row.maxConcurrency)}`,
        retryAfterSeconds: 1,
      };
    }
    if (row.rpm !== null) {
      const w = this.window(this.requests, row.id);
      const rpm = this.share(row.rpm);
      if (w.total(now) + 1 > rpm) {
        return {
          reason: "rpm",
          message: `Cannot start request: ${holder} allows ${row.rpm} requests per minute${this.shared(row.rpm)}`,
          retryAfterSeconds: w.retryAfter(now, 1, Math.max(1, rpm)),
        };
      }
    }
    if (row.tpm !== null && tokenBound > 0) return this.checkTokens(row.id, row.tpm, tokenBound, now, holder);
    return undefined;
  }

  /** Said in a refusal when this process holds less than the whole limit. */
  private shared(limit: number): string {
    const part = this.share(limit);
    return part === limit ? "" : ` (${part} of them on this instance, which shares the limit with others)`;
  }

  /** `limit` is the holder's whole tpm, which the messages name; this process admits against its share of it. */
  private checkTokens(id: string, limit: number, tokenBound: number, now: number, holder: string): RateRefusal | undefined {
    const tpm = this.share(limit);
    if (tokenBound > tpm) {
      return {
        reason: "tpm",
        message: `Cannot start request: it may use up to ${tokenBound} tokens and ${holder} allows ${limit} per minute${this.shared(limit)}`,
      };
    }
    const w = this.window(this.tokens, id);
    const held = this.heldTokens.get(id) ?? 0;
    if (w.total(now) + held + tokenBound <= tpm) return undefined;
    return {
      reason: "tpm",
      message: `Cannot start request: it may use up to ${tokenBound} tokens and ${holder} has ${Math.max(0, tpm - w.total(now) - held)} of its ${limit} per minute left${this.shared(limit)}`,
      // Held tokens settle within their requests' lifetime; the window's own age is the part that can be known.
      retryAfterSeconds: w.retryAfter(now, tokenBound + held, tpm),
    };
  }

  /** Counts an admitted request; pair with `release`. */
  hold(row: RateSubject, tokenBound: number, now: number): void {
    this.window(this.requests, row.id).add(now, 1);
    this.inFlight.set(row.id, (this.inFlight.get(row.id) ?? 0) + 1);
    if (row.tpm !== null && tokenBound > 0) this.heldTokens.set(row.id, (this.heldTokens.get(row.id) ?? 0) + tokenBound);
  }

  /** Ends a request: frees its slot and replaces its token hold with the tokens it used. */
  release(row: RateSubject, tokenBound: number, usedTokens: number, now: number): void {
    const left = (this.inFlight.get(row.id) ?? 1) - 1;
    if (left <= 0) this.inFlight.delete(row.id);
    else this.inFlight.set(row.id, left);
    if (row.tpm === null) return;
    if (tokenBound > 0) {
      const held = (this.heldTokens.get(row.id) ?? tokenBound) - tokenBound;
      if (held <= 0) this.heldTokens.delete(row.id);
      else this.heldTokens.set(row.id, held);
    }
    if (usedTokens > 0) this.window(this.tokens, row.id).add(now, usedTokens);
  }

  /**
   * The key's own limits as `x-keyward-ratelimit-*`: OpenAI's shape under a name of keyward's, so they never
   * overwrite the provider's `x-ratelimit-*` (on the provider's own 429 a client must see the provider's figures).
   */
  headers(row: RateSubject, now: number): Record<string, string> {
    const headers: Record<string, string> = {};
    if (row.rpm !== null) {
      const w = this.window(this.requests, row.id);
      headers["x-keyward-ratelimit-limit-requests"] = String(row.rpm);
      headers["x-keyward-ratelimit-remaining-requests"] = String(Math.max(0, this.share(row.rpm) - w.total(now)));
      headers["x-keyward-ratelimit-reset-requests"] = fmtSeconds(w.resetIn(now));
    }
    if (row.tpm !== null) {
      const w = this.window(this.tokens, row.id);
      headers["x-keyward-ratelimit-limit-tokens"] = String(row.tpm);
      headers["x-keyward-ratelimit-remaining-tokens"] = String(Math.max(0, this.share(row.tpm) - w.total(now) - (this.heldTokens.get(row.id) ?? 0)));
      headers["x-keyward-ratelimit-reset-tokens"] = fmtSeconds(w.resetIn(now));
    }
    return headers;
  }

  inFlightCount(): number {
    let n = 0;
    for (const v of this.inFlight.values()) n += v;
    return n;
  }
}
