/**
 * Money is integer micro-dollars everywhere inside keyward; USD decimals
 * exist only at the API edge. Floats would let a thousand 0.1-cent requests
 * drift off their sum.
 */
export const MICROS_PER_USD = 1_000_000;

/** Largest amount accepted anywhere: a million dollars. */
export const MAX_USD = 1_000_000;

export function usdToMicros(usd: number): number {
  return Math.round(usd * MICROS_PER_USD);
}

export function microsToUsd(micros: number): number {
  return micros / MICROS_PER_USD;
}

/** Cost of `tokens` at a price in micro-dollars per million tokens, rounded up so keyward never undercharges. */
export function tokenCost(tokens: number, microsPerMillion: number): number {
  if (tokens <= 0 || microsPerMillion <= 0) return 0;
  return Math.ceil((tokens * microsPerMillion) / 1_000_000);
}
