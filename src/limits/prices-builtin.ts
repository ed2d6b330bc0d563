/**
 * Built-in list prices in USD per million tokens (input, cached input,
 * output), as the providers publish them for standard (non-batch) requests.
 * Every model is named exactly: a dated snapshot (`gpt-4o-2024-08-06`) falls
 * back to its base entry only through its date suffix, and nothing else is
 * matched by prefix, since `gpt-5-pro` or `claude-sonnet-4-6` cost more than
 * the names they start with. A model missing here is refused on keys with a
 * budget until an admin prices it with `PUT /api/prices/{model}`.
 */
export interface BuiltinRates {
  input: number;
  cachedInput?: number;
  output: number;
  /** Rates for the whole request once its input exceeds `aboveInputTokens`. */
  longContext?: { aboveInputTokens: number; input: number; cachedInput?: number; output: number };
}

export interface BuiltinPrice extends BuiltinRates {
  /**
   * Rates for a non-standard tier by name (OpenAI `service_tier: "priority"`).
   * A tier missing here is refused on budgeted keys, except `flex`, which is
   * never dearer than standard and so is charged the standard rate.
   */
  tiers?: Record<string, BuiltinRates>;
}

/** The day the table below was last checked against the sources. */
export const BUILTIN_PRICES_AS_OF = "2026-12-07";

/** The providers' public pricing pages the table is taken from. */
export const BUILTIN_PRICE_SOURCES: readonly string[] = [
  "https://platform.openai.com/docs/pricing",
  "https://openai.com/api-priority-processing/",
  "https://docs.anthropic.com/en/docs/about-claude/pricing",
  "https://ai.google.dev/gemini-api/docs/pricing",
];

// Claude Sonnet 4 and 4.5 with the 1M-context beta: every token of a request
// whose input (cache reads and writes included) exceeds 200k is billed at these.
const SONNET_LONG_CONTEXT = { aboveInputTokens: 200_000, input: 6, cachedInput: 0.6, output: 22.5 };

// OpenAI flex processing is billed at Batch rates, half of standard.
const half = (r: BuiltinRates): BuiltinRates => ({
  input: r.input / 2,
  ...(r.cachedInput === undefined ? {} : { cachedInput: r.cachedInput / 2 }),
  output: r.output / 2,
});

const GPT_5 = { input: 1.25, cachedInput: 0.125, output: 10 };
const GPT_5_PRIORITY = { input: 2.5, cachedInput: 0.25, output: 20 };
const GPT_5_MINI = { input: 0.25, cachedInput: 0.025, output: 2 };
const GPT_5_NANO = { input: 0.05, cachedInput: 0.005, output: 0.4 };
const O3 = { input: 2, cachedInput: 0.5, output: 8 };
const O4_MINI = { input: 1.1, cachedInput: 0.275, output: 4.4 };

