/**
 * Reading token usage from every response shape keyward meters
 * (src/proxy/usage.ts): OpenAI chat and embeddings, the Responses API (also
 * nested in stream events) and Anthropic (cache fields, message_start).
 */
import { describe, expect, test } from "bun:test";
import { completeUsage, usageFrom } from "../../src/proxy/usage.ts";

describe("usageFrom", () => {
  test("OpenAI chat: prompt tokens include the cached ones", () => {
    expect(usageFrom({ usage: { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120, prompt_tokens_details: { cached_tokens: 40 } } })).toEqual({
      inputTokens: 100,
      outputTokens: 20,
      cachedTokens: 40,
    });
  });

  test("OpenAI embeddings: input only", () => {
    expect(usageFrom({ usage: { prompt_tokens: 8, total_tokens: 8 } })).toEqual({ inputTokens: 8, outputTokens: 0, cachedTokens: 0 });
  });

  test("Responses API, top level and inside a response.completed event", () => {
    const usage = { input_tokens: 900, input_tokens_details: { cached_tokens: 100 }, output_tokens: 250 };
    expect(usageFrom({ usage })).toEqual({ inputTokens: 900, cachedTokens: 100, outputTokens: 250 });
    expect(usageFrom({ type: "response.completed", response: { usage } })).toEqual({ inputTokens: 900, cachedTokens: 100, outputTokens: 250 });
    // Earlier events carry `usage: null`.
    expect(usageFrom({ type: "response.created", response: { usage: null } })).toBeUndefined();
  });

  test("Anthropic: input_tokens excludes cache reads and writes, so they are added", () => {
    const usage = { input_tokens: 100, cache_read_input_tokens: 300, cache_creation_input_tokens: 50, output_tokens: 40 };
    expect(usageFrom({ usage })).toEqual({ inputTokens: 450, cachedTokens: 300, cacheWriteTokens: 50, outputTokens: 40 });
    expect(usageFrom({ type: "message_start", message: { usage: { ...usage, output_tokens: 1 } } })).toMatchObject({ inputTokens: 450, outputTokens: 1 });
    // message_delta: output only, merged over message_start by the meter.
    expect(usageFrom({ type: "message_delta", usage: { output_tokens: 40 } })).toEqual({ outputTokens: 40 });
  });

  test("no usage, null usage or junk values: nothing", () => {
    expect(usageFrom({ id: "x" })).toBeUndefined();
    expect(usageFrom({ usage: null })).toBeUndefined();
    expect(usageFrom({ usage: { input_tokens: "12", output_tokens: -1 } })).toBeUndefined();
  });

  test("completeUsage fills what was not reported with zeros", () => {
    expect(completeUsage({ outputTokens: 3 })).toEqual({ inputTokens: 0, outputTokens: 3, cachedTokens: 0, cacheWriteTokens: 0 });
  });
});
