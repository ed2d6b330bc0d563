const SECONDS = 60;

/**
 * A one-minute sliding window in one-second buckets: O(60) memory per key,
 * O(1) to add, and exact enough for rpm/tpm (a request leaves the window
 * within a second of the real 60 s mark).
 */
export class MinuteWindow {
  private readonly amounts = new Float64Array(SECONDS);
  /** The epoch second each bucket currently holds. */
  private readonly seconds = new Float64Array(SECONDS).fill(-1);

  add(now: number, amount: number): void {
    const second = Math.floor(now / 1000);
    const slot = second % SECONDS;
    if (this.seconds[slot] !== second) {
      this.seconds[slot] = second;
      this.amounts[slot] = 0;
    }
    this.amounts[slot] = (this.amounts[slot] ?? 0) + amount;
  }

  total(now: number): number {
    const oldest = Math.floor(now / 1000) - SECONDS + 1;
    let sum = 0;
    for (let i = 0; i < SECONDS; i++) if ((this.seconds[i] ?? -1) >= oldest) sum += this.amounts[i] ?? 0;
    return sum;
  }

  /** Whole seconds until `need` more fits under `limit` (at least 1). */
  retryAfter(now: number, need: number, limit: number): number {
    const current = Math.floor(now / 1000);
    let total = this.total(now);
    for (let age = SECONDS - 1; age >= 0; age--) {
      const second = current - age;
      const slot = ((second % SECONDS) + SECONDS) % SECONDS;
      if (this.seconds[slot] === second) total -= this.amounts[slot] ?? 0;
      if (total + need <= limit) return Math.max(1, Math.ceil(second + SECONDS - now / 1000));
    }
    return SECONDS;
  }

  /** Seconds until the window is empty again, for `x-keyward-ratelimit-reset-*`. */
  resetIn(now: number): number {
    const current = Math.floor(now / 1000);
    // Newest first: the window is empty once its most recent entry has left.
    for (let age = 0; age < SECONDS; age++) {
      const second = current - age;
      const slot = ((second % SECONDS) + SECONDS) % SECONDS;
      if (this.seconds[slot] === second && (this.amounts[slot] ?? 0) > 0) {
        return Math.max(0, Math.ceil(second + SECONDS - now / 1000));
      }
    }
    return 0;
  }
}
