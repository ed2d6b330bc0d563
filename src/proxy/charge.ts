import type { Charge, Settled, Usage } from "../limits/gate.ts";
import type { Endpoint } from "../providers/endpoints.ts";
import { chargedUsage, finalUsage, type MeterResult } from "./usage.ts";

/** How an answer ended, as far as its charge is concerned. */
export interface AnswerEnd {
  /** The upstream's status; 0 when there was no answer. */
  status: number;
  /** Usage a whole JSON answer reported. */
  usage?: Usage;
  /** What metering a streamed body learned. */
  metered?: MeterResult;
  /** Bytes sent upstream, for the estimate of a key whose reservation bounds nothing. */
  promptBytes?: number;
  /** The exchange did not end normally after the request was sent: the client left, the upstream broke off or timed out. */
  cutShort: boolean;
}

/** What an answer was charged, with the usage its log row shows. */
export interface AnswerSettled extends Settled {
  usage?: Usage;
}

export interface ChargeContext {
  endpoint: Endpoint | undefined;
  /** The reservation covers the request's worst case. */
  bounded: boolean;
}

/**
 * What to charge for an answer, and the usage to log with it. Reading a
 * stored object is never charged again, and creating a batch is charged its
 * worst case whatever its answer says. With a bounded reservation, the
 * provider's own final count is charged when the answer ended normally, and
 * the reservation when the cost is unknown: an answer cut short (its counts
 * so far are provisional, and the provider bills what it generated) or a
 * success without usage. Without one (keys whose limits do not read the
 * body), usage is charged as reported or estimated, as it always was.
 */
export function chargeOf(end: AnswerEnd, context: ChargeContext): { charge: Charge; usage?: Usage } {
  if (context.endpoint?.billing === "free") return { charge: NOTHING };
  // A batch object's `usage` sums requests that have not run yet (zero at creation): a created batch is charged its
  // worst case, which its end settles.
  if (context.endpoint?.batch !== undefined && context.bounded) {
    return { charge: end.cutShort || (end.status >= 200 && end.status < 300) ? RESERVATION : NOTHING };
  }
  const usage = end.usage ?? (end.metered ? finalUsage(end.metered) : undefined);
  if (context.bounded) {
    if (usage && !end.cutShort) return { charge: { kind: "usage", usage }, usage };
    if (end.cutShort || (end.status >= 200 && end.status < 300)) return { charge: RESERVATION, usage };
    return { charge: NOTHING };
  }
  const estimated = usage ?? (end.metered ? chargedUsage(end.metered, end.promptBytes ?? 0) : undefined);
  return estimated ? { charge: { kind: "usage", usage: estimated }, usage: estimated } : { charge: NOTHING };
}

const NOTHING: Charge = { kind: "nothing" };
const RESERVATION: Charge = { kind: "reservation" };
