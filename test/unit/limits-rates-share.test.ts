/**
 * Rate limits held in shares (src/limits/rates.ts), as instances sharing a
 * database split them: each refusal names the holder's whole limit and says
 * how much of it this instance holds, for tpm as for rpm and concurrency.
 */
import { describe, expect, test } from "bun:test";
import { RateLimits, type RateSubject } from "../../src/limits/rates.ts";

const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);
const HALF = (limit: number) => Math.floor(limit / 2);
const SHARE_NOTE = /\((\d+) of them on this instance, which shares the limit with others\)$/;

function subject(limits: Partial<RateSubject>): RateSubject {
  return { id: "kw_1", rpm: null, tpm: null, maxConcurrency: null, ...limits };
}

describe("a share of the limits", () => {
  test("a request larger than this instance's share of tpm names the whole tpm and the share", () => {
    const refusal = new RateLimits(HALF).check(subject({ tpm: 500 }), 300, T0, "team t");
    expect(refusal?.reason).toBe("tpm");
    expect(refusal?.message).toBe(
      "Cannot start request: it may use up to 300 tokens and team t allows 500 per minute (250 of them on this instance, which shares the limit with others)",
    );
  });

  test("a share of tpm used up names what is left of the share, the whole tpm and the share", () => {
    const rates = new RateLimits(HALF);
    const row = subject({ tpm: 500 });
    expect(rates.check(row, 200, T0)).toBeUndefined();
    rates.hold(row, 200, T0);
    const refusal = rates.check(row, 100, T0);
    expect(refusal?.reason).toBe("tpm");
    expect(refusal?.message).toStartWith("Cannot start request: it may use up to 100 tokens and this key has 50 of its 500 per minute left");
    expect(refusal?.message.match(SHARE_NOTE)?.[1]).toBe("250");
  });

  test("rpm and concurrency say the same", () => {
    const rates = new RateLimits(HALF);
    const row = subject({ rpm: 4, maxConcurrency: 6 });
    rates.hold(row, 0, T0);
    rates.hold(row, 0, T0);
    expect(rates.check(row, 0, T0)?.message).toBe(
      "Cannot start request: this key allows 4 requests per minute (2 of them on this instance, which shares the limit with others)",
    );
    rates.hold(row, 0, T0);
    expect(rates.check(row, 0, T0)?.message).toBe(
      "Cannot start request: this key allows 6 at a time (3 of them on this instance, which shares the limit with others)",
    );
  });

  test("holding the whole limit, the messages say nothing of shares", () => {
    const refusal = new RateLimits().check(subject({ tpm: 500 }), 600, T0);
    expect(refusal?.message).toBe("Cannot start request: it may use up to 600 tokens and this key allows 500 per minute");
  });
});
