/**
 * One reading of a request body for a key whose limits depend on it: parsed
 * strictly once, checked, its output bound written into it, and everything
 * the limits decide (model, caps, stream flags, price terms) taken from that
 * one parse. The caller forwards this JSON re-serialised, never the client's
 * bytes, so the provider reads the request keyward metered.
 */
import { bindOutput, checkLimitFields, scanParts, type LimitFields } from "./request-shape.ts";
import { parseStrictJson } from "./strict-json.ts";
import { readPricingTerms, STANDARD_TERMS, type PricingRefusalCode, type PricingTerms } from "./tiers.ts";

/** Where the model and output bounds are, and the cap written when the client set none. */
export interface BodyFieldsOf extends LimitFields {
  readonly defaultCap?: string;
}

export interface ReadOptions {
  /** The provider id, for the price terms a body can ask for. */
  provider: string;
  /** Output cap assumed, and written, when the client sets none. */
  defaultMaxTokens: number;
  /** The key's budget or tpm depends on the bound: caps are written, and what cannot be bounded is refused. */
  bindsCost: boolean;
  /** The key has a budget: price terms (tiers, server tools) are read. */
  priced: boolean;
  /** What the key reserves for a request whose cost cannot be bounded; null refuses such requests. */
  unboundedReservationMicros: number | null;
  /** The model when the endpoint names it outside the body (the URL, an Azure deployment's mapping). */
  model?: string;
  /**
   * The body is forwarded as the client wrote it (a batch's input file), so no
   * cap can be written into it: a body without one cannot be bounded and is refused.
   */
  requireCap?: boolean;
}

export interface LimitedBody {
  json: Record<string, unknown>;
  model: string;
  stream: boolean;
  /** The client asked for stream usage itself. */
  clientIncludeUsage: boolean;
  outputTokens: number;
  terms: PricingTerms;
  /** Reserved on top of the token bound, in micro-dollars. */
  extraMicros: number;
}

export type BodyRefusalCode = "invalid_request" | "cost_not_bounded" | PricingRefusalCode;

export interface BodyRefusal {
  code: BodyRefusalCode;
  message: string;
  field?: string;
}

export type ReadResult = { ok: true; body: LimitedBody } | { ok: false; refusal: BodyRefusal };

const refuse = (code: BodyRefusalCode, message: string, field?: string): ReadResult => ({ ok: false, refusal: { code, message, field } });

export function readLimitedBody(text: string, fields: BodyFieldsOf, options: ReadOptions): ReadResult {
  const parsed = parseStrictJson(text);
  if (!parsed.ok) return refuse("invalid_request", parsed.message, parsed.field);
  const json = parsed.value;
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return refuse("invalid_request", "Cannot read request: body must be a JSON object");
  }
  return readParsedBody(json as Record<string, unknown>, fields, options);
}

/** `readLimitedBody` for a body already parsed strictly (a line of a batch's input file). */
export function readParsedBody(body: Record<string, unknown>, fields: BodyFieldsOf, options: ReadOptions): ReadResult {
  const fieldError = checkLimitFields(body, fields);
  if (fieldError) return refuse("invalid_request", fieldError.message, fieldError.field);
  const model = fields.model ? body[fields.model] : options.model;
  if (typeof model !== "string" || model === "") {
    return refuse("invalid_request", "Cannot meter request: it names no model, and this key's limits need one", fields.model);
  }
  let extraMicros = 0;
  if (options.bindsCost) {
    const unbounded = unboundedPart(body);
    if (unbounded !== undefined) {
      if (options.unboundedReservationMicros === null) {
        return refuse(
          "cost_not_bounded",
          `Cannot meter ${unbounded.what}: its cost depends on what keyward cannot see before forwarding; an admin can allow such requests on this key with unbounded_reservation_usd`,
          unbounded.field,
        );
      }
      extraMicros = options.unboundedReservationMicros;
    }
  }
  if (options.requireCap && options.bindsCost && fields.outputCaps.length > 0 && !hasCap(body, fields)) {
    const named = fields.defaultCap ?? fields.outputCaps[0] ?? "max_tokens";
    return refuse(
      "cost_not_bounded",
      `Cannot meter request: it sets no output cap (${fields.outputCaps.join(" or ")}), and keyward cannot write one into a body it forwards as written`,
      fields.container ? `${fields.container}.${named}` : named,
    );
  }
  let terms = STANDARD_TERMS;
  if (options.priced) {
    const read = readPricingTerms(body, options.provider);
    if (!read.ok) return refuse(read.code, read.message, read.field);
    terms = read.terms;
  }
  const outputTokens =
    fields.outputCaps.length === 0
      ? 0
      : bindOutput(body, fields, { defaultCap: options.defaultMaxTokens, defaultField: fields.defaultCap, write: options.bindsCost });
  const streamOptions = body.stream_options as { include_usage?: unknown } | null | undefined;
  return {
    ok: true,
    body: {
      json: body,
      model,
      stream: body.stream === true,
      clientIncludeUsage: streamOptions?.include_usage === true,
      outputTokens,
      terms,
      extraMicros,
    },
  };
}

/** The body sets one of the endpoint's output caps (checked to be a count by `checkLimitFields`). */
function hasCap(body: Record<string, unknown>, fields: BodyFieldsOf): boolean {
  const container = fields.container ? body[fields.container] : body;
  if (typeof container !== "object" || container === null) return false;
  const scope = container as Record<string, unknown>;
  return fields.outputCaps.some((field) => typeof scope[field] === "number");
}

/**
 * The first part whose cost keyward cannot bound: stored state, uploaded or
 * fetched files, background runs, hosted tools, and inline documents too —
 * a document's bytes do not bound its pages or the text they unpack to.
 */
function unboundedPart(body: Record<string, unknown>): { what: string; field?: string } | undefined {
  const scan = scanParts(body);
  const field = scan.unbounded[0];
  if (field !== undefined) return { what: field, field };
  if (scan.fileParts > 0) return { what: "an inline document" };
  return undefined;
}
