/** How alerts are checked and delivered; README's "Alerts" section documents the defaults. */
export interface AlertOptions {
  /** How often the dispatcher looks for due events. */
  pollIntervalMs: number;
  /** Deliveries in flight at once, over all webhooks… */
  concurrency: number;
  /** …and to any one webhook, so a receiver that hangs cannot hold every slot. */
  perWebhookConcurrency: number;
  /** How long a receiver has to answer an attempt. */
  timeoutMs: number;
  /** Waits after the 1st, 2nd… failed attempt; the last one repeats. */
  backoffMs: readonly number[];
  /** An event not delivered this long after it was queued is dropped. */
  maxAgeMs: number;
  /** Undelivered events kept at most; beyond, the oldest are dropped. */
  maxPending: number;
  /** Delivered and dropped events stay listed (GET /api/webhooks/{id}/deliveries) this long. */
  retentionMs: number;
  /** How often the outbox bound, the age limit and retention are applied. */
  housekeepingIntervalMs: number;
  /** How often budget crossings and upstream refusals noted in memory become events. */
  checkIntervalMs: number;
  /** How often keys about to expire are looked for. */
  expiryScanIntervalMs: number;
  /** `key.expiring` is sent this long before a key expires. */
  expiryNoticeMs: number;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

export const DEFAULT_ALERT_OPTIONS: AlertOptions = {
  pollIntervalMs: SECOND,
  concurrency: 4,
  perWebhookConcurrency: 2,
  timeoutMs: 10 * SECOND,
  backoffMs: [5 * SECOND, 30 * SECOND, 2 * MINUTE, 10 * MINUTE, HOUR],
  maxAgeMs: 24 * HOUR,
  maxPending: 10_000,
  retentionMs: 7 * 24 * HOUR,
  housekeepingIntervalMs: MINUTE,
  checkIntervalMs: 2 * SECOND,
  expiryScanIntervalMs: MINUTE,
  expiryNoticeMs: 24 * HOUR,
};
