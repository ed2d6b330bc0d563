/**
 * The alerts that are not a change an admin makes: budget thresholds,
 * provider keys refused upstream, keys about to expire. The first two are
 * noticed on the proxy's path, which only notes them in memory (a map entry,
 * no I/O); a timer then turns them into outbox rows, each at most once per
 * subject and marker (`alerts_sent`), so neither a burst of refusals nor a
 * restart repeats an alert. Keys about to expire are looked for by a
 * periodic scan of the expiry index.
 */
import type { Clock } from "../clock.ts";
import { queueWebhookEvent, type WebhookEventType } from "../changes/webhook-events.ts";
import type { Store } from "../db/store.ts";
import type { BudgetCrossing } from "../limits/budget.ts";
import { microsToUsd } from "../limits/money.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { AlertOptions } from "./options.ts";

/** What the proxy tells the alerts; it must return at once and never wait. */
export interface ProviderAuthAlerts {
  /** The upstream answered 401 or 403 to the provider key (revoked or cut off at the provider). */
  providerAuthFailed(providerKeyId: string, status: number): void;
}

export interface AlertCheckDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
}

/** Noted alerts waiting for the next check, at most: a flood of distinct subjects cannot grow memory without bound. */
const MAX_NOTED = 10_000;
/** Keys announced per expiry scan; more wait for the next scan. */
const EXPIRY_BATCH = 500;
const HOUR = 3_600_000;

const iso = (ms: number) => new Date(ms).toISOString();

interface AuthFailure {
  status: number;
  at: number;
}

