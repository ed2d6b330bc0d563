/**
 * A batch's input file, checked line by line for a key with limits. The file
 * goes to the provider as the client wrote it, so nothing can be written into
 * a line: each line must already be a request keyward can bound, checked as
 * the single request it describes would be (strict JSON, allowed model, a
 * price, an output cap), and the file's worst case is the sum of its lines'
 * at the batch price.
 */
import type { ProxyKeyRow, TeamRow } from "../db/store.ts";
import { findEndpoint, type Endpoint } from "../providers/endpoints.ts";
import { worstCaseCost } from "./cost.ts";
import type { LimitGate } from "./gate.ts";
import { readParsedBody } from "./reading.ts";
import { promptTokensBound } from "./request-shape.ts";
import { parseStrictJson } from "./strict-json.ts";
import { unpricedTerm } from "./tiers.ts";

/** OpenAI takes at most 50,000 requests in one batch input file… */
export const MAX_BATCH_LINES = 50_000;
/** …and Anthropic 100,000 in one message batch. */
const MAX_INLINE_REQUESTS = 100_000;

/** A cost at the batch price, rounded up per request so a batch's cost never falls below what it is billed. */
export function batchPrice(standardMicros: number, pricePercent: number): number {
  return Math.ceil((standardMicros * pricePercent) / 100);
}

export interface BatchFileContext {
  gate: LimitGate;
  row: ProxyKeyRow;
  team?: TeamRow;
  /** The provider key's registry: a line's `url` must be an endpoint in it that keyward can bound. */
  endpoints: readonly Endpoint[];
  provider: string;
  pricePercent: number;
  /** A budget applies: every line is priced, and the file's worst case summed. */
  priced: boolean;
  /** A budget or a tpm applies: every line must be bounded. */
  bounded: boolean;
  unboundedReservationMicros: number | null;
}

/** Why a file cannot be taken: the line (1-based), the field within it, and the reason in the words a single request would get. */
export interface BatchLineRefusal {
  line: number;
  field?: string;
  message: string;
}

/** What a checked file holds: a batch runs one endpoint and one model. */
export interface BatchFileSummary {
  lines: number;
  url: string;
  model: string;
  /** Micro-dollars at the batch price; 0 when no budget applied (nothing was priced). */
  worstMicros: number;
}

/** Line separators other parsers split on (Python's `splitlines`) but JSON allows inside strings: a line must not hold one raw. */
const OTHER_SEPARATORS = /[\u0085\u2028\u2029]/;

/** Reads a batch's requests in order (a file's lines, or a body's list); the first refusal stops the check (the caller stops feeding them). */
export class BatchFileCheck {
  private count = 0;
  private url: string | undefined;
  private model: string | undefined;
  private worst = 0;

  constructor(private readonly context: BatchFileContext) {}

  /** Checks line `line` of the file (1-based; its text without the line break, and its UTF-8 size); blank lines are skipped. */
  add(line: number, text: string, byteLength: number): BatchLineRefusal | undefined {
    if (text.trim() === "") return undefined;
    const refuse = (message: string, field?: string): BatchLineRefusal => ({ line, field, message });
    if (++this.count > MAX_BATCH_LINES) return refuse(`a batch input file holds at most ${MAX_BATCH_LINES} requests`);
    if (OTHER_SEPARATORS.test(text)) return refuse("it holds a raw U+0085, U+2028 or U+2029, which some readers take as a line break; escape it");
    const parsed = parseStrictJson(text);
    if (!parsed.ok) return refuse(parsed.message, parsed.field);
    const request = parsed.value;
    if (!isObject(request)) return refuse("a line must be a JSON object {custom_id, method, url, body}");
    if (typeof request.custom_id !== "string" || request.custom_id === "") return refuse("custom_id must be a non-empty string", "custom_id");
    if (request.method !== "POST") return refuse("method must be POST", "method");
    if (typeof request.url !== "string") return refuse("url must be a string", "url");
    const endpoint = this.endpointOf(request.url);
    if (!endpoint?.body) return refuse(`keyward cannot meter batch requests to ${clip(request.url)}`, "url");
    if (this.url !== undefined && request.url !== this.url)
      return refuse(`every line of a batch calls the same url (the first calls ${clip(this.url)})`, "url");
    if (!isObject(request.body)) return refuse("body must be a JSON object", "body");
    return this.checkBody(line, request.body, { endpoint, url: request.url, byteLength, where: "body" });
  }

