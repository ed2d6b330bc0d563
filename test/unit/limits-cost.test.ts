/**
 * Cost functions (src/limits/cost.ts): settlement from reported usage and
 * the worst-case reservation, under tiers, long context and cache-write
 * lifetimes; integer micro-dollars rounded up; the reservation a ceiling.
 */
import { describe, expect, test } from "bun:test";
import { costOf, worstCaseCost, type Usage } from "../../src/limits/cost.ts";
import type { Price } from "../../src/limits/pricing.ts";
import { STANDARD_TERMS, type PricingTerms } from "../../src/limits/tiers.ts";

const usage = (u: Partial<Usage>): Usage => ({ inputTokens: 0, outputTokens: 0, cachedTokens: 0, cacheWriteTokens: 0, ...u });

// gpt-4o: $2.50 in, $1.25 cached in, $10 out per million tokens.
const gpt4o: Price = { inputMicros: 2_500_000, cachedInputMicros: 1_250_000, outputMicros: 10_000_000 };
// claude-sonnet-4-5: $3 in, $0.30 cache read, $15 out; past 200k input: $6, $0.60, $22.50.
const sonnet: Price = {
  inputMicros: 3_000_000,
  cachedInputMicros: 300_000,
  outputMicros: 15_000_000,
  longContext: { aboveInputTokens: 200_000, inputMicros: 6_000_000, cachedInputMicros: 600_000, outputMicros: 22_500_000 },
};
// gemini-2.5-pro: $1.25 in, $10 out; past 200k: $2.50, $15 (no long-context cached rate given).
const gemini: Price = {
  inputMicros: 1_250_000,
  cachedInputMicros: 310_000,
  outputMicros: 10_000_000,
  longContext: { aboveInputTokens: 200_000, inputMicros: 2_500_000, outputMicros: 15_000_000 },
};
// gpt-5 with priority and flex rates.
const gpt5: Price = {
  inputMicros: 1_250_000,
  cachedInputMicros: 125_000,
  outputMicros: 10_000_000,
  tiers: {
    priority: { inputMicros: 2_500_000, cachedInputMicros: 250_000, outputMicros: 20_000_000 },
    flex: { inputMicros: 625_000, cachedInputMicros: 62_500, outputMicros: 5_000_000 },
  },
};

const tier = (name: string): PricingTerms => ({ tier: { name, field: "service_tier", value: name }, promptOverheadTokens: 0 });
const ttl = (cacheWriteTtl: "5m" | "1h"): PricingTerms => ({ cacheWriteTtl, promptOverheadTokens: 0 });

describe("costOf", () => {
  test("the rules of gate.ts: input, cached reads, 5-minute writes at 1.25 × input, output", () => {
    expect(costOf(gpt4o, usage({ inputTokens: 1000, outputTokens: 500 }))).toBe(7_500);
    expect(costOf(gpt4o, usage({ inputTokens: 1000, cachedTokens: 400, outputTokens: 500 }))).toBe(7_000);
    // 600 × 3 + 300 × 0.3 + 100 × 3.75 + 200 × 15.
    const u = usage({ inputTokens: 1000, cachedTokens: 300, cacheWriteTokens: 100, outputTokens: 200 });
    expect(costOf(sonnet, u)).toBe(1_800 + 90 + 375 + 3_000);
    expect(costOf(sonnet, u, STANDARD_TERMS)).toBe(costOf(sonnet, u));
  });

  test("integer micro-dollars, each part rounded up", () => {
    // 1 token at $2.50/M is 2.5 µ$ → 3; 1 output token at $10/M is 10 µ$.
    expect(costOf(gpt4o, usage({ inputTokens: 1, outputTokens: 1 }))).toBe(13);
    // 1 cache write at 3.75 µ$ → 4; 1 cache read at 0.3 µ$ → 1.
    expect(costOf(sonnet, usage({ inputTokens: 2, cachedTokens: 1, cacheWriteTokens: 1 }))).toBe(5);
    const odd: Price = { inputMicros: 333_333, cachedInputMicros: 33_333, outputMicros: 1_111_111 };
    expect(Number.isInteger(costOf(odd, usage({ inputTokens: 7, cachedTokens: 3, cacheWriteTokens: 1, outputTokens: 13 }), ttl("1h")))).toBe(true);
  });

  test("service tiers: the tier's rates; flex without a flex rate at the standard rate", () => {
    const u = usage({ inputTokens: 1000, outputTokens: 100 });
    expect(costOf(gpt5, u, tier("priority"))).toBe(2_500 + 2_000);
    expect(costOf(gpt5, u, tier("flex"))).toBe(625 + 500);
    expect(costOf(gpt4o, u, tier("flex"))).toBe(costOf(gpt4o, u));
    expect(() => costOf(gpt4o, u, tier("priority"))).toThrow("Cannot price service_tier priority");
  });

  test("1h cache writes at 2 × input: the reported split, else all of them when the request asked for 1h", () => {
    // 1000 written, reported as 600 for an hour and 400 for 5 minutes: 600 × 6 + 400 × 3.75.
    const split = usage({ inputTokens: 1000, cacheWriteTokens: 1000, cacheWrite1hTokens: 600, cacheWrite5mTokens: 400 });
    expect(costOf(sonnet, split, ttl("1h"))).toBe(3_600 + 1_500);
    // The split wins over the request's ttl.
    expect(costOf(sonnet, split, ttl("5m"))).toBe(3_600 + 1_500);
    // Only a total: at 2 × when 1h was asked for, 1.25 × otherwise.
    const total = usage({ inputTokens: 1000, cacheWriteTokens: 1000 });
    expect(costOf(sonnet, total, ttl("1h"))).toBe(6_000);
    expect(costOf(sonnet, total, ttl("5m"))).toBe(3_750);
    expect(costOf(sonnet, total)).toBe(3_750);
    // Only the 5-minute part reported: the rest is charged as hour writes.
    expect(costOf(sonnet, usage({ inputTokens: 1000, cacheWriteTokens: 1000, cacheWrite5mTokens: 400 }), ttl("1h"))).toBe(3_600 + 1_500);
    // A reported split larger than the writes is clamped to them.
    expect(costOf(sonnet, usage({ inputTokens: 1000, cacheWriteTokens: 100, cacheWrite1hTokens: 5_000 }))).toBe(900 * 3 + 100 * 6);
  });

  test("long context by the REPORTED input: the whole request at the higher rates past the threshold", () => {
    const at = usage({ inputTokens: 200_000, outputTokens: 1_000 });
    expect(costOf(sonnet, at)).toBe(600_000 + 15_000);
    const past = usage({ inputTokens: 200_001, outputTokens: 1_000 });
    expect(costOf(sonnet, past)).toBe(1_200_006 + 22_500);
    // Cache reads and writes count toward the threshold and are priced from the long-context input rate.
    const cached = usage({ inputTokens: 300_000, cachedTokens: 100_000, cacheWriteTokens: 100_000, cacheWrite1hTokens: 100_000 });
    expect(costOf(sonnet, cached, ttl("1h"))).toBe(600_000 + 60_000 + 1_200_000);
    // Without a long-context cached rate, cached reads cost the long-context input rate.
    expect(costOf(gemini, usage({ inputTokens: 300_000, cachedTokens: 100_000 }))).toBe(750_000);
    expect(costOf(gemini, usage({ inputTokens: 100_000, cachedTokens: 100_000 }))).toBe(31_000);
  });
});

