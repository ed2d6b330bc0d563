import { t } from "elysia";
import { WEBHOOK_EVENT_TYPES } from "../../changes/webhook-events.ts";
import type { WebhookOutboxRow, WebhookRow } from "../../db/store.ts";
import { iso, pageModel } from "../pagination.ts";

export const CreateWebhookBody = t.Object(
  {
    url: t.String({
      minLength: 1,
      maxLength: 2000,
      description: "Where events are posted: https (http only with --allow-http-upstreams), no credentials, no fragment",
      examples: ["https://alerts.example.com/keyward"],
    }),
    events: t.Array(t.UnionEnum(WEBHOOK_EVENT_TYPES, { default: undefined }), {
      minItems: 1,
      maxItems: WEBHOOK_EVENT_TYPES.length,
      uniqueItems: true,
      description: "The events this webhook receives",
      examples: [["budget.threshold", "key.revoked"]],
    }),
    secret: t.Optional(
      t.String({
        minLength: 1,
        maxLength: 200,
        description: "The Standard Webhooks signing secret, `whsec_` and the base64 of 24 to 64 bytes; generated (32 bytes) when absent",
        examples: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
      }),
    ),
  },
  { additionalProperties: false, title: "CreateWebhook" },
);

export const WebhookView = t.Object(
  {
    id: t.String({ examples: ["wh_Qm3xT0aB7cD9"] }),
    url: t.String(),
    events: t.Array(t.String()),
    secret_hint: t.String({ description: "The secret's last four characters", examples: ["whsec_…aSw="] }),
    created_by: t.Union([t.String(), t.Null()]),
    created_at: t.String({ format: "date-time" }),
  },
  { title: "Webhook" },
);

export const CreatedWebhookView = t.Object(
  { ...WebhookView.properties, secret: t.String({ description: "The signing secret, shown only here", examples: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"] }) },
  { title: "CreatedWebhook" },
);

export const WebhookPage = pageModel(WebhookView, "WebhookPage");

export const QueuedTestEvent = t.Object(
  {
    event_id: t.String({ description: "The `webhook-id` the test event arrives with", examples: ["msg_0f8fad5bd9cb469fa16570867728950e"] }),
    webhook_id: t.String(),
  },
  { title: "QueuedTestEvent" },
);

export const DELIVERY_STATUSES = ["pending", "delivered", "dropped"] as const;

export const DeliveryView = t.Object(
  {
    id: t.Integer({ description: "The outbox row" }),
    event_id: t.String({ description: "`webhook-id`: the same on every attempt" }),
    event_type: t.String({ examples: ["budget.threshold"] }),
    status: t.UnionEnum(DELIVERY_STATUSES, { default: undefined, description: "pending: waiting for its next attempt; dropped: given up" }),
    attempts: t.Integer(),
    last_status: t.Union([t.Integer(), t.Null()], { description: "The receiver's HTTP status at the last attempt; null when it did not answer" }),
    last_error: t.Union([t.String(), t.Null()], { description: "Why the last attempt failed, or why the event was dropped" }),
    created_at: t.String({ format: "date-time" }),
    next_attempt_at: t.Union([t.String({ format: "date-time" }), t.Null()], { description: "Set while pending" }),
    delivered_at: t.Union([t.String({ format: "date-time" }), t.Null()]),
    dropped_at: t.Union([t.String({ format: "date-time" }), t.Null()]),
    payload: t.Unknown({ description: "The body sent (`{type, timestamp, data}`): ids, names, amounts, never a secret" }),
  },
  { title: "WebhookDelivery" },
);

export const DeliveryPage = pageModel(DeliveryView, "WebhookDeliveryPage");

export function webhookView(row: WebhookRow) {
  return {
    id: row.id,
    url: row.url,
    events: row.events,
    secret_hint: row.secretHint,
    created_by: row.createdBy,
    created_at: iso(row.createdAt) as string,
  };
}

export function deliveryView(row: WebhookOutboxRow) {
  const status: (typeof DELIVERY_STATUSES)[number] = row.deliveredAt !== null ? "delivered" : row.droppedAt !== null ? "dropped" : "pending";
  return {
    id: row.id,
    event_id: row.eventId,
    event_type: row.eventType,
    status,
    attempts: row.attempts,
    last_status: row.lastStatus,
    last_error: row.lastError,
    created_at: iso(row.createdAt) as string,
    next_attempt_at: status === "pending" ? iso(row.nextAttemptAt) : null,
    delivered_at: iso(row.deliveredAt),
    dropped_at: iso(row.droppedAt),
    payload: JSON.parse(row.payload) as unknown,
  };
}