  /**
   * Checks request `index` of a batch listed in its body (Anthropic's
   * `requests[].params`), all calling `url`: `params` is forwarded as keyward
   * serialises it, `byteLength` long.
   */
  addRequest(index: number, url: string, params: unknown, byteLength: number): BatchLineRefusal | undefined {
    const where = `requests[${index}].params`;
    if (++this.count > MAX_INLINE_REQUESTS) return { line: index + 1, field: "requests", message: `a batch holds at most ${MAX_INLINE_REQUESTS} requests` };
    if (!isObject(params)) return { line: index + 1, field: where, message: "params must be a JSON object" };
    const endpoint = this.endpointOf(url);
    if (!endpoint) return { line: index + 1, field: where, message: `keyward cannot meter batch requests to ${clip(url)}` };
    return this.checkBody(index + 1, params, { endpoint, url, byteLength, where });
  }

  /** After the last line: the file's summary, or why it cannot be a batch's input. */
  finish(): { ok: true; summary: BatchFileSummary } | { ok: false; refusal: BatchLineRefusal } {
    if (this.count === 0 || this.url === undefined || this.model === undefined) {
      return { ok: false, refusal: { line: 1, message: "a batch needs at least one request" } };
    }
    return { ok: true, summary: { lines: this.count, url: this.url, model: this.model, worstMicros: this.worst } };
  }

  /** The registry's token-billed endpoint a line's url names (`/v1/chat/completions`, or without `/v1` as Azure writes it). */
  private endpointOf(url: string): Endpoint | undefined {
    const path = url.startsWith("/v1/") ? url.slice(3) : url;
    const endpoint = findEndpoint(this.context.endpoints, "POST", path)?.endpoint;
    // The model must be in the body: a path or deployment naming it is not what a batch line carries.
    return endpoint?.billing === "tokens" && endpoint.body?.model === "model" && endpoint.modelFrom === undefined ? endpoint : undefined;
  }

  private checkBody(
    line: number,
    body: Record<string, unknown>,
    at: { endpoint: Endpoint; url: string; byteLength: number; where: string },
  ): BatchLineRefusal | undefined {
    const { context } = this;
    const { endpoint, url, byteLength } = at;
    const inBody = (field?: string) => (field === undefined ? at.where : `${at.where}.${field}`);
    const refuse = (message: string, field?: string): BatchLineRefusal => ({ line, field: inBody(field), message });
    const read = readParsedBody(body, endpoint.body ?? { outputCaps: [], outputMultipliers: [] }, {
      provider: context.provider,
      defaultMaxTokens: 0,
      bindsCost: context.bounded,
      priced: context.priced,
      unboundedReservationMicros: context.unboundedReservationMicros,
      requireCap: true,
    });
    if (!read.ok) return refuse(read.refusal.message, read.refusal.field);
    const { model, terms, outputTokens, extraMicros } = read.body;
    if (read.body.stream) return refuse("a batch's requests cannot stream", "stream");
    const vetted = context.gate.vetModel(context.row, model, context.priced, context.team);
    if (!vetted.ok) return refuse(vetted.message, vetted.field);
    if (this.model !== undefined && model !== this.model)
      return refuse(`every line of a batch runs the same model (the first runs ${clip(this.model)})`, "model");
    // Batches bill at their own price: a tier other than the standard one (or flex, never dearer) has no batch rate to charge.
    if (terms.tier !== undefined && terms.tier.name !== "flex") {
      return refuse(`a batch's requests are billed at the batch price, which has no ${clip(terms.tier.value)} tier`, terms.tier.field);
    }
    // A batch settles from its output alone, at the 5-minute rate where the usage does not split its cache writes.
    if (terms.cacheWriteTtl === "1h")
      return refuse("a batch's requests cannot ask for an hour's prompt cache (ttl 1h), which its usage may not tell apart", "cache_control");
    if (context.priced && vetted.price) {
      const unpriced = unpricedTerm(vetted.price.price, terms);
      if (unpriced) return refuse(unpriced.message, unpriced.field);
      // The line's bytes bound the body's text, which is what the provider tokenizes (see promptTokensBound).
      const bound = { promptTokens: promptTokensBound(body, byteLength), outputTokens };
      // The key's reservation for what no body bounds (a file by id) is its own figure, not a price: never discounted.
      this.worst += batchPrice(worstCaseCost(vetted.price.price, bound, terms), context.pricePercent) + extraMicros;
    }
    this.url ??= url;
    this.model ??= model;
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const clip = (text: string): string => (text.length > 64 ? `${text.slice(0, 64)}…` : text);