describe("worstCaseCost", () => {
  test("every prompt token at input, every output token at output, with rounding slack", () => {
    // 1000 × 2.5 + 3 µ$ of rounding slack + 500 × 10.
    expect(worstCaseCost(gpt4o, { promptTokens: 1000, outputTokens: 500 })).toBe(2_503 + 5_000);
    expect(worstCaseCost(gpt4o, { promptTokens: 0, outputTokens: 0 })).toBe(0);
    expect(Number.isInteger(worstCaseCost(gpt4o, { promptTokens: 7, outputTokens: 3 }))).toBe(true);
  });

  test("tiers price the reservation too", () => {
    expect(worstCaseCost(gpt5, { promptTokens: 1000, outputTokens: 100 }, tier("priority"))).toBe(2_503 + 2_000);
    expect(worstCaseCost(gpt4o, { promptTokens: 1000, outputTokens: 100 }, tier("flex"))).toBe(2_503 + 1_000);
  });

  test("cache writes: every prompt token may be a write of the longest ttl asked for", () => {
    const bound = { promptTokens: 1000, outputTokens: 0 };
    expect(worstCaseCost(sonnet, bound)).toBe(3_003);
    expect(worstCaseCost(sonnet, bound, ttl("5m"))).toBe(3_753);
    expect(worstCaseCost(sonnet, bound, ttl("1h"))).toBe(6_003);
  });

  test("hidden prompt tokens (tool-use system prompts) are added to the bound", () => {
    expect(worstCaseCost(sonnet, { promptTokens: 100, outputTokens: 0 }, { promptOverheadTokens: 600 })).toBe(2_100 + 3);
  });

  test("long context by the prompt BOUND: past the threshold the whole request at the higher rates", () => {
    expect(worstCaseCost(sonnet, { promptTokens: 200_000, outputTokens: 1_000 })).toBe(600_003 + 15_000);
    expect(worstCaseCost(sonnet, { promptTokens: 200_001, outputTokens: 1_000 })).toBe(1_200_006 + 3 + 22_500);
    expect(worstCaseCost(sonnet, { promptTokens: 200_001, outputTokens: 0 }, ttl("1h"))).toBe(2_400_012 + 3);
    // The overhead can carry a prompt past the threshold.
    expect(worstCaseCost(sonnet, { promptTokens: 199_900, outputTokens: 0 }, { promptOverheadTokens: 600 })).toBe(1_203_000 + 3);
  });

  test("is a ceiling of costOf for any usage within the bound and the terms", () => {
    let seed = 42;
    const rand = (n: number): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % (n + 1);
    };
    const odd: Price = {
      inputMicros: 333_333,
      cachedInputMicros: 33_333,
      outputMicros: 1_111_111,
      longContext: { aboveInputTokens: 500, inputMicros: 666_667, outputMicros: 1_777_777 },
    };
    const cases: Array<[Price, PricingTerms]> = [
      [gpt4o, STANDARD_TERMS],
      [gpt5, tier("priority")],
      [gpt4o, tier("flex")],
      [sonnet, ttl("5m")],
      [sonnet, ttl("1h")],
      [gemini, STANDARD_TERMS],
      [odd, ttl("1h")],
    ];
    for (const [price, terms] of cases) {
      for (let i = 0; i < 2_000; i++) {
        const bound = { promptTokens: rand(1_000), outputTokens: rand(300) };
        const input = rand(bound.promptTokens);
        const cached = rand(input);
        const writes = terms.cacheWriteTtl ? rand(input - cached) : 0;
        const hour = terms.cacheWriteTtl === "1h" ? rand(writes) : 0;
        const u = usage({
          inputTokens: input,
          cachedTokens: cached,
          cacheWriteTokens: writes,
          cacheWrite1hTokens: hour,
          outputTokens: rand(bound.outputTokens),
        });
        const settled = costOf(price, u, terms);
        const reserved = worstCaseCost(price, bound, terms);
        if (settled > reserved) throw new Error(`${JSON.stringify({ price, terms, bound, u })}: ${settled} > ${reserved}`);
      }
    }
  });
});
