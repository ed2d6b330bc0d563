/**
 * Webhook events, queued in the webhook outbox inside the caller's
 * transaction, as audit rows are: an event commits with the change it
 * announces, or not at all, and then survives any restart until it is
 * delivered (src/alerts/dispatcher.ts). Payloads carry ids, names, amounts
 * and times, never a key or a secret.
 */
import type { Store } from "../db/store.ts";
import type { ActorId } from "./audit.ts";

/** What a webhook may subscribe to. */
export const WEBHOOK_EVENT_TYPES = ["budget.threshold", "key.expiring", "provider_key.auth_failed", "key.revoked"] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** Sent to one webhook when an admin asks (`POST /api/webhooks/{id}/test`); nobody subscribes to it. */
export const WEBHOOK_TEST_EVENT = "webhook.test";

export interface WebhookEvent {
  type: WebhookEventType | typeof WEBHOOK_TEST_EVENT;
  /** Ids, names, amounts, times: never a key, a token or a secret. */
  data: Record<string, unknown>;
}

/** Standard Webhooks' `webhook-id`: one per event, the same on every retry and for every webhook it goes to. */
function newEventId(): string {
  return `msg_${crypto.randomUUID().replaceAll("-", "")}`;
}

/**
 * Queues `event` for every webhook subscribed to its type, or for `webhookId`
 * alone; call inside the transaction of the change it announces. The body is
 * made here, once, and sent byte for byte on every attempt (signatures cover
 * it). Returns the event id, or undefined when no webhook wants it.
 */
export function queueWebhookEvent(tx: Store, at: number, event: WebhookEvent, webhookId?: string): string | undefined {
  const targets = webhookId === undefined ? tx.webhooks.subscribers(event.type) : [webhookId];
  if (targets.length === 0) return undefined;
  const eventId = newEventId();
  const payload = JSON.stringify({ type: event.type, timestamp: new Date(at).toISOString(), data: event.data });
  tx.webhookOutbox.append(targets.map((id) => ({ webhookId: id, eventId, eventType: event.type, payload, createdAt: at, nextAttemptAt: at })));
  return eventId;
}

/** `key.revoked` for a proxy key revoked by `actor` (an admin token id, or `provider_key_deleted` with its provider key). */
export function keyRevokedEvent(
  key: { id: string; name: string; providerKeyId: string },
  actor: ActorId,
  at: number,
  reason: "revoked" | "provider_key_deleted" = "revoked",
): WebhookEvent {
  return {
    type: "key.revoked",
    data: {
      proxy_key_id: key.id,
      name: key.name,
      provider_key_id: key.providerKeyId,
      revoked_at: new Date(at).toISOString(),
      revoked_by: actor,
      reason,
    },
  };
}
