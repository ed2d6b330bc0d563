/**
 * Request fields that change what a request costs beyond its model's token
 * rates. A key with a budget must price each of them or refuse the request;
 * charging the standard rate for a dearer request would let spend pass the
 * budget. Everything here reads the parsed body only: no I/O, no clock.
 *
 * What is priced:
 * - `service_tier` (OpenAI and compatibles; Anthropic) and Anthropic `speed`
 *   and `inference_geo`: the standard values cost the standard rate; any
 *   other value is a tier the model's price must list (`Price.tiers`), except
 *   `flex`, which is never dearer than standard and is charged the standard
 *   rate when the price has no flex rate.
 * - Anthropic `cache_control` (anywhere in the body): cache writes cost
 *   1.25 × input for 5 minutes and 2 × for `ttl: "1h"`, so the reservation
 *   assumes every prompt token may be a write of the longest ttl requested.
 * - Anthropic tool-use system prompts: tokens the provider adds that the
 *   body's bytes do not show (`promptOverheadTokens`).
 *
 * What is refused (`server_tool_not_metered`): every tool the provider runs
 * itself (web search and fetch, code execution, file search, image
 * generation, computer use, remote MCP, Gemini grounding…) and any tool type
 * not known to be a plain function. Their per-call fees could be bounded
 * where the request caps the calls (Anthropic `max_uses`), but their results
 * come back as input tokens in a server-side loop, which no field of the
 * request bounds, so no reservation made from the body is a ceiling.
 */
import type { Price } from "./pricing.ts";

export type PricingProvider = "openai" | "anthropic" | "gemini" | "azure-openai" | "openai-compatible";

/** A non-standard tier the request asks for. */
export interface PricingTier {
  /** The key of its rates in `Price.tiers` (`priority`, `fast`, `inference_geo:us`). */
  name: string;
  /** The request field that asked, and its value. */
  field: string;
  value: string;
}

export type CacheWriteTtl = "5m" | "1h";

export interface PricingTerms {
  /** Absent for the standard tier. */
  tier?: PricingTier;
  /** The longest prompt-cache lifetime the request marks; absent when it marks nothing for caching. */
  cacheWriteTtl?: CacheWriteTtl;
  /** Prompt tokens the provider adds that the body's bytes do not bound (tool-use system prompts). */
  promptOverheadTokens: number;
}

export type PricingRefusalCode = "pricing_tier_unknown" | "server_tool_not_metered";

export interface PricingRefusal {
  ok: false;
  /** The request field to blame, as a path (`tools[1].type`, `service_tier`). */
  field: string;
  code: PricingRefusalCode;
  message: string;
}

export type PricingTermsResult = { ok: true; terms: PricingTerms } | PricingRefusal;

/** Terms of a request that changes nothing: standard tier, no cache writes, no hidden prompt. */
export const STANDARD_TERMS: PricingTerms = Object.freeze({ promptOverheadTokens: 0 });

/**
 * Anthropic adds a tool-use system prompt whenever `tools` is set: 346
 * tokens at most for current models, 530 for Claude 3 Opus. Rounded up.
 */
export const TOOL_USE_OVERHEAD_TOKENS = 600;

/**
 * Anthropic-defined client tools (`bash_*`, `text_editor_*`, `computer_*`)
 * add their own hidden definition and, for computer use, a system prompt:
 * at most 735 + 499 tokens as published. Rounded up, per tool.
 */
export const CLIENT_TOOL_OVERHEAD_TOKENS = 1_500;

const ANTHROPIC_CLIENT_TOOL = /^(bash|text_editor|computer)_\d{8}$/;

/** Keys of a tool object with no `type` that still describe only a function (Gemini `functionDeclarations`). */
const FUNCTION_TOOL_KEYS = new Set(["function", "functionDeclarations", "function_declarations", "name", "description", "parameters", "strict"]);

const ANTHROPIC_STANDARD_TIERS: ReadonlySet<string> = new Set(["auto", "standard_only"]);
const OPENAI_STANDARD_TIERS: ReadonlySet<string> = new Set(["auto", "default"]);

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

function refuse(field: string, code: PricingRefusalCode, message: string): PricingRefusal {
  return { ok: false, field, code, message };
}

function unmeteredTool(field: string, what: string): PricingRefusal {
  return refuse(
    field,
    "server_tool_not_metered",
    `Cannot meter ${field}: ${what} is billed beyond the prompt and output tokens keyward can bound; use a key without a budget`,
  );
}

/**
 * Reads a tier field: `undefined` for a standard value (or none), the tier
 * otherwise, or a refusal when the value is not a string.
 */
function readTier(json: Json, field: string, standard: ReadonlySet<string>, name: (v: string) => string): PricingTier | PricingRefusal | undefined {
  const value = json[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") {
    return refuse(field, "pricing_tier_unknown", `Cannot meter ${field}: it must be a string`);
  }
  return standard.has(value) ? undefined : { name: name(value), field, value };
}

