/**
 * The SQLite repositories of webhooks, their outbox and the alerts sent;
 * sqlite-store.ts puts them into a Store. Every query of waiting outbox rows
 * names `delivered_at is null and dropped_at is null`, the partial index's
 * condition, so SQLite can read that index (a few thousand rows at most)
 * instead of the whole history of deliveries.
 */
import { and, asc, count, desc, eq, gt, inArray, isNotNull, isNull, lt, lte, or, sql } from "drizzle-orm";
import type { Db } from "./client.ts";
import { alertsSent, proxyKeys, webhookOutbox, webhooks } from "./schema.ts";
import type { AlertRepo, DroppedWebhookEvent, WebhookOutboxRepo, WebhookRepo } from "./store.ts";

export function webhookRepo(db: Db): WebhookRepo {
  return {
    insert: (row) => void db.insert(webhooks).values(row).run(),
    delete: (id) => void db.delete(webhooks).where(eq(webhooks.id, id)).run(),
    byId: (id) => db.select().from(webhooks).where(eq(webhooks.id, id)).get(),
    page: (query) =>
      db
        .select()
        .from(webhooks)
        .where(
          query.after === undefined
            ? undefined
            : or(lt(webhooks.createdAt, query.after.createdAt), and(eq(webhooks.createdAt, query.after.createdAt), lt(webhooks.id, query.after.id))),
        )
        .orderBy(desc(webhooks.createdAt), desc(webhooks.id))
        .limit(query.limit)
        .all(),
    all: () => db.select().from(webhooks).all(),
    subscribers: (eventType) =>
      db
        .select({ id: webhooks.id })
        .from(webhooks)
        .where(sql`exists (select 1 from json_each(${webhooks.events}) where json_each.value = ${eventType})`)
        .all()
        .map((r) => r.id),
    reseal: (id, sealed) =>
      void db.update(webhooks).set({ keyVersion: sealed.keyVersion, nonce: sealed.nonce, ciphertext: sealed.ciphertext }).where(eq(webhooks.id, id)).run(),
  };
}

const waiting = and(isNull(webhookOutbox.deliveredAt), isNull(webhookOutbox.droppedAt));

const DROPPED_COLUMNS = {
  id: webhookOutbox.id,
  webhookId: webhookOutbox.webhookId,
  eventId: webhookOutbox.eventId,
  eventType: webhookOutbox.eventType,
  createdAt: webhookOutbox.createdAt,
};

export function webhookOutboxRepo(db: Db): WebhookOutboxRepo {
  return {
    append: (rows) => {
      if (rows.length > 0) db.insert(webhookOutbox).values(rows).run();
    },
    due: (now, limit) =>
      db
        .select()
        .from(webhookOutbox)
        .where(and(waiting, lte(webhookOutbox.nextAttemptAt, now)))
        .orderBy(asc(webhookOutbox.nextAttemptAt), asc(webhookOutbox.id))
        .limit(limit)
        .all(),
    recordAttempt: (id, attempt) =>
      void db
        .update(webhookOutbox)
        .set({
          attempts: attempt.attempts,
          lastStatus: attempt.status,
          lastError: attempt.error,
          nextAttemptAt: attempt.nextAttemptAt,
          deliveredAt: attempt.deliveredAt ?? null,
        })
        .where(and(eq(webhookOutbox.id, id), waiting))
        .run(),
    pending: () => db.select({ n: count() }).from(webhookOutbox).where(waiting).get()?.n ?? 0,
    dropOldest: (n, now, reason): DroppedWebhookEvent[] => {
      if (n <= 0) return [];
      const oldest = db.select({ id: webhookOutbox.id }).from(webhookOutbox).where(waiting).orderBy(asc(webhookOutbox.id)).limit(n);
      return db
        .update(webhookOutbox)
        .set({ droppedAt: now, lastError: reason })
        .where(and(waiting, inArray(webhookOutbox.id, oldest)))
        .returning(DROPPED_COLUMNS)
        .all();
    },
    dropCreatedBefore: (before, now, reason) =>
      db
        .update(webhookOutbox)
        .set({ droppedAt: now, lastError: reason })
        .where(and(waiting, lt(webhookOutbox.createdAt, before)))
        .returning(DROPPED_COLUMNS)
        .all(),
    prune: (before, limit) => {
      // Rows are written in time order, so the oldest ids are the old rows: the scan starts where they are.
      const old = db
        .select({ id: webhookOutbox.id })
        .from(webhookOutbox)
        .where(and(lt(webhookOutbox.createdAt, before), or(isNotNull(webhookOutbox.deliveredAt), isNotNull(webhookOutbox.droppedAt))))
        .orderBy(asc(webhookOutbox.id))
        .limit(limit);
      return db.delete(webhookOutbox).where(inArray(webhookOutbox.id, old)).returning({ id: webhookOutbox.id }).all().length;
    },
    page: (webhookId, query) =>
      db
        .select()
        .from(webhookOutbox)
        .where(and(eq(webhookOutbox.webhookId, webhookId), query.beforeId === undefined ? undefined : lt(webhookOutbox.id, query.beforeId)))
        .orderBy(desc(webhookOutbox.id))
        .limit(query.limit)
        .all(),
  };
}

const DAY = 86_400_000;
/** Budget and auth-failure markers are kept this long: longer than any budget period (a month), so none can repeat. */
const MARKER_RETENTION_MS = 35 * DAY;

export function alertRepo(db: Db): AlertRepo {
  return {
    claim: (kind, subjectId, marker, at) =>
      db.insert(alertsSent).values({ kind, subjectId, marker, at }).onConflictDoNothing().returning({ kind: alertsSent.kind }).all().length > 0,
    expiringKeys: (from, to, minLifetimeMs, limit) =>
      db
        .select({ id: proxyKeys.id, name: proxyKeys.name, providerKeyId: proxyKeys.providerKeyId, expiresAt: sql<number>`${proxyKeys.expiresAt}` })
        .from(proxyKeys)
        .where(
          and(
            // The partial index of keys not purged yet, by expiry (schema.ts): a range of it, not every key.
            sql`${proxyKeys.secretHash} <> ''`,
            gt(proxyKeys.expiresAt, from),
            lte(proxyKeys.expiresAt, to),
            isNull(proxyKeys.revokedAt),
            sql`${proxyKeys.expiresAt} - ${proxyKeys.createdAt} > ${minLifetimeMs}`,
            sql`not exists (select 1 from ${alertsSent} where ${alertsSent.kind} = 'key.expiring' and ${alertsSent.subjectId} = ${proxyKeys.id} and ${alertsSent.marker} = cast(${proxyKeys.expiresAt} as text))`,
          ),
        )
        .orderBy(asc(proxyKeys.expiresAt))
        .limit(limit)
        .all(),
    prune: (now) => {
      const old = now - MARKER_RETENTION_MS;
      const removed = db
        .delete(alertsSent)
        .where(
          or(
            // A `total` budget's period never ends (its markers start with "0:"): those stay.
            and(eq(alertsSent.kind, "budget.threshold"), lt(alertsSent.at, old), sql`${alertsSent.marker} not like '0:%'`),
            and(eq(alertsSent.kind, "provider_key.auth_failed"), lt(alertsSent.at, now - DAY)),
            // The marker is the expiry it announced: once long past, a new expiry has a new marker anyway.
            and(eq(alertsSent.kind, "key.expiring"), sql`cast(${alertsSent.marker} as integer) < ${now - DAY}`),
          ),
        )
        .returning({ kind: alertsSent.kind })
        .all();
      return removed.length;
    },
  };
}
