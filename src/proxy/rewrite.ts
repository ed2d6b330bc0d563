import type { RequestFacts } from "../limits/estimate.ts";

const encoder = new TextEncoder();

/** Sets `stream_options.include_usage` and the output cap where keyward needs them; returns the new body or undefined. */
export function rewriteBody(facts: RequestFacts, injectUsage: boolean, capTokens: number | undefined): Uint8Array<ArrayBuffer> | undefined {
  if (!facts.json || (!injectUsage && capTokens === undefined)) return undefined;
  const json = { ...facts.json };
  if (injectUsage) {
    const existing = typeof json.stream_options === "object" && json.stream_options !== null ? json.stream_options : {};
    json.stream_options = { ...existing, include_usage: true };
  }
  if (capTokens !== undefined && facts.maxTokensField) json[facts.maxTokensField] = capTokens;
  return encoder.encode(JSON.stringify(json));
}
