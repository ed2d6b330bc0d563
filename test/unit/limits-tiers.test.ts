/**
 * Pricing terms (src/limits/tiers.ts): which request fields change the
 * price, which a budgeted key prices, and which it refuses naming the field.
 */
import { describe, expect, test } from "bun:test";
import type { Price } from "../../src/limits/pricing.ts";
import { CLIENT_TOOL_OVERHEAD_TOKENS, readPricingTerms, TOOL_USE_OVERHEAD_TOKENS, unpricedTerm, type PricingTerms } from "../../src/limits/tiers.ts";

const chat = (extra: Record<string, unknown> = {}) => ({ model: "gpt-5", messages: [{ role: "user", content: "hi" }], ...extra });
const claude = (extra: Record<string, unknown> = {}) => ({
  model: "claude-sonnet-4-5",
  max_tokens: 100,
  messages: [{ role: "user", content: "hi" }],
  ...extra,
});

function terms(json: Record<string, unknown>, provider: string): PricingTerms {
  const read = readPricingTerms(json, provider);
  if (!read.ok) throw new Error(`refused: ${read.message}`);
  return read.terms;
}

function refusal(json: Record<string, unknown>, provider: string) {
  const read = readPricingTerms(json, provider);
  if (read.ok) throw new Error("expected a refusal");
  return read;
}

const plain: Price = { inputMicros: 1_250_000, cachedInputMicros: 125_000, outputMicros: 10_000_000 };
const withPriority: Price = { ...plain, tiers: { priority: { inputMicros: 2_500_000, cachedInputMicros: 250_000, outputMicros: 20_000_000 } } };

describe("service_tier", () => {
  test("absent, null, auto and default are the standard tier (OpenAI and compatibles)", () => {
    for (const provider of ["openai", "azure-openai", "openai-compatible", "gemini"]) {
      expect(terms(chat(), provider)).toEqual({ promptOverheadTokens: 0 });
      expect(terms(chat({ service_tier: null }), provider).tier).toBeUndefined();
      expect(terms(chat({ service_tier: "auto" }), provider).tier).toBeUndefined();
      expect(terms(chat({ service_tier: "default" }), provider).tier).toBeUndefined();
    }
  });

  test("Anthropic auto and standard_only are the standard tier", () => {
    expect(terms(claude({ service_tier: "auto" }), "anthropic").tier).toBeUndefined();
    expect(terms(claude({ service_tier: "standard_only" }), "anthropic").tier).toBeUndefined();
  });

  test("flex is priced: at the price's flex rate, else at the standard rate (an upper bound)", () => {
    const read = terms(chat({ service_tier: "flex" }), "openai");
    expect(read.tier).toEqual({ name: "flex", field: "service_tier", value: "flex" });
    expect(unpricedTerm(plain, read)).toBeUndefined();
  });

  test("priority, scale and unknown tiers are priced only where the price lists them, else refused naming the field", () => {
    const priority = terms(chat({ service_tier: "priority" }), "openai");
    expect(unpricedTerm(withPriority, priority)).toBeUndefined();
    expect(unpricedTerm(plain, priority)).toMatchObject({ ok: false, field: "service_tier", code: "pricing_tier_unknown" });
    expect(unpricedTerm(plain, priority)?.message).toBe(
      "Cannot meter service_tier priority: this model has no price for it in keyward; leave service_tier unset or use a key without a budget",
    );
    for (const value of ["scale", "turbo", "constructor", "__proto__"]) {
      const read = terms(chat({ service_tier: value }), "openai");
      expect(unpricedTerm(withPriority, read)).toMatchObject({ field: "service_tier", code: "pricing_tier_unknown" });
    }
    // Anthropic values other than the two standard ones are tiers too.
    expect(unpricedTerm(plain, terms(claude({ service_tier: "priority" }), "anthropic"))?.field).toBe("service_tier");
  });

  test("a service_tier that is not a string is refused", () => {
    expect(refusal(chat({ service_tier: 1 }), "openai")).toMatchObject({ field: "service_tier", code: "pricing_tier_unknown" });
  });

  test("Anthropic speed fast and a pinned inference_geo are tiers; standard values are not", () => {
    expect(terms(claude({ speed: "standard", inference_geo: "global" }), "anthropic").tier).toBeUndefined();
    const fast = terms(claude({ speed: "fast" }), "anthropic");
    expect(fast.tier).toEqual({ name: "fast", field: "speed", value: "fast" });
    expect(unpricedTerm(plain, fast)?.field).toBe("speed");
    const geo = terms(claude({ inference_geo: "us" }), "anthropic");
    expect(geo.tier?.name).toBe("inference_geo:us");
    expect(unpricedTerm(plain, geo)?.message).toStartWith("Cannot meter inference_geo us:");
    // Two modifiers at once have no single listed rate.
    expect(refusal(claude({ service_tier: "priority", speed: "fast" }), "anthropic")).toMatchObject({
      field: "speed",
      code: "pricing_tier_unknown",
    });
  });
});

