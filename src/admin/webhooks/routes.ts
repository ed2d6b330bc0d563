import { Elysia, t } from "elysia";
import type { WebhookService } from "../../alerts/webhooks.ts";
import { decodeCursor, decodeIdCursor } from "../../db/cursor.ts";
import { adminAuth, type AdminAuthDeps } from "../auth.ts";
import { errorResponses, unwrap } from "../errors.ts";
import { PageQuery, readCursor } from "../pagination.ts";
import { CreatedWebhookView, CreateWebhookBody, DeliveryPage, deliveryView, QueuedTestEvent, WebhookPage, WebhookView, webhookView } from "./model.ts";

const IdParams = t.Object({ id: t.String({ maxLength: 64, description: "Webhook id", examples: ["wh_Qm3xT0aB7cD9"] }) });

/** `/api/webhooks`: where alerts are posted, signed as Standard Webhooks describes. Writes need admin, reads read. */
export function webhookRoutes(auth: AdminAuthDeps, service: WebhookService) {
  return new Elysia({ name: "admin.webhooks", prefix: "/webhooks", detail: { tags: ["Webhooks"] } })
    .use(adminAuth(auth))
    .post(
      "",
      async ({ body, actor, status }) => {
        const created = unwrap(await service.create(actor.id, body));
        return status(201, { ...webhookView(created.row), secret: created.secret });
      },
      {
        scope: "admin",
        parse: "application/json",
        body: CreateWebhookBody,
        response: { 201: CreatedWebhookView, ...errorResponses(400, 401, 403, 409, 422) },
        detail: {
          summary: "Create a webhook",
          description:
            "Events named in `events` are posted to `url`, signed with `secret` (Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`). The secret is returned once, here; it is generated when not given. The URL follows the rules of provider base URLs (https unless the server allows plain http, no credentials).",
        },
      },
    )
    .get(
      "",
      ({ query }) => {
        const page = service.list(query.limit ?? 50, readCursor(query.cursor, decodeCursor));
        return { data: page.rows.map(webhookView), next_cursor: page.nextCursor };
      },
      {
        scope: "read",
        query: t.Object(PageQuery),
        response: { 200: WebhookPage, ...errorResponses(401, 403, 422) },
        detail: { summary: "List webhooks", description: "Newest first. Secrets are never returned; `secret_hint` tells them apart." },
      },
    )
    .get("/:id", ({ params }) => webhookView(unwrap(service.get(params.id))), {
      scope: "read",
      params: IdParams,
      response: { 200: WebhookView, ...errorResponses(401, 403, 404, 422) },
      detail: { summary: "Get a webhook" },
    })
    .delete(
      "/:id",
      async ({ params, actor }) => {
        unwrap(await service.remove(actor.id, params.id));
        return { deleted: true as const, id: params.id };
      },
      {
        scope: "admin",
        params: IdParams,
        response: { 200: t.Object({ deleted: t.Literal(true), id: t.String() }, { title: "DeletedWebhook" }), ...errorResponses(401, 403, 404, 422) },
        detail: { summary: "Delete a webhook", description: "Its events still waiting are not delivered; its delivery history goes with it." },
      },
    )
    .post(
      "/:id/test",
      async ({ params, status }) => {
        const queued = unwrap(await service.test(params.id));
        return status(202, { event_id: queued.eventId, webhook_id: params.id });
      },
      {
        scope: "admin",
        params: IdParams,
        response: { 202: QueuedTestEvent, ...errorResponses(401, 403, 404, 422) },
        detail: {
          summary: "Send a test event",
          description:
            "Queues a signed `webhook.test` event for this webhook, delivered like any other (retries included); follow it in `GET /api/webhooks/{id}/deliveries`.",
        },
      },
    )
    .get(
      "/:id/deliveries",
      ({ params, query }) => {
        const page = unwrap(service.deliveries(params.id, query.limit ?? 50, readCursor(query.cursor, decodeIdCursor)));
        return { data: page.rows.map(deliveryView), next_cursor: page.nextCursor };
      },
      {
        scope: "read",
        params: IdParams,
        query: t.Object(PageQuery),
        response: { 200: DeliveryPage, ...errorResponses(401, 403, 404, 422) },
        detail: {
          summary: "List a webhook's deliveries",
          description:
            "Its events, newest first, each with its attempts, the receiver's last status or error, and whether it is pending, delivered or dropped. Delivered and dropped events are kept 7 days.",
        },
      },
    );
}
