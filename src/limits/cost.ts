/**
 * What a request costs (`costOf`, from the usage the provider reports) and
 * what it may cost at most (`worstCaseCost`, from the request's token
 * bounds), under the same rules so the second is a ceiling of the first:
 * for any usage within the bounds, `costOf ≤ worstCaseCost`.
 *
 * Integer micro-dollars throughout, each part rounded up (`tokenCost`), so
 * keyward never undercharges.
 */
import { tokenCost } from "./money.ts";
import type { Price, Rates } from "./pricing.ts";
import { STANDARD_TERMS, type PricingTerms } from "./tiers.ts";

/** Tokens a provider reports for one request. */
export interface Usage {
  inputTokens: number;
  outputTokens: number;
  /** Part of `inputTokens` read from a prompt cache. */
  cachedTokens: number;
  /** Part of `inputTokens` written to a prompt cache (Anthropic bills 1.25 × input, 2 × for an hour). */
  cacheWriteTokens: number;
  /** Part of `cacheWriteTokens` written for an hour (`usage.cache_creation.ephemeral_1h_input_tokens`). */
  cacheWrite1hTokens?: number;
  /** Part of `cacheWriteTokens` written for 5 minutes (`usage.cache_creation.ephemeral_5m_input_tokens`). */
  cacheWrite5mTokens?: number;
}

/** Upper bounds of a request's tokens before it is sent. */
export interface TokenBound {
  promptTokens: number;
  outputTokens: number;
}

/** Rates of one band (standard or long context) of one tier. */
interface BandRates {
  input: number;
  cachedInput: number;
  output: number;
}

/** Cache writes for 5 minutes cost 1.25 × input; rounded up so the rate never undercharges. */
const write5mRate = (input: number): number => Math.ceil(input * 1.25);
/** Cache writes for an hour cost 2 × input. */
const write1hRate = (input: number): number => input * 2;

/**
 * Rounding each part up can add under 1 µ$ per part; the worst case rounds
 * one input sum, so it adds the slack of the other input parts (plain,
 * cached, 5-minute and 1-hour writes) to stay a ceiling.
 */
const INPUT_ROUNDING_SLACK = 3;

/** The tier's rates. Throws for a tier the price lacks: callers check `unpricedTerm` at admission. */
function tierRates(price: Price, terms: PricingTerms): Rates {
  const tier = terms.tier;
  if (!tier) return price;
  if (price.tiers && Object.hasOwn(price.tiers, tier.name)) {
    const rates = price.tiers[tier.name];
    if (rates) return rates;
  }
  // Flex is never dearer than standard, so the standard rate bounds it.
  if (tier.name === "flex") return price;
  throw new Error(`Cannot price ${tier.field} ${tier.value}: the price has no such tier; check unpricedTerm before admitting`);
}

function standardBand(rates: Rates): BandRates {
  return { input: rates.inputMicros, cachedInput: rates.cachedInputMicros ?? rates.inputMicros, output: rates.outputMicros };
}

function longBand(rates: Rates): BandRates | undefined {
  const long = rates.longContext;
  if (!long) return undefined;
  return { input: long.inputMicros, cachedInput: long.cachedInputMicros ?? long.inputMicros, output: long.outputMicros };
}

/** Long-context rates apply to the whole request once its input exceeds the threshold. */
function bandFor(rates: Rates, inputTokens: number): BandRates {
  const long = longBand(rates);
  const threshold = rates.longContext?.aboveInputTokens;
  return long && threshold !== undefined && inputTokens > threshold ? long : standardBand(rates);
}

const clamp = (n: number, max: number): number => Math.max(0, Math.min(n, max));

/**
 * Cost in micro-dollars of what the provider reports. Cached reads at the
 * cached rate; cache writes at 1.25 × input, or 2 × for the part written for
 * an hour: as reported, or all of them when the response gives no split and
 * the request asked for an hour. Long-context rates when the reported input
 * (reads and writes included) exceeds the threshold.
 */
export function costOf(price: Price, usage: Usage, terms: PricingTerms = STANDARD_TERMS): number {
  const band = bandFor(tierRates(price, terms), usage.inputTokens);
  const input = Math.max(0, usage.inputTokens);
  const cached = clamp(usage.cachedTokens, input);
  const writes = clamp(usage.cacheWriteTokens, input - cached);
  let hour: number;
  if (usage.cacheWrite1hTokens !== undefined) hour = usage.cacheWrite1hTokens;
  // Only the 5-minute part reported: the rest may be hour writes, and is charged so.
  else if (usage.cacheWrite5mTokens !== undefined) hour = writes - usage.cacheWrite5mTokens;
  else hour = terms.cacheWriteTtl === "1h" ? writes : 0;
  hour = clamp(hour, writes);
  const plain = input - cached - writes;
  return (
    tokenCost(plain, band.input) +
    tokenCost(cached, band.cachedInput) +
    tokenCost(writes - hour, write5mRate(band.input)) +
    tokenCost(hour, write1hRate(band.input)) +
    tokenCost(usage.outputTokens, band.output)
  );
}

/**
 * What a request may cost at most: every prompt token (the bound plus what
 * the provider adds, `promptOverheadTokens`) at the dearest input rate the
 * terms allow (an hour's cache write when the request asks for one), every
 * output token at the output rate, in the long-context band when the prompt
 * bound exceeds its threshold.
 */
export function worstCaseCost(price: Price, bound: TokenBound, terms: PricingTerms = STANDARD_TERMS): number {
  const prompt = Math.max(0, bound.promptTokens) + terms.promptOverheadTokens;
  const rates = tierRates(price, terms);
  const standard = standardBand(rates);
  const long = longBand(rates);
  const threshold = rates.longContext?.aboveInputTokens;
  // Past the threshold the settled band depends on the reported input, so take the dearer of the two per rate.
  const band =
    long && threshold !== undefined && prompt > threshold
      ? {
          input: Math.max(standard.input, long.input),
          cachedInput: Math.max(standard.cachedInput, long.cachedInput),
          output: Math.max(standard.output, long.output),
        }
      : standard;
  const writeRate = terms.cacheWriteTtl === "1h" ? write1hRate(band.input) : terms.cacheWriteTtl === "5m" ? write5mRate(band.input) : band.input;
  const inputRate = Math.max(writeRate, band.input, band.cachedInput);
  const input = tokenCost(prompt, inputRate);
  return (input > 0 ? input + INPUT_ROUNDING_SLACK : 0) + tokenCost(bound.outputTokens, band.output);
}
