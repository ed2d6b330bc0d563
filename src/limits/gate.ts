import type { BudgetLeases } from "../db/leases.ts";
import type { ProxyKeyRow, TeamRow } from "../db/store.ts";
import { BudgetLedger, type CeilingStore, type Reservation } from "./budget.ts";
import { costOf, worstCaseCost, type Usage } from "./cost.ts";
import { microsToUsd } from "./money.ts";
import type { PriceBook, ResolvedPrice } from "./pricing.ts";
import { RateLimits } from "./rates.ts";
import { STANDARD_TERMS, unpricedTerm, type PricingTerms } from "./tiers.ts";

export type { Usage } from "./cost.ts";

/** What a request may cost at most, read from the body keyward forwards. */
export interface Bound {
  model: string;
  promptTokens: number;
  outputTokens: number;
  /** Reserved on top, in micro-dollars: the key's amount for a request whose cost keyward cannot bound. */
  extraMicros: number;
  terms: PricingTerms;
  /** Priced by tokens at the model's price (which a budget then requires); otherwise `extraMicros` is the whole reservation. */
  byTokens: boolean;
}

export interface Admission {
  ok: true;
  keyId: string;
  reservation: Reservation;
  price?: ResolvedPrice;
  terms: PricingTerms;
  /** Tokens held against the key's tpm (and its team's) until the request settles. */
  tokenBound: number;
  /** The key's team as admitted: the request settles against this team even if the key moves meanwhile. */
  team?: TeamRow;
  /** The key's own `x-keyward-ratelimit-*` headers for the response. */
  rateHeaders: Record<string, string>;
}

export type RejectionReason = "model_not_allowed" | "concurrency" | "rpm" | "tpm" | "price_unknown" | "pricing_tier_unknown" | "budget" | "ledger_unavailable";

/** Why a request was not admitted, in words a client can act on; the caller decides how to answer. */
export interface Refusal {
  ok: false;
  reason: RejectionReason;
  message: string;
  /** The request field at fault, when one is. */
  field?: string;
  /** When a retry may succeed; absent when waiting cannot help. */
  retryAfterSeconds?: number;
  /** The key's rate figures at the moment of refusal, for rate refusals. */
  rateHeaders?: Record<string, string>;
  /**
   * A budget's slice is being widened by the shared database: admitting again
   * once this resolves may succeed. Nothing is held meanwhile.
   */
  wait?: Promise<void>;
}

/**
 * How a finished request is charged. `usage`: what the provider reported.
 * `reservation`: the cost is unknown (no usage in a success, an answer cut
 * short), so the worst case keyward reserved is charged. `nothing`: nothing
 * was billed (the provider refused, or a stored object was read back).
 */
export type Charge = { kind: "usage"; usage: Usage } | { kind: "reservation" } | { kind: "nothing" };

export interface Settled {
  costMicros: number;
  /** Cost beyond the reservation: the upstream did not honour a cap keyward sent. */
  overrunMicros: number;
}

export interface GateOptions {
  /** Counts each refusal by its reason (metrics). */
  onReject?: (reason: RejectionReason) => void;
  /** Told of each overrun after it is charged (metrics, audit). */
  onOverrun?: (row: ProxyKeyRow, overrunMicros: number) => void;
  /** Where budget ceilings (keys' and teams') are made durable before spend may pass them. */
  ceilings?: CeilingStore;
  /** Budgets shared by several instances: each spends within slices the database grants (ceilings are then unused). */
  leases?: BudgetLeases;
  /** The part of a rate or concurrency limit this instance may use, when instances share each limit (see RateLimits). */
  rateShare?: (limit: number) => number;
}

/** How refusals name a team's limits: `team hack-2026`. */
const teamLabel = (team: TeamRow) => `team ${shown(team.name)}`;

/** Long model names stay out of answers whole: a client could make every refusal megabytes long. */
const shown = (model: string) => (model.length > 64 ? `${model.slice(0, 64)}…` : model);