describe("server-side tools", () => {
  test("Anthropic server tools are refused naming tools[i].type", () => {
    for (const type of ["web_search_20250305", "web_fetch_20250910", "code_execution_20250825", "memory_20250818", "mcp_toolset"]) {
      const body = claude({
        tools: [
          { name: "f", input_schema: { type: "object" } },
          { type, name: "x" },
        ],
      });
      const read = refusal(body, "anthropic");
      expect(read).toMatchObject({ field: "tools[1].type", code: "server_tool_not_metered" });
      expect(read.message).toStartWith(`Cannot meter tools[1].type: ${type} is billed beyond`);
    }
    // max_uses caps the calls but not the results fed back as input: still refused.
    expect(refusal(claude({ tools: [{ type: "web_search_20250305", name: "web_search", max_uses: 1 }] }), "anthropic").field).toBe("tools[0].type");
    expect(refusal(claude({ mcp_servers: [{ type: "url", url: "https://mcp.example", name: "m" }] }), "anthropic")).toMatchObject({
      field: "mcp_servers",
      code: "server_tool_not_metered",
    });
  });

  test("Anthropic custom tools add the tool-use system prompt; client tools add their hidden definitions", () => {
    expect(terms(claude({ tools: [{ name: "f", input_schema: { type: "object" } }] }), "anthropic").promptOverheadTokens).toBe(TOOL_USE_OVERHEAD_TOKENS);
    expect(terms(claude({ tools: [{ type: "custom", name: "f", input_schema: {} }] }), "anthropic").promptOverheadTokens).toBe(TOOL_USE_OVERHEAD_TOKENS);
    const client = claude({
      tools: [
        { type: "bash_20250124", name: "bash" },
        { type: "text_editor_20250728", name: "str_replace_based_edit_tool" },
        { type: "computer_20250124", name: "computer", display_width_px: 1024, display_height_px: 768 },
      ],
    });
    expect(terms(client, "anthropic").promptOverheadTokens).toBe(TOOL_USE_OVERHEAD_TOKENS + 3 * CLIENT_TOOL_OVERHEAD_TOKENS);
    expect(terms(claude({ tools: [] }), "anthropic").promptOverheadTokens).toBe(0);
  });

  test("OpenAI Responses built-in tools are refused; functions and custom tools pass", () => {
    for (const type of [
      "web_search",
      "web_search_preview",
      "file_search",
      "code_interpreter",
      "image_generation",
      "computer_use_preview",
      "mcp",
      "local_shell",
    ]) {
      const body = { model: "gpt-5", input: "hi", tools: [{ type: "function", name: "f", parameters: {} }, { type }] };
      expect(refusal(body, "openai")).toMatchObject({ field: "tools[1].type", code: "server_tool_not_metered" });
      expect(refusal(body, "azure-openai").field).toBe("tools[1].type");
    }
    const ok = {
      model: "gpt-5",
      input: "hi",
      tools: [
        { type: "function", name: "f" },
        { type: "custom", name: "g" },
      ],
    };
    expect(terms(ok, "openai")).toEqual({ promptOverheadTokens: 0 });
    expect(terms(chat({ tools: [{ type: "function", function: { name: "f" } }] }), "openai")).toEqual({ promptOverheadTokens: 0 });
  });

  test("Chat Completions web_search_options is refused", () => {
    expect(refusal(chat({ web_search_options: {} }), "openai")).toMatchObject({ field: "web_search_options", code: "server_tool_not_metered" });
    expect(terms(chat({ web_search_options: null }), "openai").tier).toBeUndefined();
  });

  test("Gemini grounding and code execution are refused naming the key; function declarations pass", () => {
    for (const key of ["googleSearch", "google_search", "codeExecution", "urlContext", "googleSearchRetrieval"]) {
      expect(refusal(chat({ tools: [{ [key]: {} }] }), "gemini")).toMatchObject({ field: `tools[0].${key}`, code: "server_tool_not_metered" });
    }
    expect(terms(chat({ tools: [{ functionDeclarations: [{ name: "f" }] }] }), "gemini")).toEqual({ promptOverheadTokens: 0 });
    expect(refusal(chat({ tools: [{ type: "function" }, { type: "google_search" }] }), "gemini").field).toBe("tools[1].type");
  });
});

describe("cache_control", () => {
  test("no cache_control: no cache writes assumed", () => {
    expect(terms(claude(), "anthropic").cacheWriteTtl).toBeUndefined();
  });

  test("5-minute writes by default; 1h anywhere in the body wins", () => {
    const fiveMin = claude({ system: [{ type: "text", text: "s", cache_control: { type: "ephemeral" } }] });
    expect(terms(fiveMin, "anthropic").cacheWriteTtl).toBe("5m");
    const hour = claude({
      system: [{ type: "text", text: "s", cache_control: { type: "ephemeral", ttl: "5m" } }],
      messages: [{ role: "user", content: [{ type: "text", text: "q", cache_control: { type: "ephemeral", ttl: "1h" } }] }],
    });
    expect(terms(hour, "anthropic").cacheWriteTtl).toBe("1h");
    const inTools = claude({ tools: [{ name: "f", input_schema: {}, cache_control: { type: "ephemeral", ttl: "1h" } }] });
    expect(terms(inTools, "anthropic")).toEqual({ cacheWriteTtl: "1h", promptOverheadTokens: TOOL_USE_OVERHEAD_TOKENS });
  });

  test("an unknown ttl is refused naming its path", () => {
    const body = claude({ messages: [{ role: "user", content: [{ type: "text", text: "q", cache_control: { type: "ephemeral", ttl: "24h" } }] }] });
    const read = refusal(body, "anthropic");
    expect(read).toMatchObject({ field: "messages[0].content[0].cache_control.ttl", code: "pricing_tier_unknown" });
    expect(read.message).toBe("Cannot meter messages[0].content[0].cache_control.ttl: keyward knows cache lifetimes 5m and 1h only");
  });

  test("other providers do not bill cache writes, so cache_control changes nothing there", () => {
    expect(terms(chat({ messages: [{ role: "user", content: "q", cache_control: { type: "ephemeral", ttl: "1h" } }] }), "openai")).toEqual({
      promptOverheadTokens: 0,
    });
  });

  test("a deeply nested body does not overflow the stack", () => {
    let deep: unknown = { cache_control: { type: "ephemeral", ttl: "1h" } };
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(terms(claude({ metadata: deep }), "anthropic").cacheWriteTtl).toBe("1h");
  });
});
