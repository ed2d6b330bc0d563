import type { ProxyKeyRow, Store } from "../db/store.ts";
import type { Admission, Bound, Charge, Settled } from "../limits/gate.ts";
import type { Endpoint } from "../providers/endpoints.ts";
import { chargeOf, type AnswerEnd, type AnswerSettled } from "./charge.ts";
import type { ProxyDeps } from "./deps.ts";
import type { SecretEcho } from "./echo.ts";
import { refusalError, type ProxyError } from "./errors.ts";
import type { Trace } from "./outcome.ts";
import type { UpstreamGuard } from "./upstream-guard.ts";

/**
 * What one request holds while it runs: its endpoint, its admission until
 * settled, and its upstream guard until released (after the whole read, when
 * a stream ends, with no body, or on failure).
 */
export class ProxyRun {
  endpoint: Endpoint | undefined;
  /** The endpoint's path groups (`model`, `deployment`, `id`). */
  groups: Record<string, string> = {};
  admission: Admission | undefined;
  private pendingAdmission: Promise<void> | undefined;
  guard: UpstreamGuard | undefined;
  /** The reservation covers the request's worst case, so it is what an unknown cost is charged. */
  bounded = false;
  /** The request was handed to the provider: from here on it may be billed. */
  sent = false;
  /** What was sent upstream, for the further pages of a list keyward reads on (list-pages.ts). */
  upstreamRequest: { url: string; headers: Record<string, string>; clientSignal: () => AbortSignal | undefined } | undefined;
  /** Replaces the provider key wherever the upstream's answer echoes it; undefined for a placeholder key. */
  echo: SecretEcho | undefined;
  /**
   * What else is recorded of the object the answer created, in the same write
   * as its owner (a batch input file's check, a batch's charge). It may run
   * again (see Store.write), so it only writes to `tx`.
   */
  recordCreated: ((tx: Store, objectId: string) => void) | undefined;

  constructor(
    readonly deps: ProxyDeps,
    readonly trace: Trace,
  ) {}

  /** Settles the admission once; returns what was charged. */
  settle(charge: Charge): Settled {
    if (!this.admission || !this.trace.auth) return NOTHING_SETTLED;
    const settled = this.deps.gate.finish(this.trace.auth.proxyKey, this.admission, charge, this.deps.clock.now());
    this.admission = undefined;
    return settled;
  }

  /** Settles an answer that ended this way; returns the charge and the usage to log. */
  settleAnswer(end: AnswerEnd): AnswerSettled {
    const { charge, usage } = chargeOf(end, { endpoint: this.endpoint, bounded: this.bounded });
    return { ...this.settle(charge), usage };
  }

  /** Admits against the key's limits and its team's (the team authentication found). */
  admit(row: ProxyKeyRow, ask: { bound?: Bound; model?: string }): void {
    const admitted = this.deps.gate.admit(row, ask, this.deps.clock.now(), this.trace.auth?.team);
    if (admitted.ok) {
      this.admission = admitted;
      return;
    }
    if (!admitted.wait) throw refusalError(admitted);
    // A shared budget's slice is being widened: preparing goes on, and the request waits for the admission before it is sent.
    this.pendingAdmission = this.admitAfter(admitted.wait, row, ask, 2);
    // Awaited by the handler (or dropped with the request); a refusal must not count as unhandled meanwhile.
    this.pendingAdmission.catch(() => {});
  }

  private async admitAfter(wait: Promise<void>, row: ProxyKeyRow, ask: { bound?: Bound; model?: string }, attempt: number): Promise<void> {
    await wait;
    const admitted = this.deps.gate.admit(row, ask, this.deps.clock.now(), this.trace.auth?.team);
    if (admitted.ok) {
      this.admission = admitted;
      return;
    }
    // Each wait is one grant: a few at most (requests on this instance may take what one grant widened).
    if (admitted.wait && attempt < MAX_ADMIT_ATTEMPTS) return this.admitAfter(admitted.wait, row, ask, attempt + 1);
    throw refusalError({ ...admitted, wait: undefined });
  }

  /** Resolves once the request is admitted; throws its refusal. */
  admitted(): Promise<void> | undefined {
    return this.pendingAdmission;
  }
}

const NOTHING_SETTLED: Settled = { costMicros: 0, overrunMicros: 0 };
/** Each wait is one grant, asked for every request then waiting: a few rounds suffice unless many more keep arriving. */
const MAX_ADMIT_ATTEMPTS = 8;

export interface Prepared {
  /** The body to send upstream: the client's bytes, or what keyward parsed, serialised again; a stream for uploads passed through. */
  body: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array> | undefined;
  /** The content type to send instead of the client's (a re-encoded form has a new boundary). */
  contentType?: string;
  /** keyward asked the upstream for stream usage the client did not ask for, so it strips it again. */
  injectUsage: boolean;
  /** The body as keyward parsed it, when it is a JSON object: what it references is checked for ownership. */
  json?: Record<string, unknown>;
  /** Why a streamed body was cut off on its way upstream (a batch input file that failed its check), once it was. */
  refusal?: () => ProxyError | undefined;
}

/** Model names and paths are stored and logged at most this long: a client could send megabytes of either. */
const MAX_LOGGED_CHARS = 256;

export const clip = (text: string): string => (text.length > MAX_LOGGED_CHARS ? text.slice(0, MAX_LOGGED_CHARS) : text);
