/**
 * Built-in list prices in USD per million tokens (input, cached input, output),
 * as the providers publish them for standard (non-batch) requests. `family`
 * entries also price newer snapshots of the same line (`claude-sonnet-4-6`
 * under `claude-sonnet-4`); admins override or add any model through
 * `PUT /api/prices/{model}`.
 */
export interface BuiltinPrice {
  input: number;
  cachedInput?: number;
  output: number;
  family?: boolean;
}

export const BUILTIN_PRICES: Record<string, BuiltinPrice> = {
  // OpenAI
  "gpt-5": { input: 1.25, cachedInput: 0.125, output: 10, family: true },
  "gpt-5-mini": { input: 0.25, cachedInput: 0.025, output: 2, family: true },
  "gpt-5-nano": { input: 0.05, cachedInput: 0.005, output: 0.4, family: true },
  "gpt-4.1": { input: 2, cachedInput: 0.5, output: 8 },
  "gpt-4.1-mini": { input: 0.4, cachedInput: 0.1, output: 1.6 },
  "gpt-4.1-nano": { input: 0.1, cachedInput: 0.025, output: 0.4 },
  "gpt-4o": { input: 2.5, cachedInput: 1.25, output: 10 },
  "gpt-4o-mini": { input: 0.15, cachedInput: 0.075, output: 0.6 },
  "gpt-4-turbo": { input: 10, output: 30 },
  "gpt-3.5-turbo": { input: 0.5, output: 1.5 },
  o1: { input: 15, cachedInput: 7.5, output: 60 },
  "o1-mini": { input: 1.1, cachedInput: 0.55, output: 4.4 },
  o3: { input: 2, cachedInput: 0.5, output: 8 },
  "o3-mini": { input: 1.1, cachedInput: 0.55, output: 4.4 },
  "o4-mini": { input: 1.1, cachedInput: 0.275, output: 4.4 },
  "text-embedding-3-small": { input: 0.02, output: 0 },
  "text-embedding-3-large": { input: 0.13, output: 0 },
  "text-embedding-ada-002": { input: 0.1, output: 0 },
  // Anthropic (cached input = cache reads; cache writes cost 1.25 × input)
  "claude-opus-4-5": { input: 5, cachedInput: 0.5, output: 25, family: true },
  "claude-opus-4-1": { input: 15, cachedInput: 1.5, output: 75 },
  "claude-opus-4": { input: 15, cachedInput: 1.5, output: 75 },
  "claude-sonnet-4": { input: 3, cachedInput: 0.3, output: 15, family: true },
  "claude-haiku-4": { input: 1, cachedInput: 0.1, output: 5, family: true },
  "claude-3-7-sonnet": { input: 3, cachedInput: 0.3, output: 15 },
  "claude-3-5-sonnet": { input: 3, cachedInput: 0.3, output: 15 },
  "claude-3-5-haiku": { input: 0.8, cachedInput: 0.08, output: 4 },
  "claude-3-haiku": { input: 0.25, cachedInput: 0.03, output: 1.25 },
  // Google Gemini (prompts up to 200k tokens)
  "gemini-2.5-pro": { input: 1.25, cachedInput: 0.31, output: 10 },
  "gemini-2.5-flash": { input: 0.3, cachedInput: 0.075, output: 2.5 },
  "gemini-2.5-flash-lite": { input: 0.1, cachedInput: 0.025, output: 0.4 },
  "gemini-2.0-flash": { input: 0.1, cachedInput: 0.025, output: 0.4 },
  "gemini-2.0-flash-lite": { input: 0.075, output: 0.3 },
  "text-embedding-004": { input: 0, output: 0 },
};