function readTiers(json: Json, provider: string): PricingTier | PricingRefusal | undefined {
  const fields: Array<[string, ReadonlySet<string>, (v: string) => string]> =
    provider === "anthropic"
      ? [
          ["service_tier", ANTHROPIC_STANDARD_TIERS, (v) => v],
          // Fast mode bills a multiple of the standard rates.
          ["speed", new Set(["standard"]), (v) => v],
          // Pinning inference to a region bills a multiple of the standard rates.
          ["inference_geo", new Set(["global"]), (v) => `inference_geo:${v}`],
        ]
      : [["service_tier", OPENAI_STANDARD_TIERS, (v) => v]];
  let found: PricingTier | undefined;
  for (const [field, standard, name] of fields) {
    const tier = readTier(json, field, standard, name);
    if (tier === undefined) continue;
    if ("ok" in tier) return tier;
    if (found) {
      // A price lists one rate per tier; two modifiers at once have no listed rate.
      return refuse(field, "pricing_tier_unknown", `Cannot meter ${field}: keyward prices one tier per request and ${found.field} already sets one`);
    }
    found = tier;
  }
  return found;
}

/** Tools: plain functions pass, provider-run tools are refused, Anthropic client tools add overhead. */
function readTools(json: Json, provider: string): number | PricingRefusal {
  const tools = json.tools;
  if (!Array.isArray(tools) || tools.length === 0) return 0;
  let overhead = provider === "anthropic" ? TOOL_USE_OVERHEAD_TOKENS : 0;
  for (const [i, tool] of tools.entries()) {
    if (!isObject(tool)) continue;
    const type = tool.type;
    if (provider === "anthropic") {
      if (type === undefined || type === "custom") continue;
      if (typeof type === "string" && ANTHROPIC_CLIENT_TOOL.test(type)) {
        overhead += CLIENT_TOOL_OVERHEAD_TOKENS;
        continue;
      }
      return unmeteredTool(`tools[${i}].type`, typeof type === "string" ? type : "this tool type");
    }
    if (type === "function" || type === "custom") continue;
    if (type !== undefined) return unmeteredTool(`tools[${i}].type`, typeof type === "string" ? type : "this tool type");
    // Gemini writes a tool as an object keyed by its kind (`{googleSearch: {}}`).
    const other = Object.keys(tool).find((key) => !FUNCTION_TOOL_KEYS.has(key));
    if (other !== undefined) return unmeteredTool(`tools[${i}].${other}`, other);
  }
  return overhead;
}

interface Node {
  value: unknown;
  parent?: Node;
  key?: string | number;
}

/** `messages[0].content[1]`: built only for a refusal, so the walk itself allocates no strings. */
function pathOf(node: Node): string {
  const keys: Array<string | number> = [];
  for (let n: Node | undefined = node; n?.key !== undefined; n = n.parent) keys.push(n.key);
  return keys.reverse().reduce<string>((path, key) => (typeof key === "number" ? `${path}[${key}]` : path ? `${path}.${key}` : key), "");
}

/**
 * The longest `cache_control` ttl anywhere in the body. Walks with an
 * explicit stack: a deeply nested body must not overflow the call stack.
 */
function readCacheTtl(json: Json): CacheWriteTtl | PricingRefusal | undefined {
  let longest: CacheWriteTtl | undefined;
  const stack: Node[] = [{ value: json }];
  for (let node = stack.pop(); node; node = stack.pop()) {
    const value = node.value;
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) {
        const item: unknown = value[i];
        if (typeof item === "object" && item !== null) stack.push({ value: item, parent: node, key: i });
      }
      continue;
    }
    if (!isObject(value)) continue;
    for (const [key, child] of Object.entries(value)) {
      if (key === "cache_control" && isObject(child)) {
        const ttl = child.ttl;
        if (ttl === undefined || ttl === null || ttl === "5m") longest ??= "5m";
        else if (ttl === "1h") longest = "1h";
        else {
          const field = `${pathOf({ value: child, parent: node, key })}.ttl`;
          return refuse(field, "pricing_tier_unknown", `Cannot meter ${field}: keyward knows cache lifetimes 5m and 1h only`);
        }
      }
      if (typeof child === "object" && child !== null) stack.push({ value: child, parent: node, key });
    }
  }
  return longest;
}

/**
 * What the request asks for that changes its price, or why a key with a
 * budget cannot take it. `provider` is the provider id of the key
 * (`PricingProvider`); any other value is read like `openai-compatible`.
 */
export function readPricingTerms(json: Record<string, unknown>, provider: string): PricingTermsResult {
  const tier = readTiers(json, provider);
  if (tier && "ok" in tier) return tier;
  if (json.web_search_options !== undefined && json.web_search_options !== null) {
    return unmeteredTool("web_search_options", "web search");
  }
  if (provider === "anthropic" && Array.isArray(json.mcp_servers) && json.mcp_servers.length > 0) {
    return unmeteredTool("mcp_servers", "a remote MCP server");
  }
  const overhead = readTools(json, provider);
  if (typeof overhead !== "number") return overhead;
  const terms: PricingTerms = { promptOverheadTokens: overhead };
  if (tier) terms.tier = tier;
  if (provider === "anthropic") {
    const ttl = readCacheTtl(json);
    if (ttl && typeof ttl !== "string") return ttl;
    if (ttl) terms.cacheWriteTtl = ttl;
  }
  return { ok: true, terms };
}

/**
 * Why `price` cannot price `terms`, if it cannot: a tier the price has no
 * rate for. Check before reserving; `costOf` and `worstCaseCost` assume it.
 */
export function unpricedTerm(price: Price, terms: PricingTerms): PricingRefusal | undefined {
  const tier = terms.tier;
  if (!tier || tier.name === "flex" || (price.tiers && Object.hasOwn(price.tiers, tier.name))) return undefined;
  return refuse(
    tier.field,
    "pricing_tier_unknown",
    `Cannot meter ${tier.field} ${tier.value}: this model has no price for it in keyward; leave ${tier.field} unset or use a key without a budget`,
  );
}
