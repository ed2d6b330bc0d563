import type { ProxyKeyRow } from "../db/store.ts";
import { BudgetLedger, type CeilingStore, type Reservation } from "./budget.ts";
import type { RequestFacts } from "./estimate.ts";
import { microsToUsd, tokenCost } from "./money.ts";
import type { PriceBook, ResolvedPrice } from "./pricing.ts";
import { MinuteWindow } from "./window.ts";

export interface Admission {
  ok: true;
  keyId: string;
  reservation: Reservation;
  price?: ResolvedPrice;
  /** OpenAI-style `x-ratelimit-*` headers for the response. */
  rateHeaders: Record<string, string>;
}

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  /** Part of `inputTokens` read from a prompt cache. */
  cachedTokens: number;
  /** Part of `inputTokens` written to a prompt cache (Anthropic bills 1.25 × input). */
  cacheWriteTokens: number;
}

export type RejectionReason = "model_not_allowed" | "concurrency" | "rpm" | "tpm" | "price_unknown" | "budget" | "ledger_unavailable";

/** Why a request was not admitted, in words a client can act on; the caller decides how to answer. */
export interface Refusal {
  ok: false;
  reason: RejectionReason;
  message: string;
  /** When a retry may succeed; absent when waiting cannot help. */
  retryAfterSeconds?: number;
  /** The key's rate figures at the moment of refusal, for rate refusals. */
  rateHeaders?: Record<string, string>;
}

/** Cost in micro-dollars; cached reads at the cached price, cache writes at 1.25 × input. */
export function costOf(price: ResolvedPrice["price"], usage: Usage): number {
  const cached = Math.min(usage.cachedTokens, usage.inputTokens);
  const writes = Math.min(usage.cacheWriteTokens, usage.inputTokens - cached);
  const plain = usage.inputTokens - cached - writes;
  return (
    tokenCost(plain, price.inputMicros) +
    tokenCost(cached, price.cachedInputMicros ?? price.inputMicros) +
    tokenCost(writes, Math.ceil(price.inputMicros * 1.25)) +
    tokenCost(usage.outputTokens, price.outputMicros)
  );
}

/** What a request may cost at most: its prompt bound and its output bound at the model's price. */
function worstCase(price: ResolvedPrice["price"], facts: RequestFacts): number {
  return costOf(price, {
    inputTokens: facts.promptTokensBound,
    outputTokens: facts.outputTokensBound ?? 0,
    cachedTokens: 0,
    cacheWriteTokens: 0,
  });
}

const fmtSeconds = (s: number) => `${s}s`;

export interface GateOptions {
  /** Counts each refusal by its reason (metrics). */
  onReject?: (reason: RejectionReason) => void;
  /** Where budget ceilings are made durable before spend may pass them. */
  ceilings?: CeilingStore;
}

/**
 * Per-key limits, checked cheapest first: allowed models, concurrency,
 * requests and tokens per minute, price, then the budget reservation.
 * Everything is in memory; nothing here awaits.
 */
export class LimitGate {
  private readonly requests = new Map<string, MinuteWindow>();
  private readonly tokens = new Map<string, MinuteWindow>();
  private readonly inFlight = new Map<string, number>();

  readonly ledger: BudgetLedger;
  private readonly onReject: (reason: RejectionReason) => void;

  constructor(
    private readonly prices: PriceBook,
    options: GateOptions = {},
  ) {
    this.ledger = new BudgetLedger(options.ceilings);
    this.onReject = options.onReject ?? (() => {});
  }

  private window(map: Map<string, MinuteWindow>, id: string): MinuteWindow {
    let w = map.get(id);
    if (!w) {
      w = new MinuteWindow();
      map.set(id, w);
    }
    return w;
  }

  private refuse(refusal: Omit<Refusal, "ok">): Refusal {
    this.onReject(refusal.reason);
    return { ok: false, ...refusal };
  }

  rateHeaders(row: ProxyKeyRow, now: number): Record<string, string> {
    const headers: Record<string, string> = {};
    if (row.rpm !== null) {
      const w = this.window(this.requests, row.id);
      headers["x-ratelimit-limit-requests"] = String(row.rpm);
      headers["x-ratelimit-remaining-requests"] = String(Math.max(0, row.rpm - w.total(now)));
      headers["x-ratelimit-reset-requests"] = fmtSeconds(w.resetIn(now));
    }
    if (row.tpm !== null) {
      const w = this.window(this.tokens, row.id);
      headers["x-ratelimit-limit-tokens"] = String(row.tpm);
      headers["x-ratelimit-remaining-tokens"] = String(Math.max(0, row.tpm - w.total(now)));
      headers["x-ratelimit-reset-tokens"] = fmtSeconds(w.resetIn(now));
    }
    return headers;
  }