export class AlertChecks implements ProviderAuthAlerts {
  private authFailures = new Map<string, AuthFailure>();
  private crossings = new Map<string, BudgetCrossing>();
  /** The hour each provider key's refusal was last announced in: later refusals that hour need no write. */
  private readonly announcedHour = new Map<string, number>();
  private checkTimer: ReturnType<typeof setInterval> | undefined;
  private scanTimer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly deps: AlertCheckDeps,
    private readonly options: AlertOptions,
  ) {}

  start(): void {
    // Neither rejects: each logs a failed write and tries again at its next tick.
    this.checkTimer ??= setInterval(() => void this.check(), this.options.checkIntervalMs);
    this.scanTimer ??= setInterval(() => void this.scanExpiring(), this.options.expiryScanIntervalMs);
  }

  /** Stops the timers, then turns what is still noted into outbox rows, so a clean stop loses no alert. */
  async stop(): Promise<void> {
    if (this.checkTimer) clearInterval(this.checkTimer);
    if (this.scanTimer) clearInterval(this.scanTimer);
    this.checkTimer = undefined;
    this.scanTimer = undefined;
    await this.check();
  }

  providerAuthFailed(providerKeyId: string, status: number): void {
    const at = this.deps.clock.now();
    if (this.announcedHour.get(providerKeyId) === Math.floor(at / HOUR)) return;
    if (this.authFailures.size >= MAX_NOTED && !this.authFailures.has(providerKeyId)) return;
    this.authFailures.set(providerKeyId, { status, at });
  }

  /** A budget's settled spend crossed a threshold (the budget ledger's `onThreshold`); runs while a request settles. */
  noteCrossing(crossing: BudgetCrossing): void {
    if (this.crossings.size >= MAX_NOTED) return;
    this.crossings.set(`${crossing.holder}:${crossing.id}:${crossing.periodStartedAt}:${crossing.threshold}`, crossing);
  }

  /** Turns noted refusals and crossings into outbox rows, in one write; safe to call any time, and never rejects. */
  async check(): Promise<void> {
    if (this.authFailures.size === 0 && this.crossings.size === 0) return;
    const failures = this.authFailures;
    const crossings = this.crossings;
    this.authFailures = new Map();
    this.crossings = new Map();
    const now = this.deps.clock.now();
    try {
      const announced = await this.deps.store.write((tx) => {
        // Made afresh by each run of the write: only the run that commits says which hours were announced.
        const hours = new Map<string, number>();
        for (const [providerKeyId, failure] of failures) {
          const hour = this.announceAuthFailure(tx, providerKeyId, failure, now);
          if (hour !== undefined) hours.set(providerKeyId, hour);
        }
        for (const crossing of crossings.values()) this.announceCrossing(tx, crossing, now);
        return hours;
      });
      for (const [providerKeyId, hour] of announced) this.announcedHour.set(providerKeyId, hour);
    } catch (err) {
      // Kept for the next check: alerts_sent makes a second try harmless.
      for (const [id, failure] of failures) if (!this.authFailures.has(id)) this.authFailures.set(id, failure);
      for (const [key, crossing] of crossings) if (!this.crossings.has(key)) this.crossings.set(key, crossing);
      this.deps.logger.warn("Cannot queue alerts; will retry", { error: err instanceof Error ? err.message : String(err) });
    }
  }

  /** Returns the hour the refusal counts for once it is announced (or was before), undefined while nobody listens. */
  private announceAuthFailure(tx: Store, providerKeyId: string, failure: AuthFailure, now: number): number | undefined {
    if (!wanted(tx, "provider_key.auth_failed")) return undefined;
    const hour = Math.floor(failure.at / HOUR);
    const row = tx.providerKeys.byId(providerKeyId);
    if (!row || !tx.alerts.claim("provider_key.auth_failed", providerKeyId, String(hour), now)) return hour;
    queueWebhookEvent(tx, now, {
      type: "provider_key.auth_failed",
      data: { provider_key_id: row.id, name: row.name, provider: row.provider, status: failure.status, at: iso(failure.at) },
    });
    return hour;
  }

  private announceCrossing(tx: Store, crossing: BudgetCrossing, now: number): void {
    if (!wanted(tx, "budget.threshold")) return;
    const subject = crossing.holder === "team" ? "team" : "proxy_key";
    const row = crossing.holder === "team" ? tx.teams.byId(crossing.id) : tx.proxyKeys.byId(crossing.id);
    if (!row) return;
    if (!tx.alerts.claim("budget.threshold", `${subject}:${crossing.id}`, `${crossing.periodStartedAt}:${crossing.threshold}`, now)) return;
    queueWebhookEvent(tx, now, {
      type: "budget.threshold",
      data: {
        subject,
        [`${subject}_id`]: crossing.id,
        name: row.name,
        threshold_percent: crossing.threshold,
        spend_usd: microsToUsd(crossing.spendMicros),
        budget_usd: microsToUsd(crossing.budgetMicros),
        budget_period: row.budgetPeriod,
        period_started_at: iso(crossing.periodStartedAt),
      },
    });
  }

  /** Announces keys expiring within the notice, once per key and expiry; returns how many. Safe to call any time, and never rejects. */
  async scanExpiring(): Promise<number> {
    const { store, clock, logger } = this.deps;
    const now = clock.now();
    const notice = this.options.expiryNoticeMs;
    try {
      // Nobody listening: nothing is read, and nothing is marked sent, so a webhook created later still hears of them.
      if (!wanted(store, "key.expiring")) return 0;
      // Keys that live no longer than the notice in all (CI keys of an hour) were never going to be announced in time.
      const keys = store.alerts.expiringKeys(now, now + notice, notice, EXPIRY_BATCH);
      if (keys.length === 0) return 0;
      return await store.write((tx) => {
        let sent = 0;
        for (const key of keys) {
          if (!tx.alerts.claim("key.expiring", key.id, String(key.expiresAt), now)) continue;
          queueWebhookEvent(tx, now, {
            type: "key.expiring",
            data: {
              proxy_key_id: key.id,
              name: key.name,
              provider_key_id: key.providerKeyId,
              expires_at: iso(key.expiresAt),
              expires_in_seconds: Math.max(0, Math.round((key.expiresAt - now) / 1000)),
            },
          });
          sent++;
        }
        return sent;
      });
    } catch (err) {
      logger.warn("Cannot scan for expiring keys; will retry", { error: err instanceof Error ? err.message : String(err) });
      return 0;
    }
  }
}

/** Whether any webhook subscribes: an alert nobody hears is not marked sent. */
function wanted(store: Store, type: WebhookEventType): boolean {
  return store.webhooks.subscribers(type).length > 0;
}
