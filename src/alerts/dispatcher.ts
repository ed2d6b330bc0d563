/**
 * Delivers the webhook outbox: a timer in the serving process reads due rows
 * in small batches and posts them, a few at a time, each with a timeout and
 * no redirects followed. Nothing here runs on a request's path: the proxy and
 * the admin API only ever append rows (in their transactions, or through the
 * alert checks' timer), so a receiver that hangs costs the proxy nothing but
 * an idle socket.
 *
 * At least once: a row is marked delivered only after its receiver answered
 * 2xx; an attempt cut short by a stop or a crash leaves the row as it was, and
 * the next start sends it again with the same `webhook-id`.
 */
import type { Clock } from "../clock.ts";
import type { DroppedWebhookEvent, Store, WebhookOutboxRow, WebhookRow } from "../db/store.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { AlertOptions } from "./options.ts";
import { webhookSignature } from "./signing.ts";

export type DropReason = "age" | "outbox_full";

export interface DispatcherDeps {
  store: Store;
  clock: Clock;
  fetch: typeof fetch;
  logger: Logger;
  /** The HMAC key a webhook's deliveries are signed with. */
  signingKey: (row: WebhookRow) => Promise<CryptoKey>;
  /** Counts events given up (metrics). */
  onDropped?: (reason: DropReason, count: number) => void;
  /** Counts attempts by how they ended (metrics). */
  onAttempt?: (result: "delivered" | "failed") => void;
  userAgent: string;
  /** Delivers only while this says so: of several instances sharing the database, one delivers, or receivers would get each event once per instance. */
  leading?: () => boolean;
}

/** Errors are stored for the deliveries list; a long one is cut. */
const MAX_ERROR_CHARS = 200;
/** Delivered and dropped rows deleted per step of retention. */
const PRUNE_BATCH = 500;