export const BUILTIN_PRICES: Record<string, BuiltinPrice> = {
  // OpenAI
  "gpt-5": { ...GPT_5, tiers: { priority: GPT_5_PRIORITY, flex: half(GPT_5) } },
  "gpt-5-mini": {
    ...GPT_5_MINI,
    tiers: { priority: { input: 0.45, cachedInput: 0.045, output: 3.6 }, flex: half(GPT_5_MINI) },
  },
  "gpt-5-nano": { ...GPT_5_NANO, tiers: { flex: half(GPT_5_NANO) } },
  "gpt-5-pro": { input: 15, output: 120 },
  "gpt-5-codex": { ...GPT_5, tiers: { priority: GPT_5_PRIORITY } },
  "gpt-5.1": { ...GPT_5, tiers: { priority: GPT_5_PRIORITY } },
  "gpt-5.1-codex": { ...GPT_5, tiers: { priority: GPT_5_PRIORITY } },
  "gpt-4.1": { input: 2, cachedInput: 0.5, output: 8, tiers: { priority: { input: 3.5, cachedInput: 0.875, output: 14 } } },
  "gpt-4.1-mini": {
    input: 0.4,
    cachedInput: 0.1,
    output: 1.6,
    tiers: { priority: { input: 0.7, cachedInput: 0.175, output: 2.8 } },
  },
  "gpt-4.1-nano": {
    input: 0.1,
    cachedInput: 0.025,
    output: 0.4,
    tiers: { priority: { input: 0.2, cachedInput: 0.05, output: 0.8 } },
  },
  "gpt-4o": { input: 2.5, cachedInput: 1.25, output: 10, tiers: { priority: { input: 4.25, cachedInput: 2.125, output: 17 } } },
  // The first gpt-4o snapshot kept its launch price; later snapshots follow `gpt-4o`.
  "gpt-4o-2024-05-13": { input: 5, output: 15, tiers: { priority: { input: 8.75, output: 26.25 } } },
  "gpt-4o-mini": { input: 0.15, cachedInput: 0.075, output: 0.6 },
  "gpt-4-turbo": { input: 10, output: 30 },
  "gpt-3.5-turbo": { input: 0.5, output: 1.5 },
  o1: { input: 15, cachedInput: 7.5, output: 60 },
  "o1-mini": { input: 1.1, cachedInput: 0.55, output: 4.4 },
  o3: { ...O3, tiers: { flex: half(O3) } },
  "o3-mini": { input: 1.1, cachedInput: 0.55, output: 4.4 },
  "o4-mini": { ...O4_MINI, tiers: { flex: half(O4_MINI) } },
  "text-embedding-3-small": { input: 0.02, output: 0 },
  "text-embedding-3-large": { input: 0.13, output: 0 },
  "text-embedding-ada-002": { input: 0.1, output: 0 },
  // Anthropic (cached input = cache reads; cache writes cost 1.25 × input for 5 minutes, 2 × for an hour)
  "claude-opus-4-5": { input: 5, cachedInput: 0.5, output: 25 },
  "claude-opus-4-1": { input: 15, cachedInput: 1.5, output: 75 },
  "claude-opus-4": { input: 15, cachedInput: 1.5, output: 75 },
  "claude-opus-4-0": { input: 15, cachedInput: 1.5, output: 75 },
  "claude-sonnet-4-5": { input: 3, cachedInput: 0.3, output: 15, longContext: SONNET_LONG_CONTEXT },
  "claude-sonnet-4": { input: 3, cachedInput: 0.3, output: 15, longContext: SONNET_LONG_CONTEXT },
  "claude-sonnet-4-0": { input: 3, cachedInput: 0.3, output: 15, longContext: SONNET_LONG_CONTEXT },
  "claude-haiku-4-5": { input: 1, cachedInput: 0.1, output: 5 },
  "claude-3-7-sonnet": { input: 3, cachedInput: 0.3, output: 15 },
  "claude-3-5-sonnet": { input: 3, cachedInput: 0.3, output: 15 },
  "claude-3-5-haiku": { input: 0.8, cachedInput: 0.08, output: 4 },
  "claude-3-haiku": { input: 0.25, cachedInput: 0.03, output: 1.25 },
  // Google Gemini (text input; cached = context-cache reads)
  "gemini-2.5-pro": {
    input: 1.25,
    cachedInput: 0.31,
    output: 10,
    longContext: { aboveInputTokens: 200_000, input: 2.5, cachedInput: 0.625, output: 15 },
  },
  "gemini-2.5-flash": { input: 0.3, cachedInput: 0.075, output: 2.5 },
  "gemini-2.5-flash-lite": { input: 0.1, cachedInput: 0.025, output: 0.4 },
  "gemini-2.0-flash": { input: 0.1, cachedInput: 0.025, output: 0.4 },
  "gemini-2.0-flash-lite": { input: 0.075, output: 0.3 },
  "text-embedding-004": { input: 0, output: 0 },
};
