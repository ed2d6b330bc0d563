/**
 * Money (src/limits/money.ts) and request cost (costOf in src/limits/gate.ts):
 * integer micro-dollars, rounding up, cached reads at the cached price and
 * Anthropic cache writes at 1.25 × input.
 */
import { describe, expect, test } from "bun:test";
import { costOf, type Usage } from "../../src/limits/cost.ts";
import { microsToUsd, tokenCost, usdToMicros } from "../../src/limits/money.ts";
import type { Price } from "../../src/limits/pricing.ts";

const usage = (u: Partial<Usage>): Usage => ({ inputTokens: 0, outputTokens: 0, cachedTokens: 0, cacheWriteTokens: 0, ...u });

// gpt-4o: $2.50 in, $1.25 cached in, $10 out per million tokens.
const gpt4o: Price = { inputMicros: 2_500_000, cachedInputMicros: 1_250_000, outputMicros: 10_000_000 };
// claude-sonnet-4: $3 in, $0.30 cache read, $15 out.
const sonnet: Price = { inputMicros: 3_000_000, cachedInputMicros: 300_000, outputMicros: 15_000_000 };

describe("money", () => {
  test("USD ↔ micro-dollars are exact integers at the edge", () => {
    expect(usdToMicros(1)).toBe(1_000_000);
    expect(usdToMicros(0.1)).toBe(100_000);
    expect(usdToMicros(0.15)).toBe(150_000);
    // 0.1 + 0.2 is 0.30000000000000004 as a float; still 300000 micros.
    expect(usdToMicros(0.1 + 0.2)).toBe(300_000);
    expect(usdToMicros(1_000_000)).toBe(1_000_000_000_000);
    expect(microsToUsd(1)).toBe(0.000001);
    expect(microsToUsd(1_234_567)).toBe(1.234567);
  });

  test("a thousand tenth-of-a-cent charges sum to exactly one dollar", () => {
    let total = 0;
    for (let i = 0; i < 1000; i++) total += usdToMicros(0.001);
    expect(total).toBe(1_000_000);
    expect(microsToUsd(total)).toBe(1);
  });

  test("tokenCost rounds up so keyward never undercharges, and is 0 for nothing", () => {
    expect(tokenCost(1_000_000, 2_500_000)).toBe(2_500_000);
    expect(tokenCost(1, 2_500_000)).toBe(3); // 2.5 µ$ → 3
    expect(tokenCost(1, 150_000)).toBe(1); // 0.15 µ$ → 1
    expect(tokenCost(400, 2_500_000)).toBe(1_000);
    expect(tokenCost(0, 2_500_000)).toBe(0);
    expect(tokenCost(100, 0)).toBe(0);
    expect(Number.isInteger(tokenCost(12_345, 333_333))).toBe(true);
  });
});

describe("costOf", () => {
  test("input and output at their prices", () => {
    // 1000 × 2.5 + 500 × 10 = 2500 + 5000 µ$.
    expect(costOf(gpt4o, usage({ inputTokens: 1000, outputTokens: 500 }))).toBe(7_500);
  });

  test("cached input tokens (part of the input) at the cached price", () => {
    // 600 plain × 2.5 + 400 cached × 1.25 + 500 × 10 = 1500 + 500 + 5000.
    expect(costOf(gpt4o, usage({ inputTokens: 1000, cachedTokens: 400, outputTokens: 500 }))).toBe(7_000);
  });

  test("without a cached price, cached tokens cost the input price", () => {
    const noCache: Price = { ...gpt4o, cachedInputMicros: null };
    expect(costOf(noCache, usage({ inputTokens: 1000, cachedTokens: 400, outputTokens: 500 }))).toBe(7_500);
  });

  test("Anthropic cache writes at 1.25 × input, cache reads at the read price", () => {
    // input 1000 = 600 plain + 300 read + 100 written:
    // 600 × 3 + 300 × 0.3 + 100 × 3.75 + 200 × 15 = 1800 + 90 + 375 + 3000.
    const u = usage({ inputTokens: 1000, cachedTokens: 300, cacheWriteTokens: 100, outputTokens: 200 });
    expect(costOf(sonnet, u)).toBe(5_265);
  });

  test("cached and written tokens never count for more than the input", () => {
    // Nonsense usage (cached > input) is clamped: all 100 input tokens at the cached price.
    expect(costOf(gpt4o, usage({ inputTokens: 100, cachedTokens: 500 }))).toBe(125);
    expect(costOf(sonnet, usage({ inputTokens: 100, cachedTokens: 60, cacheWriteTokens: 80 }))).toBe(18 + 150);
  });

  test("no tokens, no cost; results are integers", () => {
    expect(costOf(gpt4o, usage({}))).toBe(0);
    const odd: Price = { inputMicros: 333_333, cachedInputMicros: 33_333, outputMicros: 1_111_111 };
    expect(Number.isInteger(costOf(odd, usage({ inputTokens: 7, cachedTokens: 3, cacheWriteTokens: 1, outputTokens: 13 })))).toBe(true);
  });
});
