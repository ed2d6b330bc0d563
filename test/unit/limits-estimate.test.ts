/**
 * The worst-case bound a reservation is made from (src/limits/estimate.ts):
 * prompt = UTF-8 bytes of the body + 2000 per image part; output = the
 * request's cap × n, or the default keyward will write into the request.
 */
import { describe, expect, test } from "bun:test";
import { IMAGE_TOKENS, outputCapField, readRequestFacts } from "../../src/limits/estimate.ts";

const facts = (body: unknown, path = "/chat/completions", provider = "openai", defaultMax = 4096) => {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  return readRequestFacts(new TextEncoder().encode(text), text, path, provider, defaultMax);
};

describe("readRequestFacts", () => {
  test("prompt bound is the body's UTF-8 byte length, not its character count", () => {
    const body = { model: "gpt-4o", messages: [{ role: "user", content: "héllo 👋 — 日本語" }] };
    const text = JSON.stringify(body);
    const f = facts(body);
    expect(f?.promptTokensBound).toBe(Buffer.byteLength(text));
    expect(f?.promptTokensBound).toBeGreaterThan(text.length);
  });

  test("each image part adds IMAGE_TOKENS (a URL is few bytes but many tokens)", () => {
    const body = {
      model: "gpt-4o",
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "what is this?" },
            { type: "image_url", image_url: { url: "https://example.com/a.png" } },
            { type: "image_url", image_url: { url: "https://example.com/b.png" } },
          ],
        },
      ],
    };
    expect(facts(body)?.promptTokensBound).toBe(Buffer.byteLength(JSON.stringify(body)) + 2 * IMAGE_TOKENS);
    const responses = { model: "gpt-4o", input: [{ role: "user", content: [{ type: "input_image", image_url: "https://x/y.png" }] }] };
    expect(facts(responses, "/responses")?.promptTokensBound).toBe(Buffer.byteLength(JSON.stringify(responses)) + IMAGE_TOKENS);
    const anthropic = {
      model: "claude-sonnet-4-6",
      messages: [{ role: "user", content: [{ type: "image", source: { type: "url", url: "https://x/y.png" } }] }],
    };
    expect(facts(anthropic, "/messages", "anthropic")?.promptTokensBound).toBe(Buffer.byteLength(JSON.stringify(anthropic)) + IMAGE_TOKENS);
  });

  test("text that merely mentions an image type adds nothing", () => {
    const body = { model: "gpt-4o", messages: [{ role: "user", content: 'explain {"type": "image_url"} and "image"' }] };
    expect(facts(body)?.promptTokensBound).toBe(Buffer.byteLength(JSON.stringify(body)));
  });

  test("output bound: the client's cap (any of the three field names) × n", () => {
    expect(facts({ model: "m", max_tokens: 300 })?.outputTokensBound).toBe(300);
    expect(facts({ model: "m", max_completion_tokens: 200, n: 3 })?.outputTokensBound).toBe(600);
    expect(facts({ model: "m", max_output_tokens: 50 }, "/responses")?.outputTokensBound).toBe(50);
    expect(facts({ model: "m", max_tokens: 300 })?.clientMaxTokens).toBe(300);
  });

  test("without a cap, the default (which keyward then writes into the request)", () => {
    const f = facts({ model: "m", n: 2 }, "/chat/completions", "openai", 1000);
    expect(f?.outputTokensBound).toBe(2000);
    expect(f?.clientMaxTokens).toBeUndefined();
    expect(f?.maxTokensField).toBe("max_completion_tokens");
    // Nonsense caps do not count as caps.
    expect(facts({ model: "m", max_tokens: -1 }, "/chat/completions", "openai", 1000)?.outputTokensBound).toBe(1000);
    expect(facts({ model: "m", max_tokens: 1.5 }, "/chat/completions", "openai", 1000)?.outputTokensBound).toBe(1000);
  });

  test("endpoints without priced output have no output bound", () => {
    const f = facts({ model: "text-embedding-3-small", input: "hi" }, "/embeddings");
    expect(f?.outputTokensBound).toBeUndefined();
    expect(f?.maxTokensField).toBeUndefined();
  });

  test("stream flags and model", () => {
    expect(facts({ model: "m", stream: true })).toMatchObject({ model: "m", stream: true, clientIncludeUsage: false });
    expect(facts({ model: "m", stream: true, stream_options: { include_usage: true } })?.clientIncludeUsage).toBe(true);
    expect(facts({ messages: [] })?.model).toBeUndefined();
    expect(facts({ model: "" })?.model).toBeUndefined();
  });

  test("a body that is not a JSON object gives no facts", () => {
    expect(facts("not json")).toBeUndefined();
    expect(facts("[1,2]")).toBeUndefined();
    expect(facts("null")).toBeUndefined();
    expect(readRequestFacts(undefined, undefined, "/chat/completions", "openai", 1)).toBeUndefined();
  });
});

describe("outputCapField", () => {
  test("where each endpoint keeps its output cap", () => {
    expect(outputCapField("/chat/completions", "openai")).toBe("max_completion_tokens");
    expect(outputCapField("/chat/completions", "gemini")).toBe("max_tokens");
    expect(outputCapField("/responses", "openai")).toBe("max_output_tokens");
    expect(outputCapField("/messages", "anthropic")).toBe("max_tokens");
    expect(outputCapField("/completions", "openai")).toBe("max_tokens");
    expect(outputCapField("/embeddings", "openai")).toBeUndefined();
  });
});
