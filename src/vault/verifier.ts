import { timingSafeEqual } from "node:crypto";
import { sha256 } from "../runtime/sha256.ts";
import type { Clock } from "../clock.ts";
import { verifySecret, type SecretAttempt } from "./hashing.ts";

export interface VerifierOptions {
  clock: Clock;
  /** argon2 verifications allowed at once; the rest queue. */
  maxConcurrent: number;
  /** Unverified attempts per key id and client (see `clientGroup`) within `failureWindowMs` before that pair is throttled. */
  maxFailures: number;
  failureWindowMs: number;
  /** Attempts one client may have queued or running, all ids together; more are throttled. Default 256. */
  maxPendingPerClient?: number;
  /** Attempts queued or running in all; more are throttled. Default 8192. */
  maxPending?: number;
  /** The argon2 check: the app's low-priority worker threads; tests hand in one they can pause. */
  check?: (attempt: SecretAttempt) => Promise<boolean>;
}

/** A key as presented, and the hash stored for its id. */
export interface VerifyRequest extends SecretAttempt {
  /** Verified tokens and failed attempts are kept per key id. */
  id: string;
  /** The whole key as sent; the cache keeps its SHA-256. */
  token: string;
  /** The client's address as logged (`RequestContext.client`); absent in process, which counts as one client. */
  client?: string;
  /** The hash a rotation replaced, accepted until `expiresAt` (ms): the rotation's grace. */
  previous?: PreviousSecret;
}

export interface PreviousSecret {
  phc: string;
  expiresAt: number;
}

/** Which of an id's stored hashes a token matched. */
type Match = "current" | "previous" | undefined;

/** What is known to be right for one key id. */
interface Verified {
  /** SHA-256 of the token that matched the stored hash, once one did. */
  current?: Buffer;
  /** SHA-256 of the token that matched the hash a rotation replaced, once one did. */
  previous?: Buffer;
  /** Until when (ms) the replaced hash is accepted, as the row said when verified; 0 when it had none. */
  previousUntil: number;
}

/** A verification under way, shared by every request that sends the same token meanwhile. */
interface Flight {
  promise: Promise<Match>;
  /** `forget` ran meanwhile: the hashes it checked may be replaced, so its answer is not to be trusted or kept. */
  stale: boolean;
}

interface FailureState {
  count: number;
  windowStart: number;
}

/** An attempt waiting for (or holding) an argon2 slot. */
interface Job {
  request: VerifyRequest;
  group: string;
  /** False when the id's current token is known (and is not this one): only the replaced hash can still match. */
  tryCurrent: boolean;
  resolve: (match: Match) => void;
  reject: (err: unknown) => void;
}

/** One client's waiting attempts, by key id. */
interface Lane {
  ids: Map<string, Job[]>;
  /** The id served last, which goes after any other waiting id. */
  lastId?: string;
}

/**
 * `stale`: the key's secrets changed (`forget`) while argon2 ran, so the
 * answer is about hashes that may be gone; the caller reads the row again and
 * asks again.
 */
export type VerifyOutcome = "valid" | "invalid" | "throttled" | "stale";

const DEFAULT_MAX_PENDING_PER_CLIENT = 256;
const DEFAULT_MAX_PENDING = 8192;
/** Wrong tokens remembered per key id, and key ids remembered: enough for replays, bounded under a flood. */
const WRONG_PER_ID = 16;
const WRONG_IDS = 10_000;
/** Throttle entries: key ids, and client groups per key id. */
const FAILURE_IDS = 100_000;
const FAILURE_GROUPS_PER_ID = 1024;

/**
 * Who an attempt comes from, for throttling and fair queueing: an IPv4
 * address, or an IPv6 address's /64 (one host usually holds a whole /64, so
 * counted per address it could pose as billions of clients). `""` for an
 * unknown address. An IPv4-mapped IPv6 address is its IPv4 address.
 */