/**
 * Per-key limits, and the key's team's, checked cheapest first: allowed
 * models, concurrency, requests and tokens per minute, price, then the
 * budget reservation. A request must fit each limit of both; the budget is
 * reserved against both in one step. Everything is in memory; nothing here
 * awaits.
 */
export class LimitGate {
  readonly ledger: BudgetLedger;
  private readonly rates: RateLimits;
  /** Teams' own windows and slots, shared by all their keys. */
  private readonly teamRates: RateLimits;
  private readonly onReject: (reason: RejectionReason) => void;
  private readonly onOverrun: (row: ProxyKeyRow, overrunMicros: number) => void;

  constructor(
    private readonly prices: PriceBook,
    options: GateOptions = {},
  ) {
    this.ledger = new BudgetLedger(options.ceilings, options.leases);
    this.rates = new RateLimits(options.rateShare);
    this.teamRates = new RateLimits(options.rateShare);
    this.onReject = options.onReject ?? (() => {});
    this.onOverrun = options.onOverrun ?? (() => {});
  }

  private refuse(refusal: Omit<Refusal, "ok">): Refusal {
    this.onReject(refusal.reason);
    return { ok: false, ...refusal };
  }

  rateHeaders(row: ProxyKeyRow, now: number): Record<string, string> {
    return this.rates.headers(row, now);
  }

  /**
   * Admits a request or says why not. `bound` is absent for requests whose
   * body keyward does not read (keys without body limits, free endpoints);
   * their `model`, when known, still prices what they report. Pair every
   * admission with `finish`.
   */
  admit(row: ProxyKeyRow, ask: { bound?: Bound; model?: string }, now: number, team?: TeamRow): Admission | Refusal {
    const bound = ask.bound;
    const notAllowed = bound ? this.notAllowed(row, bound.model, team) : undefined;
    if (notAllowed) return notAllowed;
    const tokenBound = bound ? bound.promptTokens + bound.terms.promptOverheadTokens + bound.outputTokens : 0;
    const rateRefusal = this.rates.check(row, tokenBound, now) ?? (team ? this.teamRates.check(team, tokenBound, now, teamLabel(team)) : undefined);
    if (rateRefusal) return this.refuse({ ...rateRefusal, rateHeaders: this.rates.headers(row, now) });
    const model = bound?.model ?? ask.model;
    const price = model === undefined ? undefined : this.prices.resolve(model);
    // Either budget makes the request priced: the team's is spent by the same reservation.
    const budgeted = row.budgetMicros !== null || (team !== undefined && team.budgetMicros !== null);
    let estimate = 0;
    if (budgeted && bound && !bound.byTokens) estimate = bound.extraMicros;
    else if (budgeted && bound) {
      if (!price) {
        return this.refuse({
          reason: "price_unknown",
          message: `Cannot meter model ${shown(bound.model)}: it has no price; an admin can add one with PUT /api/prices/${shown(bound.model)}`,
          field: "model",
        });
      }
      const unpriced = unpricedTerm(price.price, bound.terms);
      if (unpriced) return this.refuse({ reason: "pricing_tier_unknown", message: unpriced.message, field: unpriced.field });
      estimate = worstCaseCost(price.price, bound, bound.terms) + bound.extraMicros;
    }
    const outcome = this.ledger.reserve(row, estimate, now, team);
    if (!outcome.ok && outcome.reason === "pending") {
      // Not a refusal yet: counted only if it becomes one.
      return {
        ok: false,
        reason: "ledger_unavailable",
        message: "Cannot start request: the budget's slice could not be widened in time",
        retryAfterSeconds: 1,
        wait: outcome.wait,
      };
    }
    if (!outcome.ok && outcome.reason === "unavailable") {
      return this.refuse({ reason: "ledger_unavailable", message: "Cannot start request: the budget ledger cannot be written", retryAfterSeconds: 1 });
    }
    if (!outcome.ok) {
      const whose = outcome.holder === "team" && team ? teamLabel(team) : "this key";
      return this.refuse({
        reason: "budget",
        message:
          `Cannot start request: it may cost up to $${microsToUsd(estimate)} and ${whose} has $${microsToUsd(outcome.remainingMicros)} of its budget left` +
          (outcome.reservedMicros > 0 ? ` ($${microsToUsd(outcome.reservedMicros)} more is held for requests in flight)` : ""),
        retryAfterSeconds: outcome.retryAfterSeconds,
      });
    }
    this.rates.hold(row, tokenBound, now);
    if (team) this.teamRates.hold(team, tokenBound, now);
    const admission: Admission = {
      ok: true,
      keyId: row.id,
      reservation: outcome.reservation,
      price,
      terms: bound?.terms ?? STANDARD_TERMS,
      tokenBound,
      rateHeaders: this.rates.headers(row, now),
    };
    if (team) admission.team = team;
    return admission;
  }