function describe(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS)}…` : text;
}

export class WebhookDispatcher {
  private timer: ReturnType<typeof setInterval> | undefined;
  /** Outbox ids being delivered, with the webhook each goes to. */
  private readonly inFlight = new Map<number, string>();
  private readonly running = new Set<Promise<void>>();
  /** Aborts every attempt in flight when the app stops. */
  private readonly stopping = new AbortController();
  private lastHousekeeping = Number.NEGATIVE_INFINITY;
  /** A pass still writing (bound, housekeeping) before it starts deliveries; it never rejects. */
  private preparing: Promise<Promise<void>[]> | undefined;

  constructor(
    private readonly deps: DispatcherDeps,
    private readonly options: AlertOptions,
  ) {}

  start(): void {
    // A pass still writing when the timer fires again is left to finish: two at once would drop the outbox's excess twice.
    this.timer ??= setInterval(() => {
      if (this.preparing || this.deps.leading?.() === false) return;
      this.runOnce({ housekeeping: false }).catch((err: unknown) =>
        this.deps.logger.warn("Webhook delivery pass failed; will retry", { error: describe(err) }),
      );
    }, this.options.pollIntervalMs);
  }

  /**
   * One pass: the outbox bound, then (when due, or when `housekeeping` asks)
   * the age limit and retention, then as many due deliveries as the limits
   * allow. Resolves once the deliveries it started have ended; the timer
   * does not wait for that, tests may.
   */
  async runOnce(options: { housekeeping?: boolean } = {}): Promise<void> {
    if (this.stopping.signal.aborted) return;
    const preparing = this.prepare(options);
    this.preparing = preparing;
    let started: Promise<void>[];
    try {
      started = await preparing;
    } finally {
      if (this.preparing === preparing) this.preparing = undefined;
    }
    await Promise.all(started);
  }

  /** Stops the timer and aborts attempts in flight, which leave their rows due for the next start. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.stopping.abort();
    // A pass still writing finishes first, and starts nothing once it sees the stop.
    if (this.preparing) await Promise.all(await this.preparing);
    await Promise.all(this.running);
  }

  /** The writes of a pass, then the deliveries it started; never rejects. */
  private async prepare(options: { housekeeping?: boolean }): Promise<Promise<void>[]> {
    const now = this.deps.clock.now();
    try {
      await this.bound(now);
      if (options.housekeeping !== false || now - this.lastHousekeeping >= this.options.housekeepingIntervalMs) await this.housekeep(now);
      if (this.stopping.signal.aborted) return [];
      return await this.startDue(now);
    } catch (err) {
      // A locked or busy database: the next pass tries again.
      this.deps.logger.warn("Webhook delivery pass failed; will retry", { error: describe(err) });
      return [];
    }
  }

  private async bound(now: number): Promise<void> {
    const { store } = this.deps;
    const excess = store.webhookOutbox.pending() - this.options.maxPending;
    if (excess <= 0) return;
    this.dropped("outbox_full", await store.write((tx) => tx.webhookOutbox.dropOldest(excess, now, "dropped: the outbox was full")));
  }

  private async housekeep(now: number): Promise<void> {
    const { store } = this.deps;
    this.lastHousekeeping = now;
    await this.dropAged(now);
    // A few steps at most per pass, each its own write: history is small, and this is the serving thread.
    for (let step = 0; step < 10; step++) {
      const pruned = await store.write((tx) => tx.webhookOutbox.prune(now - this.options.retentionMs, PRUNE_BATCH));
      if (pruned < PRUNE_BATCH) break;
    }
    await store.write((tx) => tx.alerts.prune(now));
  }

  private async dropAged(now: number): Promise<void> {
    const hours = Math.round(this.options.maxAgeMs / 3_600_000);
    const why = `dropped: not delivered within ${hours >= 1 ? `${hours} h` : `${this.options.maxAgeMs} ms`}`;
    this.dropped("age", await this.deps.store.write((tx) => tx.webhookOutbox.dropCreatedBefore(now - this.options.maxAgeMs + 1, now, why)));
  }

  private dropped(reason: DropReason, rows: DroppedWebhookEvent[]): void {
    if (rows.length === 0) return;
    this.deps.onDropped?.(reason, rows.length);
    this.deps.logger.warn("Dropped undeliverable webhook events", {
      reason,
      count: rows.length,
      webhook_ids: [...new Set(rows.map((r) => r.webhookId))].slice(0, 20),
      oldest_event_id: rows[0]?.eventId,
      oldest_event_type: rows[0]?.eventType,
    });
  }

  private async startDue(now: number): Promise<Promise<void>[]> {
    const free = this.options.concurrency - this.inFlight.size;
    if (free <= 0) return [];
    // More than the free slots: rows of a webhook at its own limit are passed over for others'.
    let due = this.deps.store.webhookOutbox.due(now, Math.max(16, free * 8));
    if (due.some((row) => row.createdAt <= now - this.options.maxAgeMs)) {
      await this.dropAged(now);
      due = due.filter((row) => row.createdAt > now - this.options.maxAgeMs);
    }
    const perWebhook = new Map<string, number>();
    for (const webhookId of this.inFlight.values()) perWebhook.set(webhookId, (perWebhook.get(webhookId) ?? 0) + 1);
    const started: Promise<void>[] = [];
    for (const row of due) {
      // Counted afresh: another pass may have started deliveries while this one wrote.
      if (this.inFlight.size >= this.options.concurrency) break;
      if (this.inFlight.has(row.id)) continue;
      const busy = perWebhook.get(row.webhookId) ?? 0;
      if (busy >= this.options.perWebhookConcurrency) continue;
      perWebhook.set(row.webhookId, busy + 1);
      this.inFlight.set(row.id, row.webhookId);
      const attempt = this.deliver(row).finally(() => {
        this.inFlight.delete(row.id);
        this.running.delete(attempt);
      });
      this.running.add(attempt);
      started.push(attempt);
    }
    return started;
  }

  private async deliver(row: WebhookOutboxRow): Promise<void> {
    const { store, clock, logger } = this.deps;
    const hook = store.webhooks.byId(row.webhookId);
    // Deleted meanwhile: its rows went with it.
    if (!hook) return;
    let status: number | null = null;
    let error: string | null = null;
    try {
      status = await this.post(hook, row);
      if (status < 200 || status >= 300) error = status >= 300 && status < 400 ? `redirect (HTTP ${status}) not followed` : `HTTP ${status}`;
    } catch (err) {
      error = describe(err);
    }
    // Cut short by a stop: not an attempt the receiver failed, and the store may be closing.
    if (this.stopping.signal.aborted) return;
    const now = clock.now();
    const attempts = row.attempts + 1;
    try {
      if (error === null) {
        await store.write((tx) =>
          tx.webhookOutbox.recordAttempt(row.id, { attempts, status, error: null, deliveredAt: now, nextAttemptAt: row.nextAttemptAt }),
        );
        this.deps.onAttempt?.("delivered");
        return;
      }
      const backoff = this.options.backoffMs;
      const wait = backoff[Math.min(attempts - 1, backoff.length - 1)] ?? 60_000;
      // Never later than the age limit, where the row is dropped instead of tried again.
      const nextAttemptAt = Math.min(now + wait, row.createdAt + this.options.maxAgeMs);
      await store.write((tx) => tx.webhookOutbox.recordAttempt(row.id, { attempts, status, error, nextAttemptAt }));
      this.deps.onAttempt?.("failed");
      logger.debug("Webhook delivery failed; will retry", { webhook_id: hook.id, event_id: row.eventId, attempts, error });
    } catch (err) {
      // Not recorded: the row is due again and is sent again, which at-least-once allows.
      logger.warn("Cannot record a webhook delivery attempt", { webhook_id: hook.id, event_id: row.eventId, error: describe(err) });
    }
  }

  /** One signed POST; the receiver's status, or a throw (no answer in time, refused connection, stop). */
  private async post(hook: WebhookRow, row: WebhookOutboxRow): Promise<number> {
    const key = await this.deps.signingKey(hook);
    const timestamp = Math.floor(this.deps.clock.now() / 1000);
    const signature = await webhookSignature(key, row.eventId, timestamp, row.payload);
    const controller = new AbortController();
    const stop = () => controller.abort();
    this.stopping.signal.addEventListener("abort", stop);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.options.timeoutMs);
    try {
      const response = await this.deps.fetch(hook.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "user-agent": this.deps.userAgent,
          "webhook-id": row.eventId,
          "webhook-timestamp": String(timestamp),
          "webhook-signature": signature,
        },
        body: row.payload,
        redirect: "manual",
        signal: controller.signal,
      });
      // The answer's body is not read: only its status counts, and a receiver may send a lot.
      if (response.body) void response.body.cancel().catch(() => undefined);
      return response.status;
    } catch (err) {
      if (timedOut) throw new Error(`no answer within ${this.options.timeoutMs / 1000} s`);
      throw err;
    } finally {
      clearTimeout(timer);
      this.stopping.signal.removeEventListener("abort", stop);
    }
  }
}
