import type { NewRequestLogRow } from "../db/store.ts";

/**
 * Why a logged request did not end as the upstream answered it: the codes of
 * keyward's own `/v1` error answers, and the two ways a body ends early. One
 * list, so the proxy's answers, the request log and the metrics use the same
 * words.
 */
export const REQUEST_ERROR_CODES = [
  "invalid_api_key",
  "provider_key_disabled",
  /** The proxy key's team is disabled (POST /api/teams/{id}/disable). */
  "team_disabled",
  "model_not_allowed",
  "model_price_unknown",
  /** A browser page on an origin not in --cors-origins asked to call the proxy. */
  "origin_not_allowed",
  /** A limited key called an endpoint keyward cannot price or bound. */
  "endpoint_not_allowed",
  /** A budgeted key sent a request whose cost depends on state keyward cannot see (stored responses, files, background runs). */
  "cost_not_bounded",
  /** A budgeted key asked for a price tier keyward has no price for. */
  "pricing_tier_unknown",
  /** A budgeted key asked for a server-side tool billed beyond tokens. */
  "server_tool_not_metered",
  "not_found",
  /** A method a path keyward answers itself does not take (`POST /v1/key`). */
  "method_not_allowed",
  "invalid_request",
  "request_too_large",
  "rate_limit_exceeded",
  "insufficient_quota",
  "upstream_unreachable",
  "upstream_redirect",
  "upstream_timeout",
  /** keyward cannot keep a promise right now (its budget ledger cannot be written); retry later. */
  "service_unavailable",
  "internal_error",
  /** The client left before the answer ended (logged with status 499). */
  "client_closed",
  /** The upstream's body broke off after its status was sent. */
  "upstream_body_failed",
] as const;

export type RequestErrorCode = (typeof REQUEST_ERROR_CODES)[number];

/** A request-log row as the proxy appends it: the error code from the list above, never a free string. */
export type LoggedRequest = Omit<NewRequestLogRow, "errorCode"> & { errorCode?: RequestErrorCode | null };