  private notAllowed(row: ProxyKeyRow, model: string, team: TeamRow | undefined): Refusal | undefined {
    if (row.allowedModels !== null && !row.allowedModels.includes(model)) {
      return this.refuse({
        reason: "model_not_allowed",
        message: `Cannot use model ${shown(model)}: this key allows ${row.allowedModels.join(", ") || "no models"}`,
        field: "model",
      });
    }
    if (team && team.allowedModels !== null && !team.allowedModels.includes(model)) {
      return this.refuse({
        reason: "model_not_allowed",
        message: `Cannot use model ${shown(model)}: ${teamLabel(team)} allows ${team.allowedModels.join(", ") || "no models"}`,
        field: "model",
      });
    }
    return undefined;
  }

  /**
   * What `admit` would say of `model` before any rate or budget is looked at:
   * the allow-lists of the key and its team and, when `priced`, the price a
   * budget needs. For requests checked long before they run (a batch's
   * input lines); nothing is held. Returns the price when there is one.
   */
  vetModel(row: ProxyKeyRow, model: string, priced: boolean, team?: TeamRow): { ok: true; price?: ResolvedPrice } | Refusal {
    const notAllowed = this.notAllowed(row, model, team);
    if (notAllowed) return notAllowed;
    const price = this.prices.resolve(model);
    if (priced && !price) {
      return this.refuse({
        reason: "price_unknown",
        message: `Cannot meter model ${shown(model)}: it has no price; an admin can add one with PUT /api/prices/${shown(model)}`,
        field: "model",
      });
    }
    return { ok: true, price };
  }

  /** The model's price, as admissions resolve it (batches settle with it, long after they were admitted). */
  priceOf(model: string): ResolvedPrice | undefined {
    return this.prices.resolve(model);
  }

  /**
   * Settles the reservation to the charge, frees the request's slot and its
   * token hold, on the key and on the team it was admitted with. A cost above
   * the reservation is charged in full and reported.
   */
  finish(row: ProxyKeyRow, admission: Admission, charge: Charge, now: number): Settled {
    const reserved = admission.reservation.amountMicros;
    let cost = 0;
    let tokens = 0;
    // Reported usage of a model keyward has no price for is worth what was reserved for it, no less.
    const unpriced = charge.kind === "usage" && !admission.price && reserved > 0;
    if (charge.kind === "usage" && !unpriced) {
      cost = admission.price ? costOf(admission.price.price, charge.usage, admission.terms) : 0;
      tokens = charge.usage.inputTokens + charge.usage.outputTokens;
    } else if (charge.kind === "reservation" || unpriced) {
      cost = reserved;
      tokens = admission.tokenBound;
    }
    const team = admission.team;
    this.rates.release(row, admission.tokenBound, tokens, now);
    if (team) this.teamRates.release(team, admission.tokenBound, tokens, now);
    this.ledger.settle(row, admission.reservation, cost, now, team);
    const budgeted = row.budgetMicros !== null || (team !== undefined && team.budgetMicros !== null);
    const overrun = budgeted && charge.kind === "usage" && cost > reserved ? cost - reserved : 0;
    if (overrun > 0) this.onOverrun(row, overrun);
    return { costMicros: cost, overrunMicros: overrun };
  }

  inFlightCount(): number {
    return this.rates.inFlightCount();
  }
}
