import { timingSafeEqual } from "node:crypto";
import { sha256 } from "../runtime/sha256.ts";
import type { Clock } from "../clock.ts";
import { verifySecret, type SecretAttempt } from "./hashing.ts";

export interface VerifierOptions {
  clock: Clock;
  /** argon2 verifications allowed at once; the rest queue. */
  maxConcurrent: number;
  /** Unverified attempts per key id within `failureWindowMs` before that id is throttled. */
  maxFailures: number;
  failureWindowMs: number;
  /** The argon2 check: the app's low-priority worker threads; tests hand in one they can pause. */
  check?: (attempt: SecretAttempt) => Promise<boolean>;
}

/** A key as presented, and the hash stored for its id. */
export interface VerifyRequest extends SecretAttempt {
  /** Verified tokens and failed attempts are kept per key id. */
  id: string;
  /** The whole key as sent; the cache keeps its SHA-256. */
  token: string;
}

interface FailureState {
  count: number;
  windowStart: number;
}

export type VerifyOutcome = "valid" | "invalid" | "throttled";

/**
 * Verifies key secrets against their argon2id hashes without letting
 * argon2's cost (tens of ms of CPU per run) be turned against the server:
 * a verified-secret cache (key id → SHA-256 of the full
 * token) so argon2 runs once per key per process; concurrent first requests
 * for one token share one argon2 run; bounded argon2 concurrency; and a
 * per-key-id failure throttle that answers without running argon2, so a flood
 * of wrong secrets can neither burn the CPU nor lock out a verified client
 * (the cache is consulted before the throttle, and once an id is verified
 * every other token for it is refused by the cache alone). Attempts on an id
 * that has already had an unverified attempt in the window run one at a time: a flood
 * of wrong secrets over many ids then holds at most one core with argon2,
 * and a first-time client still finds a free slot.
 */
export class SecretVerifier {
  private readonly verified = new Map<string, Buffer>();
  private readonly inflight = new Map<string, Promise<boolean>>();
  private readonly failures = new Map<string, FailureState>();
  private running = 0;
  private readonly queue: Array<() => void> = [];
  private suspectRunning = false;
  private readonly suspectQueue: Array<() => void> = [];
  /** How many argon2 verifications ran; exposed for tests and metrics. */
  argon2Runs = 0;

  constructor(private readonly options: VerifierOptions) {}

  /** Cache hit only: no argon2, no await. `undefined` means "not known yet". */
  checkCached(id: string, token: string): boolean | undefined {
    const known = this.verified.get(id);
    if (!known) return undefined;
    return timingSafeEqual(known, sha256(token));
  }

  async verify(request: VerifyRequest): Promise<VerifyOutcome> {
    const { id, token } = request;
    const tokenDigest = sha256(token);
    const known = this.verified.get(id);
    // A key has one secret for life (anything that replaces it calls forget), and the token
    // is fixed by id and secret, so once one token is verified every other one is wrong:
    // a flood aimed at a key in use costs a hash comparison, not argon2.
    if (known) return timingSafeEqual(known, tokenDigest) ? "valid" : "invalid";
    if (this.isThrottled(id)) return "throttled";

    const flightKey = `${id}:${tokenDigest.toString("hex")}`;
    let pending = this.inflight.get(flightKey);
    if (!pending) {
      const suspect = this.failures.has(id);
      // Counted when started, not when failed: otherwise a burst of wrong
      // secrets would all start argon2 before the first failure is recorded.
      this.recordAttempt(id);
      const check = this.options.check ?? verifySecret;
      const run = () => this.runLimited(() => check(request));
      pending = (suspect ? this.runSuspect(run) : run()).finally(() => this.inflight.delete(flightKey));
      this.inflight.set(flightKey, pending);
    }
    const valid = await pending;
    if (valid) {
      this.verified.set(id, tokenDigest);
      this.failures.delete(id);
      return "valid";
    }
    return "invalid";
  }

  /** Drop what is known about a key (revoked, deleted, secret replaced). */
  forget(id: string): void {
    this.verified.delete(id);
    this.failures.delete(id);
  }

  private isThrottled(id: string): boolean {
    const state = this.failures.get(id);
    if (!state) return false;
    if (this.options.clock.now() - state.windowStart >= this.options.failureWindowMs) {
      this.failures.delete(id);
      return false;
    }
    return state.count >= this.options.maxFailures;
  }

  private recordAttempt(id: string): void {
    const now = this.options.clock.now();
    const state = this.failures.get(id);
    if (!state || now - state.windowStart >= this.options.failureWindowMs) {
      this.failures.set(id, { count: 1, windowStart: now });
    } else {
      state.count++;
    }
    // Bound memory under a flood of random ids: forget the oldest entries.
    if (this.failures.size > 100_000) {
      const oldest = this.failures.keys().next();
      if (!oldest.done) this.failures.delete(oldest.value);
    }
  }

  /** One suspect attempt at a time; the slot is handed straight to the next waiter. */
  private async runSuspect<T>(task: () => Promise<T>): Promise<T> {
    if (this.suspectRunning) await new Promise<void>((resolve) => this.suspectQueue.push(resolve));
    this.suspectRunning = true;
    try {
      return await task();
    } finally {
      const next = this.suspectQueue.shift();
      if (next) next();
      else this.suspectRunning = false;
    }
  }

  /** At most `maxConcurrent` at once; a finishing run hands its slot straight to the next waiter. */
  private async runLimited<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.options.maxConcurrent) await new Promise<void>((resolve) => this.queue.push(resolve));
    else this.running++;
    this.argon2Runs++;
    try {
      return await task();
    } finally {
      const next = this.queue.shift();
      if (next) next();
      else this.running--;
    }
  }
}
