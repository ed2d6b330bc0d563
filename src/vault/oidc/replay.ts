import type { Clock } from "../../clock.ts";

/**
 * Remembers exchanged ID tokens (`iss` + `jti`) until they expire, so one
 * token buys one key. Bounded: when full of unexpired entries it refuses new
 * ones rather than forget a token that could then be replayed. In memory: a
 * restart forgets, which the tokens' short lifetimes make acceptable.
 */
export class ReplayCache {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    private readonly maxEntries = 100_000,
  ) {}

  has(key: string): boolean {
    const until = this.seen.get(key);
    return until !== undefined && until > this.clock.now();
  }

  /**
   * Records `key` until `untilMs`: `"claimed"`, `"replayed"` when it is
   * already there, `"full"` when the cache cannot hold another token.
   */
  claim(key: string, untilMs: number): "claimed" | "replayed" | "full" {
    if (this.has(key)) return "replayed";
    if (this.seen.size >= this.maxEntries) this.prune();
    if (this.seen.size >= this.maxEntries) return "full";
    this.seen.set(key, untilMs);
    return "claimed";
  }

  get size(): number {
    return this.seen.size;
  }

  private prune(): void {
    const now = this.clock.now();
    for (const [key, until] of this.seen) if (until <= now) this.seen.delete(key);
  }
}
