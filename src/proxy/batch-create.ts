import { BatchFileCheck, type BatchLineRefusal } from "../limits/batch-lines.ts";
import { STANDARD_TERMS } from "../limits/tiers.ts";
import type { BatchPricing } from "../providers/endpoints.ts";
import type { Authenticated } from "./authenticate.ts";
import { strictJsonObject } from "./body.ts";
import { ProxyError } from "./errors.ts";
import { clip, type Prepared, type ProxyRun } from "./run.ts";

const encoder = new TextEncoder();

/**
 * A key with limits creating a batch (`POST /v1/batches`): its requests run
 * later, outside any request keyward sees, so they must be the ones keyward
 * checked when this key uploaded the input file. The file's worst case is
 * reserved like a request's, charged whole once the provider accepts the
 * batch (a refused creation is charged nothing), and recorded as an open
 * charge in the same write as the batch's owner; the batch's end settles it.
 */
export function prepareBatchCreate(run: ProxyRun, auth: Authenticated, body: Uint8Array | undefined): Prepared {
  const { proxyKey, providerKey, team } = auth;
  const json = strictJsonObject(body, "creating a batch");
  const fileId = json.input_file_id;
  if (typeof fileId !== "string" || fileId === "") {
    throw new ProxyError("invalid_request", "Cannot create batch: input_file_id must be a file id", { param: "input_file_id" });
  }
  const file = run.deps.batches.checkedFile(providerKey.row.id, fileId);
  // Another key's file, one uploaded before this check existed or directly at the provider: all the same to the caller.
  if (!file || file.proxyKeyId !== proxyKey.id) {
    throw new ProxyError(
      "endpoint_not_allowed",
      "Cannot create batch: a key with limits creates batches only from input files it uploaded through keyward (purpose batch), which keyward checked line by line",
      { param: "input_file_id" },
    );
  }
  if (json.endpoint !== file.url) {
    throw new ProxyError("invalid_request", `Cannot create batch: the input file's requests call ${clip(file.url)}, so endpoint must be ${clip(file.url)}`, {
      param: "endpoint",
    });
  }
  const budgeted = proxyKey.budgetMicros !== null || (team !== undefined && team.budgetMicros !== null);
  if (budgeted && file.worstMicros === null) {
    throw new ProxyError(
      "cost_not_bounded",
      "Cannot create batch: its input file was uploaded while no budget applied to this key, so keyward did not price it; upload it again",
      { param: "input_file_id" },
    );
  }
  chargeOnCreation(run, auth, { model: file.model, worstMicros: file.worstMicros ?? 0, pricePercent: file.pricePercent });
  return { body: encoder.encode(JSON.stringify(json)), contentType: "application/json", injectUsage: false, json };
}

/**
 * A key with limits creating an Anthropic message batch: its requests are in
 * the body, each `params` checked as the message it asks for (strict JSON,
 * allowed model, a price, `max_tokens`), and the body goes upstream as keyward
 * read it, so their bytes bound their prompts. Charged and settled like an
 * OpenAI batch. A refusal names the request and field (400).
 */
export function prepareInlineBatch(run: ProxyRun, auth: Authenticated, pricing: BatchPricing, body: Uint8Array | undefined): Prepared {
  const json = strictJsonObject(body, "creating a batch");
  const requests = json.requests;
  if (!Array.isArray(requests)) throw new ProxyError("invalid_request", "Cannot create batch: requests must be a list", { param: "requests" });
  const { check, priced } = batchCheck(run, auth, pricing);
  for (const [index, request] of (requests as unknown[]).entries()) {
    const item = typeof request === "object" && request !== null && !Array.isArray(request) ? (request as Record<string, unknown>) : undefined;
    const params = item?.params;
    const refusal = check.addRequest(index, "/messages", params, encoder.encode(JSON.stringify(params ?? null)).byteLength);
    if (refusal) throw requestError(refusal);
  }
  const result = check.finish();
  if (!result.ok) throw new ProxyError("invalid_request", `Cannot create batch: ${result.refusal.message}`, { param: "requests" });
  chargeOnCreation(run, auth, { model: result.summary.model, worstMicros: priced ? result.summary.worstMicros : 0, pricePercent: pricing.pricePercent });
  return { body: encoder.encode(JSON.stringify(json)), contentType: "application/json", injectUsage: false, json };
}

/** A check of a batch's requests against the key's limits and its team's, as single requests would be checked. */
export function batchCheck(run: ProxyRun, auth: Authenticated, pricing: BatchPricing): { check: BatchFileCheck; priced: boolean } {
  const { proxyKey, providerKey, team } = auth;
  const priced = proxyKey.budgetMicros !== null || (team !== undefined && team.budgetMicros !== null);
  const check = new BatchFileCheck({
    gate: run.deps.gate,
    row: proxyKey,
    team,
    endpoints: providerKey.adapter.endpoints,
    provider: providerKey.adapter.id,
    pricePercent: pricing.pricePercent,
    priced,
    bounded: priced || proxyKey.tpm !== null || (team !== undefined && team.tpm !== null),
    unboundedReservationMicros: proxyKey.unboundedReservationMicros,
  });
  return { check, priced };
}

/**
 * Reserves the batch's worst case like a request's (the creation answer
 * charges it whole), and opens its charge in the same write as the batch's
 * owner once the provider accepted it.
 */
function chargeOnCreation(run: ProxyRun, auth: Authenticated, batch: { model: string; worstMicros: number; pricePercent: number }): void {
  const { proxyKey, providerKey, team } = auth;
  run.trace.model = clip(batch.model);
  run.bounded = true;
  // The worst case is the whole reservation: no tokens of the batch count against tpm, which is per minute.
  run.admit(proxyKey, {
    bound: { model: batch.model, promptTokens: 0, outputTokens: 0, extraMicros: batch.worstMicros, terms: STANDARD_TERMS, byTokens: false },
  });
  // The periods the charge goes to, read now: the function given to a write touches nothing but the store.
  const { ledger } = run.deps.gate;
  const now = run.deps.clock.now();
  const periodStartedAt = ledger.view(proxyKey, now).periodStartedAt;
  const teamPeriodStartedAt = team ? ledger.viewTeam(team, now).periodStartedAt : null;
  run.recordCreated = (tx, batchId) => {
    const admission = run.admission;
    if (!admission) return;
    tx.batches.openCharge({
      providerKeyId: providerKey.row.id,
      batchId,
      proxyKeyId: proxyKey.id,
      teamId: admission.team?.id ?? null,
      model: batch.model,
      pricePercent: batch.pricePercent,
      chargedMicros: admission.reservation.amountMicros,
      periodStartedAt,
      teamPeriodStartedAt: admission.team ? teamPeriodStartedAt : null,
      createdAt: now,
      settledAt: null,
      costMicros: null,
    });
  };
}

function requestError(refusal: BatchLineRefusal): ProxyError {
  const field = refusal.field ?? `requests[${refusal.line - 1}]`;
  return new ProxyError("invalid_request", `Cannot create batch: ${field}: ${refusal.message}`, { param: field });
}
