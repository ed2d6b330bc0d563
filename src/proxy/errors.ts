/**
 * Errors keyward itself produces on `/v1/*`, in the OpenAI shape every SDK
 * already knows how to surface: `{"error":{"message","type","code"}}`.
 * Upstream errors never pass through here; they are forwarded unchanged.
 */

import type { Refusal, RejectionReason } from "../limits/gate.ts";
import type { BodyRefusal } from "../limits/reading.ts";
import type { RequestErrorCode } from "../usage/error-codes.ts";

/** keyward's own answers; the request log's list adds the two ways a body ends early. */
export type ProxyErrorCode = Exclude<RequestErrorCode, "client_closed" | "upstream_body_failed">;

const STATUS: Record<ProxyErrorCode, number> = {
  invalid_api_key: 401,
  provider_key_disabled: 403,
  team_disabled: 403,
  model_not_allowed: 403,
  model_price_unknown: 403,
  endpoint_not_allowed: 403,
  origin_not_allowed: 403,
  cost_not_bounded: 403,
  pricing_tier_unknown: 403,
  server_tool_not_metered: 403,
  not_found: 404,
  method_not_allowed: 405,
  invalid_request: 400,
  request_too_large: 413,
  rate_limit_exceeded: 429,
  insufficient_quota: 429,
  upstream_unreachable: 502,
  upstream_redirect: 502,
  upstream_timeout: 504,
  service_unavailable: 503,
  internal_error: 500,
};

/** OpenAI's `type` field: the class of error, which some SDKs switch on. */
function typeOf(code: ProxyErrorCode): string {
  switch (code) {
    case "invalid_api_key":
      return "authentication_error";
    case "provider_key_disabled":
    case "team_disabled":
    case "model_not_allowed":
    case "model_price_unknown":
    case "endpoint_not_allowed":
    case "origin_not_allowed":
    case "cost_not_bounded":
    case "pricing_tier_unknown":
    case "server_tool_not_metered":
      return "permission_error";
    case "not_found":
      return "not_found_error";
    case "invalid_request":
    case "request_too_large":
    case "method_not_allowed":
      return "invalid_request_error";
    case "rate_limit_exceeded":
      return "rate_limit_error";
    case "insufficient_quota":
      return "insufficient_quota";
    case "upstream_unreachable":
    case "upstream_redirect":
    case "upstream_timeout":
    case "service_unavailable":
    case "internal_error":
      return "api_error";
  }
}

export interface ProxyErrorOptions {
  headers?: Record<string, string>;
  /** The request field at fault (OpenAI's `param`). */
  param?: string;
  /** The request certainly never reached the provider (no connection was made), so nothing was billed. */
  neverReachedProvider?: boolean;
}

/** Retry-After values an SDK waits out; longer waits mean the answer will not change soon. */
const MAX_RETRY_WAIT_SECONDS = 60;

export class ProxyError extends Error {
  private body: string | undefined;
  readonly headers: Record<string, string>;
  readonly param: string | undefined;
  readonly neverReachedProvider: boolean;

  constructor(
    readonly code: ProxyErrorCode,
    message: string,
    options: ProxyErrorOptions = {},
  ) {
    super(message);
    this.name = "ProxyError";
    this.param = options.param;
    this.neverReachedProvider = options.neverReachedProvider ?? false;
    this.headers = retryAdvice(STATUS[code], options.headers ?? {});
  }

  get status(): number {
    return STATUS[this.code];
  }

  /**
   * Headers go in as a plain object, not a Headers copy, and the body is
   * serialised once per error: refusals are what a flood of bad requests
   * costs, so they are kept as cheap as an answer can be.
   */
  toResponse(extraHeaders?: Record<string, string>): Response {
    this.body ??= JSON.stringify({ error: { message: this.message, type: typeOf(this.code), param: this.param ?? null, code: this.code } });
    return new Response(this.body, {
      status: this.status,
      headers: { ...extraHeaders, "content-type": "application/json", ...this.headers },
    });
  }
}

/**
 * The OpenAI and Anthropic SDKs retry 429s and 5xx by themselves, twice by
 * default, unless the answer says `x-should-retry: false`. An answer that
 * retrying cannot change soon (a spent budget, a refused model, a bad body,
 * a wait longer than an SDK would make) says so; one worth retrying keeps
 * its `Retry-After`.
 */
function retryAdvice(status: number, headers: Record<string, string>): Record<string, string> {
  if (status >= 500) return headers;
  const wait = headers["retry-after"];
  if (wait !== undefined && Number(wait) <= MAX_RETRY_WAIT_SECONDS) return headers;
  return { ...headers, "x-should-retry": "false" };
}

const REFUSAL_CODES: Record<RejectionReason, ProxyErrorCode> = {
  model_not_allowed: "model_not_allowed",
  concurrency: "rate_limit_exceeded",
  rpm: "rate_limit_exceeded",
  tpm: "rate_limit_exceeded",
  price_unknown: "model_price_unknown",
  pricing_tier_unknown: "pricing_tier_unknown",
  budget: "insufficient_quota",
  ledger_unavailable: "service_unavailable",
};

/** The answer to a limits refusal: its message, with `Retry-After` when waiting can help. */
export function refusalError(refusal: Refusal): ProxyError {
  const headers: Record<string, string> = refusal.retryAfterSeconds === undefined ? {} : { "retry-after": String(refusal.retryAfterSeconds) };
  return new ProxyError(REFUSAL_CODES[refusal.reason], refusal.message, { headers: { ...headers, ...refusal.rateHeaders }, param: refusal.field });
}

/** The answer to a body the key's limits cannot take: 400 when it is ambiguous or malformed, 403 when its cost cannot be bounded or priced. */
export function bodyRefusalError(refusal: BodyRefusal): ProxyError {
  return new ProxyError(refusal.code, refusal.message, { param: refusal.field });
}
