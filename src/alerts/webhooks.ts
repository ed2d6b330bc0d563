import { Buffer } from "node:buffer";
import { recordAudit, type ActorId } from "../changes/audit.ts";
import { queueWebhookEvent, WEBHOOK_EVENT_TYPES, WEBHOOK_TEST_EVENT, type WebhookEventType } from "../changes/webhook-events.ts";
import type { Clock } from "../clock.ts";
import { idPageOf, pageOf } from "../db/cursor.ts";
import type { PageCursor, Store, WebhookOutboxRow, WebhookRow } from "../db/store.ts";
import { fail, ok, type Result } from "../errors.ts";
import { normalizeWebhookUrl } from "../vault/base-url.ts";
import { randomBase62 } from "../vault/key-format.ts";
import type { Sealer } from "../vault/sealing.ts";
import { generateWebhookSecret, signingKey, webhookSecretHint, webhookSecretKey } from "./signing.ts";

export interface CreateWebhookInput {
  url: string;
  events: string[];
  /** `whsec_<base64>`; generated when absent. */
  secret?: string;
}

export interface CreatedWebhook {
  row: WebhookRow;
  /** Returned once, at creation; stored sealed. */
  secret: string;
}

export interface WebhookServiceDeps {
  store: Store;
  sealer: Sealer;
  clock: Clock;
  /** Plain-http targets, as for provider base URLs (`--allow-http-upstreams`). */
  allowHttp: boolean;
}

/** Each event is posted to every webhook subscribed to it: a bound on webhooks is a bound on that fan-out. */
export const MAX_WEBHOOKS = 100;

/** The associated-data context that binds a sealed webhook secret to its row, as provider keys are bound to theirs. */
export function webhookContext(id: string): string {
  return `webhooks:${id}`;
}

function checkEvents(events: string[]): Result<WebhookEventType[]> {
  const known: readonly string[] = WEBHOOK_EVENT_TYPES;
  const unknown = events.find((e) => !known.includes(e));
  if (unknown !== undefined) {
    return fail("validation_failed", `Cannot create webhook: event "${unknown}" is not one of ${WEBHOOK_EVENT_TYPES.join(", ")}`, "events");
  }
  if (events.length === 0) return fail("validation_failed", "Cannot create webhook: events must name at least one event", "events");
  return ok([...new Set(events)] as WebhookEventType[]);
}

/** Webhooks: where alerts go, each with its own signing secret, shown once and kept sealed under the master key. */
export class WebhookService {
  /** Signing keys opened once per process; a webhook never changes its secret, and a deleted one is dropped. */
  private readonly keys = new Map<string, Promise<CryptoKey>>();

  constructor(private readonly deps: WebhookServiceDeps) {}

  async create(actor: ActorId, input: CreateWebhookInput): Promise<Result<CreatedWebhook>> {
    const { store, sealer, clock } = this.deps;
    const url = normalizeWebhookUrl(input.url, this.deps.allowHttp);
    if (!url.ok) return url;
    const events = checkEvents(input.events);
    if (!events.ok) return events;
    const secret = input.secret ?? generateWebhookSecret();
    if (!webhookSecretKey(secret)) {
      return fail("validation_failed", "Cannot create webhook: secret must be whsec_ followed by the base64 of 24 to 64 bytes", "secret");
    }
    const id = `wh_${randomBase62(12)}`;
    const sealed = await sealer.seal(secret, webhookContext(id));
    const now = clock.now();
    const row: WebhookRow = {
      id,
      url: url.value,
      events: events.value,
      keyVersion: sealed.keyVersion,
      nonce: Buffer.from(sealed.nonce),
      ciphertext: Buffer.from(sealed.ciphertext),
      secretHint: webhookSecretHint(secret),
      createdBy: actor,
      createdAt: now,
    };
    return store.write((tx) => {
      if (tx.webhooks.all().length >= MAX_WEBHOOKS) {
        return fail<CreatedWebhook>("conflict", `Cannot create webhook: there are ${MAX_WEBHOOKS} already; delete one first`);
      }
      tx.webhooks.insert(row);
      recordAudit(tx, actor, now, {
        action: "webhook.create",
        targetType: "webhook",
        targetId: id,
        // The origin only: a receiver's path or query may carry its own token.
        details: { origin: new URL(row.url).origin, events: row.events },
      });
      return ok({ row, secret });
    });
  }

  list(limit: number, after?: PageCursor): { rows: WebhookRow[]; nextCursor: string | null } {
    return pageOf(this.deps.store.webhooks.page({ limit: limit + 1, after }), limit);
  }

  get(id: string): Result<WebhookRow> {
    const row = this.deps.store.webhooks.byId(id);
    return row ? ok(row) : fail("not_found", `Cannot find webhook ${id}`);
  }

  /** Its undelivered events go with it. */
  async remove(actor: ActorId, id: string): Promise<Result<null>> {
    const { store, clock } = this.deps;
    const now = clock.now();
    const result = await store.write((tx) => {
      if (!tx.webhooks.byId(id)) return fail<null>("not_found", `Cannot find webhook ${id}`);
      tx.webhooks.delete(id);
      recordAudit(tx, actor, now, { action: "webhook.delete", targetType: "webhook", targetId: id });
      return ok(null);
    });
    if (result.ok) this.keys.delete(id);
    return result;
  }

  /** Queues a `webhook.test` event for this webhook alone; returns its event id (the `webhook-id` it arrives with). */
  test(id: string): Promise<Result<{ eventId: string }>> {
    const { store, clock } = this.deps;
    const now = clock.now();
    return store.write((tx) => {
      if (!tx.webhooks.byId(id)) return fail<{ eventId: string }>("not_found", `Cannot find webhook ${id}`);
      const eventId = queueWebhookEvent(tx, now, { type: WEBHOOK_TEST_EVENT, data: { webhook_id: id } }, id) as string;
      return ok({ eventId });
    });
  }

  /** The webhook's outbox rows, newest first: what was sent, how often, and how it went. */
  deliveries(id: string, limit: number, beforeId?: number): Result<{ rows: WebhookOutboxRow[]; nextCursor: string | null }> {
    const { store } = this.deps;
    if (!store.webhooks.byId(id)) return fail("not_found", `Cannot find webhook ${id}`);
    return ok(idPageOf(store.webhookOutbox.page(id, { limit: limit + 1, beforeId }), limit));
  }

  /** The HMAC key the webhook's deliveries are signed with; for the dispatcher only, never for an answer. */
  signingKey(row: WebhookRow): Promise<CryptoKey> {
    let key = this.keys.get(row.id);
    if (!key) {
      key = this.deps.sealer.open({ keyVersion: row.keyVersion, nonce: row.nonce, ciphertext: row.ciphertext }, webhookContext(row.id)).then((secret) => {
        const bytes = webhookSecretKey(secret);
        if (!bytes) throw new Error(`Cannot sign for webhook ${row.id}: its stored secret is not a whsec_ secret`);
        return signingKey(bytes);
      });
      // A failure is not kept: the next attempt tries again.
      void key.catch(() => this.keys.delete(row.id));
      this.keys.set(row.id, key);
    }
    return key;
  }
}