  /** Admits a request or says why not. Pair every admission with `finish`. */
  admit(row: ProxyKeyRow, facts: RequestFacts | undefined, now: number): Admission | Refusal {
    const model = facts?.model;
    if (row.allowedModels !== null && model !== undefined && !row.allowedModels.includes(model)) {
      return this.refuse({
        reason: "model_not_allowed",
        message: `Cannot use model ${model}: this key allows ${row.allowedModels.join(", ") || "no models"}`,
      });
    }
    const rateRefusal = this.checkRates(row, now);
    if (rateRefusal) return rateRefusal;
    const price = model === undefined ? undefined : this.prices.resolve(model);
    if (row.budgetMicros !== null && model !== undefined && !price) {
      return this.refuse({
        reason: "price_unknown",
        message: `Cannot meter model ${model}: it has no price; an admin can add one with PUT /api/prices/${model}`,
      });
    }
    const estimate = row.budgetMicros !== null && price && facts ? worstCase(price.price, facts) : 0;
    const outcome = this.ledger.reserve(row, estimate, now);
    if (!outcome.ok && outcome.reason === "unavailable") {
      return this.refuse({ reason: "ledger_unavailable", message: "Cannot start request: the budget ledger cannot be written", retryAfterSeconds: 1 });
    }
    if (!outcome.ok) {
      return this.refuse({
        reason: "budget",
        message:
          `Cannot start request: it may cost up to $${microsToUsd(estimate)} and this key has $${microsToUsd(outcome.remainingMicros)} of its budget left` +
          (outcome.reservedMicros > 0 ? ` ($${microsToUsd(outcome.reservedMicros)} more is held for requests in flight)` : ""),
        retryAfterSeconds: outcome.retryAfterSeconds,
      });
    }
    this.window(this.requests, row.id).add(now, 1);
    this.inFlight.set(row.id, (this.inFlight.get(row.id) ?? 0) + 1);
    return { ok: true, keyId: row.id, reservation: outcome.reservation, price, rateHeaders: this.rateHeaders(row, now) };
  }

  /** Concurrency, then requests and tokens per minute: the limits a wait can lift. */
  private checkRates(row: ProxyKeyRow, now: number): Refusal | undefined {
    if (row.maxConcurrency !== null && (this.inFlight.get(row.id) ?? 0) >= row.maxConcurrency) {
      return this.refuse({
        reason: "concurrency",
        message: `Cannot start request: this key allows ${row.maxConcurrency} at a time`,
        retryAfterSeconds: 1,
        rateHeaders: this.rateHeaders(row, now),
      });
    }
    if (row.rpm !== null) {
      const w = this.window(this.requests, row.id);
      if (w.total(now) + 1 > row.rpm) {
        return this.refuse({
          reason: "rpm",
          message: `Cannot start request: this key allows ${row.rpm} requests per minute`,
          retryAfterSeconds: w.retryAfter(now, 1, row.rpm),
          rateHeaders: this.rateHeaders(row, now),
        });
      }
    }
    if (row.tpm !== null) {
      const w = this.window(this.tokens, row.id);
      if (w.total(now) >= row.tpm) {
        return this.refuse({
          reason: "tpm",
          message: `Cannot start request: this key allows ${row.tpm} tokens per minute`,
          retryAfterSeconds: w.retryAfter(now, 1, row.tpm),
          rateHeaders: this.rateHeaders(row, now),
        });
      }
    }
    return undefined;
  }

  /** Settles the reservation to the real cost (0 when unknown), releases the concurrency slot; returns the cost. */
  finish(row: ProxyKeyRow, admission: Admission, usage: Usage | undefined, now: number): number {
    const left = (this.inFlight.get(admission.keyId) ?? 1) - 1;
    if (left <= 0) this.inFlight.delete(admission.keyId);
    else this.inFlight.set(admission.keyId, left);
    const cost = usage && admission.price ? costOf(admission.price.price, usage) : 0;
    if (usage) this.window(this.tokens, row.id).add(now, usage.inputTokens + usage.outputTokens);
    this.ledger.settle(row, admission.reservation, cost, now);
    return cost;
  }

  inFlightCount(): number {
    let n = 0;
    for (const v of this.inFlight.values()) n += v;
    return n;
  }
}