export function clientGroup(client: string | undefined): string {
  if (client === undefined) return "";
  const address = client.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped) return mapped[1] as string;
  if (!address.includes(":")) return address;
  const [head = "", tail] = address.split("::", 2);
  const headGroups = head === "" ? [] : head.split(":");
  let groups = headGroups;
  if (tail !== undefined) {
    const tailGroups = tail === "" ? [] : tail.split(":");
    // An embedded IPv4 address fills two groups.
    const tailWidth = tailGroups.length + (tail.includes(".") ? 1 : 0);
    groups = [...headGroups, ...Array<string>(Math.max(0, 8 - headGroups.length - tailWidth)).fill("0"), ...tailGroups];
  }
  const prefix = groups.slice(0, 4).map((g) => (/^[0-9a-f]{1,4}$/i.test(g) ? parseInt(g, 16).toString(16) : g.toLowerCase()));
  return `${prefix.join(":")}::/64`;
}

/**
 * Verifies key secrets against their argon2id hashes without letting
 * argon2's cost (tens of ms of CPU per run) be turned against the server,
 * nor a stranger who knows a key id (ids are public) lock the key out.
 *
 * - A verified-secret cache (key id → SHA-256 of the full token): argon2 runs
 *   once per key per process, and once an id is verified every other token for
 *   it is refused by the cache alone, with no argon2. During a rotation's grace
 *   an id has two right tokens (`previous`): each is kept once argon2 has
 *   matched it, the old one only until the grace ends, and another token is
 *   refused by the cache alone once both are known or the grace is over.
 * - Concurrent first requests for one token share one argon2 run; a token
 *   argon2 refused is remembered per id (a few) and refused again without it.
 * - The failure throttle is per key id AND client (`clientGroup`): a flood of
 *   wrong secrets throttles the flooding client for that id, never the key's
 *   owner elsewhere. Why not per id alone: until argon2 has run, the right
 *   secret looks like any wrong one, so a per-id throttle (or any order that
 *   ignores who is asking) lets a stranger keep the owner's first request
 *   waiting or refused for as long as the flood lasts.
 * - argon2 runs at most `maxConcurrent` at once, and waiting attempts are
 *   served round-robin: over clients first, then over key ids within a client.
 *   So an attempt waits for at most one verification per other client with
 *   attempts waiting (and within its client, one per other id), however many
 *   attempts those clients have queued.
 * - Work is bounded: `maxFailures` argon2 runs per id and client per window,
 *   `maxConcurrent` at once, `maxPendingPerClient` and `maxPending` waiting.
 *
 * After a restart nothing is throttled or cached: all of it lives here.
 */
export class SecretVerifier {
  private readonly verified = new Map<string, Verified>();
  private readonly inflight = new Map<string, Flight>();
  /** key id → client group → unverified attempts in the window. */
  private readonly failures = new Map<string, Map<string, FailureState>>();
  /** key id → hex SHA-256 of tokens argon2 found wrong, oldest first. */
  private readonly wrong = new Map<string, string[]>();
  /** client group → key id → waiting attempts; served lanes move to the back of both maps (round-robin). */
  private readonly lanes = new Map<string, Lane>();
  /** Every client's lane while it has attempts queued or running, so a lane that runs dry keeps its `lastId`. */
  private readonly laneOf = new Map<string, Lane>();
  /** The client group served last, which goes after any other waiting group. */
  private lastGroup: string | undefined;
  /** Attempts queued or running, per client group and in all. */
  private readonly pendingByGroup = new Map<string, number>();
  private pending = 0;
  private running = 0;
  /** How many argon2 verifications ran; exposed for tests and metrics. */
  argon2Runs = 0;

  constructor(private readonly options: VerifierOptions) {}

  /** Cache hit only: no argon2, no await. `undefined` means "not known yet". */
  checkCached(id: string, token: string): boolean | undefined {
    const known = this.verified.get(id);
    if (!known) return undefined;
    return this.match(known, sha256(token));
  }

