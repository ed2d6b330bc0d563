import type { ProxyKeyRow } from "../db/store.ts";
import { budgetFigures, limitFigures, type BudgetFigures, type BudgetTerms, type LimitFigures, type LimitTerms, type SpendView } from "../limits/balance.ts";
import { microsToUsd } from "../limits/money.ts";
import { requestContext, type RequestContext } from "../telemetry/request-context.ts";
import { authenticate } from "./authenticate.ts";
import type { ProxyDeps } from "./deps.ts";
import { ProxyError } from "./errors.ts";
import { recordOutcome, type Trace } from "./outcome.ts";

/**
 * `GET /v1/key`: a key holder's own balance, answered by keyward itself and
 * never forwarded (so no provider path `/v1/key` can be reached through
 * keyward). Authenticated exactly as a proxied request, with any header a
 * proxied request may use; it shows the key's own figures and its team's,
 * never another key's, never a secret.
 *
 * It is not admitted by the limit gate: it costs no provider anything, so it
 * counts against neither rpm, concurrency nor budget (a key at its rpm limit
 * can still see why), and it writes no request-log row, so polling it adds
 * nothing to usage. It gets an access line naming the key and is counted in
 * the metrics under no provider.
 */
export const KEY_INFO_PATH = "/key";

/** Whether the path after `/v1` (from `at`, in a whole URL) is exactly `/key`, with or without a query. */
export function isKeyInfoPath(url: string, at: number): boolean {
  if (!url.startsWith(KEY_INFO_PATH, at)) return false;
  const next = url.charAt(at + KEY_INFO_PATH.length);
  return next === "" || next === "?";
}

/** A team as `/v1/key` shows it: its terms and the ledger's figures for it. */
export interface TeamBalance {
  team: { id: string; name: string } & LimitTerms & BudgetTerms;
  spend: SpendView;
}

export interface KeyInfo {
  id: string;
  name: string;
  expires_at: string | null;
  limits: LimitFigures & { unbounded_reservation_usd: number | null };
  budget: BudgetFigures;
  team: { id: string; name: string; limits: LimitFigures; budget: BudgetFigures } | null;
}

/** The answer's body: the figures `GET /api/proxy-keys/{id}` shows, without what only admins see (metadata, provider key, creator). */
export function keyInfo(row: ProxyKeyRow, spend: SpendView, team: TeamBalance | undefined): KeyInfo {
  return {
    id: row.id,
    name: row.name,
    expires_at: row.expiresAt === null ? null : new Date(row.expiresAt).toISOString(),
    limits: {
      ...limitFigures(row),
      unbounded_reservation_usd: row.unboundedReservationMicros === null ? null : microsToUsd(row.unboundedReservationMicros),
    },
    budget: budgetFigures(row, spend),
    team: team ? { id: team.team.id, name: team.team.name, limits: limitFigures(team.team), budget: budgetFigures(team.team, team.spend) } : null,
  };
}

const METHOD_NOT_ALLOWED = new ProxyError("method_not_allowed", "Cannot answer /v1/key: it is keyward's own read of this key's balance and takes GET only", {
  headers: { allow: "GET" },
});

export async function answerKeyInfo(deps: ProxyDeps, request: Request, given?: RequestContext): Promise<Response> {
  const context = given ?? requestContext(request);
  const trace: Trace = {
    requestId: context.id,
    client: context.client,
    method: request.method,
    path: KEY_INFO_PATH,
    startedAt: deps.clock.now(),
    started: performance.now(),
    streamed: false,
  };
  const ids = { "x-request-id": context.id, "x-keyward-request-id": context.id };
  // Refused before authentication: the answer says nothing about any key.
  if (request.method !== "GET") {
    recordOutcome(deps, trace, METHOD_NOT_ALLOWED.status, { errorCode: METHOD_NOT_ALLOWED.code, answeredHere: true });
    return METHOD_NOT_ALLOWED.toResponse(ids);
  }
  try {
    // Synchronous for a key verified before, as on the proxied path.
    const auth = authenticate(request.headers, deps.cache, deps.verifier, deps.clock, trace.client);
    trace.auth = auth instanceof Promise ? await auth : auth;
  } catch (err) {
    const error = err instanceof ProxyError ? err : new ProxyError("internal_error", "Cannot verify proxy key: internal error");
    if (!(err instanceof ProxyError))
      deps.logger.error("Key info failed", { error: err instanceof Error ? err.message : String(err), request_id: trace.requestId });
    else deps.metrics.authFailures.inc({ code: error.code });
    recordOutcome(deps, trace, error.status, { errorCode: error.code, answeredHere: true });
    return error.toResponse(ids);
  }
  const row = trace.auth.proxyKey;
  const now = deps.clock.now();
  // The team authentication found (it refuses a key whose team is disabled or gone), with the ledger's figures for it.
  const team = trace.auth.team;
  // With several instances, what the others spent counts too (one round trip; none otherwise).
  await deps.gate.ledger.refreshShared("key", [row], now);
  if (team) await deps.gate.ledger.refreshShared("team", [team], now);
  const teamBalance = team === undefined ? undefined : { team, spend: deps.gate.ledger.viewTeam(team, now) };
  const body = JSON.stringify(keyInfo(row, deps.gate.ledger.view(row, now), teamBalance));
  recordOutcome(deps, trace, 200, { answeredHere: true });
  return new Response(body, {
    status: 200,
    headers: {
      ...deps.gate.rateHeaders(row, now),
      ...ids,
      "content-type": "application/json",
      // A balance is of the moment, and for this key's holder only: no shared or later cache may keep it.
      "cache-control": "no-store",
    },
  });
}