  async verify(request: VerifyRequest): Promise<VerifyOutcome> {
    const { id, token } = request;
    const tokenDigest = sha256(token);
    const known = this.verified.get(id);
    // A key's secrets change only by rotation (anything that replaces one calls forget), and the token
    // is fixed by id and secret, so once its right tokens are known every other one is wrong:
    // a flood aimed at a key in use costs a hash comparison, not argon2.
    const cached = known && this.match(known, tokenDigest);
    if (cached !== undefined) return cached ? "valid" : "invalid";
    const hex = tokenDigest.toString("hex");
    // Replayed wrong tokens cost neither argon2 nor a place in anyone's throttle.
    if (this.wrong.get(id)?.includes(hex)) return "invalid";

    const flightKey = `${id}:${hex}`;
    let flight = this.inflight.get(flightKey);
    if (!flight) {
      const group = clientGroup(request.client);
      if (this.isThrottled(id, group) || !this.hasRoom(group)) return "throttled";
      // Counted when started, not when failed: otherwise a burst of wrong
      // secrets would all start argon2 before the first failure is recorded.
      this.recordAttempt(id, group);
      const started: Flight = { promise: Promise.resolve(undefined), stale: false };
      started.promise = this.enqueue(request, group, known?.current === undefined)
        .then((match) => {
          if (match === undefined && !started.stale) this.rememberWrong(id, hex);
          return match;
        })
        .finally(() => {
          if (this.inflight.get(flightKey) === started) this.inflight.delete(flightKey);
        });
      this.inflight.set(flightKey, started);
      flight = started;
    }
    const match = await flight.promise;
    if (flight.stale) return "stale";
    if (match === undefined) return "invalid";
    this.remember(id, tokenDigest, match, request.previous);
    return "valid";
  }

  /** Drop what is known about a key (revoked, deleted, secret replaced), verifications under way included. */
  forget(id: string): void {
    this.verified.delete(id);
    this.failures.delete(id);
    this.wrong.delete(id);
    // Under way, they check hashes that may have been replaced: their answers must not be cached.
    // Called on admin changes only, so walking at most `maxPending` flights is cheap enough.
    const prefix = `${id}:`;
    for (const [key, flight] of this.inflight) {
      if (!key.startsWith(prefix)) continue;
      flight.stale = true;
      this.inflight.delete(key);
    }
  }

  /**
   * Whether a token is right for an id by what is known: true or false, or
   * undefined while a right token may exist that argon2 has not matched yet
   * (none at all, or a rotation's replaced secret still in its grace).
   */
  private match(known: Verified, digest: Buffer): boolean | undefined {
    if (known.current && timingSafeEqual(known.current, digest)) return true;
    const inGrace = this.options.clock.now() < known.previousUntil;
    // After the grace the old token is refused like any wrong one.
    if (known.previous && timingSafeEqual(known.previous, digest)) return inGrace;
    if (known.current && (!inGrace || known.previous)) return false;
    return undefined;
  }

  private remember(id: string, digest: Buffer, match: "current" | "previous", previous: PreviousSecret | undefined): void {
    let known = this.verified.get(id);
    if (!known) {
      known = { previousUntil: 0 };
      this.verified.set(id, known);
    }
    known[match] = digest;
    known.previousUntil = previous?.expiresAt ?? 0;
    this.failures.delete(id);
    this.wrong.delete(id);
  }

  private isThrottled(id: string, group: string): boolean {
    const byGroup = this.failures.get(id);
    const state = byGroup?.get(group);
    if (!byGroup || !state) return false;
    if (this.options.clock.now() - state.windowStart >= this.options.failureWindowMs) {
      byGroup.delete(group);
      if (byGroup.size === 0) this.failures.delete(id);
      return false;
    }
    return state.count >= this.options.maxFailures;
  }

  private recordAttempt(id: string, group: string): void {
    const now = this.options.clock.now();
    let byGroup = this.failures.get(id);
    if (!byGroup) {
      byGroup = new Map();
      this.failures.set(id, byGroup);
      // Bound memory under a flood of many ids or clients: forget the oldest entries.
      if (this.failures.size > FAILURE_IDS) dropOldest(this.failures);
    }
    const state = byGroup.get(group);
    if (!state || now - state.windowStart >= this.options.failureWindowMs) {
      byGroup.set(group, { count: 1, windowStart: now });
      if (byGroup.size > FAILURE_GROUPS_PER_ID) dropOldest(byGroup);
    } else {
      state.count++;
    }
  }

  private rememberWrong(id: string, hex: string): void {
    let digests = this.wrong.get(id);
    if (!digests) {
      digests = [];
      this.wrong.set(id, digests);
      if (this.wrong.size > WRONG_IDS) dropOldest(this.wrong);
    }
    if (digests.includes(hex)) return;
    digests.push(hex);
    if (digests.length > WRONG_PER_ID) digests.shift();
  }

  private hasRoom(group: string): boolean {
    const perClient = this.options.maxPendingPerClient ?? DEFAULT_MAX_PENDING_PER_CLIENT;
    return this.pending < (this.options.maxPending ?? DEFAULT_MAX_PENDING) && (this.pendingByGroup.get(group) ?? 0) < perClient;
  }

  private enqueue(request: VerifyRequest, group: string, tryCurrent: boolean): Promise<Match> {
    return new Promise<Match>((resolve, reject) => {
      let lane = this.laneOf.get(group);
      if (!lane) {
        lane = { ids: new Map() };
        this.laneOf.set(group, lane);
      }
      if (lane.ids.size === 0) this.lanes.set(group, lane);
      const job: Job = { request, group, tryCurrent, resolve, reject };
      const jobs = lane.ids.get(request.id);
      if (jobs) jobs.push(job);
      else lane.ids.set(request.id, [job]);
      this.pending++;
      this.pendingByGroup.set(group, (this.pendingByGroup.get(group) ?? 0) + 1);
      this.pump();
    });
  }

  /** Starts waiting attempts while slots are free; a finishing run starts exactly one more. */
  private pump(): void {
    while (this.running < this.options.maxConcurrent) {
      const job = this.next();
      if (!job) return;
      this.running++;
      void this.attempt(job)
        .then(job.resolve, job.reject)
        .finally(() => {
          this.running--;
          this.pending--;
          const left = (this.pendingByGroup.get(job.group) ?? 1) - 1;
          if (left > 0) this.pendingByGroup.set(job.group, left);
          else {
            this.pendingByGroup.delete(job.group);
            this.laneOf.delete(job.group);
          }
          this.pump();
        });
    }
  }

  /**
   * One job's argon2 work, in one slot: the stored hash, then the hash a
   * rotation replaced while its grace lasts (two runs for a token that is
   * neither; only during a grace, and within the same throttle).
   */
  private async attempt(job: Job): Promise<Match> {
    const check = this.options.check ?? verifySecret;
    const { request } = job;
    if (job.tryCurrent) {
      this.argon2Runs++;
      if (await check(request)) return "current";
    }
    const previous = request.previous;
    if (previous !== undefined && this.options.clock.now() < previous.expiresAt) {
      this.argon2Runs++;
      if (await check({ ...request, phc: previous.phc })) return "previous";
    }
    return undefined;
  }

  /** The next attempt, round-robin over clients, then over ids within the client; both lanes then move to the back. */
  private next(): Job | undefined {
    const group = roundRobin(this.lanes, this.lastGroup);
    const lane = group === undefined ? undefined : this.lanes.get(group);
    const id = lane && roundRobin(lane.ids, lane.lastId);
    const jobs = id === undefined ? undefined : lane?.ids.get(id);
    if (group === undefined || !lane || id === undefined || !jobs) return undefined;
    const job = jobs.shift();
    lane.ids.delete(id);
    if (jobs.length > 0) lane.ids.set(id, jobs);
    lane.lastId = id;
    this.lanes.delete(group);
    if (lane.ids.size > 0) this.lanes.set(group, lane);
    this.lastGroup = group;
    return job;
  }
}

/**
 * The first key of a map kept in serving order, unless it is the one served
 * last and another waits: a lane served while it was alone sits at the front,
 * and must not go before one that arrived since.
 */
function roundRobin<V>(map: Map<string, V>, last: string | undefined): string | undefined {
  const keys = map.keys();
  const first = keys.next();
  if (first.done) return undefined;
  if (first.value !== last) return first.value;
  const second = keys.next();
  return second.done ? first.value : second.value;
}

/** Deletes a map's oldest entry (maps iterate in insertion order). */
function dropOldest<K, V>(map: Map<K, V>): void {
  const oldest = map.keys().next();
  if (!oldest.done) map.delete(oldest.value);
}
