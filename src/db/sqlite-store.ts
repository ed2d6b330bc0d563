import { and, asc, count, desc, eq, gt, gte, inArray, isNotNull, isNull, lt, lte, ne, or, sql, sum, type SQL } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import type { SqliteClient, SqliteStatement } from "../runtime/types.ts";
import { rawClient, type Db } from "./client.ts";
import { LOG_INSERT, logRowValues } from "./request-log-sql.ts";
import { adminTokens, auditLog, meta, oidcTrustPolicies, prices, providerKeys, proxyKeys, requestLog } from "./schema.ts";
import type { PageQuery, ProxyKeyFilter, RequestLogFilter, Store, UsageGroup } from "./store.ts";

function logConditions(filter: RequestLogFilter): SQL | undefined {
  return and(
    filter.proxyKeyId === undefined ? undefined : eq(requestLog.proxyKeyId, filter.proxyKeyId),
    filter.providerKeyId === undefined ? undefined : eq(requestLog.providerKeyId, filter.providerKeyId),
    filter.model === undefined ? undefined : eq(requestLog.model, filter.model),
    filter.status === undefined ? undefined : eq(requestLog.status, filter.status),
    filter.from === undefined ? undefined : gte(requestLog.at, filter.from),
    filter.to === undefined ? undefined : lt(requestLog.at, filter.to),
  );
}

function groupColumn(group: UsageGroup): SQL<string | null> {
  switch (group) {
    case "proxy_key":
      return sql<string | null>`${requestLog.proxyKeyId}`;
    case "provider_key":
      return sql<string | null>`${requestLog.providerKeyId}`;
    case "model":
      return sql<string | null>`${requestLog.model}`;
    case "day":
      return sql<string>`strftime('%Y-%m-%d', ${requestLog.at} / 1000, 'unixepoch')`;
  }
}

/** `(created_at, id) < cursor` for newest-first keyset pagination. */
function before(createdAt: SQLiteColumn, id: SQLiteColumn, query: PageQuery): SQL | undefined {
  if (!query.after) return undefined;
  return or(
    lt(createdAt, query.after.createdAt),
    and(eq(createdAt, query.after.createdAt), lt(id, query.after.id)),
  );
}

function notExpired(now: number): SQL | undefined {
  return or(isNull(proxyKeys.expiresAt), gt(proxyKeys.expiresAt, now));
}

/** Statements prepared once per connection and shared with the stores of its transactions. */
interface Prepared {
  client?: SqliteClient;
  logInsert?: SqliteStatement;
}
/** The SQLite implementation of `Store`, over a drizzle database or transaction. */
export function createSqliteStore(db: Db, close: () => void = () => {}, prepared: Prepared = { client: rawClient(db) }): Store {
  const store: Store = {
    providerKeys: {
      insert: (row) => void db.insert(providerKeys).values(row).run(),
      update: (id, patch) => void db.update(providerKeys).set(patch).where(eq(providerKeys.id, id)).run(),
      delete: (id) => void db.delete(providerKeys).where(eq(providerKeys.id, id)).run(),
      byId: (id) => db.select().from(providerKeys).where(eq(providerKeys.id, id)).get(),
      byName: (name) => db.select().from(providerKeys).where(eq(providerKeys.name, name)).get(),
      page: (query) =>
        db
          .select()
          .from(providerKeys)
          .where(before(providerKeys.createdAt, providerKeys.id, query))
          .orderBy(desc(providerKeys.createdAt), desc(providerKeys.id))
          .limit(query.limit)
          .all(),
      all: () => db.select().from(providerKeys).all(),
    },
    proxyKeys: {
      insert: (row) => void db.insert(proxyKeys).values(row).run(),
      update: (id, patch) => void db.update(proxyKeys).set(patch).where(eq(proxyKeys.id, id)).run(),
      delete: (id) => void db.delete(proxyKeys).where(eq(proxyKeys.id, id)).run(),
      byId: (id) => db.select().from(proxyKeys).where(eq(proxyKeys.id, id)).get(),
      page: (query, filter: ProxyKeyFilter) =>
        db
          .select()
          .from(proxyKeys)
          .where(
            and(
              before(proxyKeys.createdAt, proxyKeys.id, query),
              filter.providerKeyId === undefined
                ? undefined
                : eq(proxyKeys.providerKeyId, filter.providerKeyId),
              filter.revoked === undefined
                ? undefined
                : filter.revoked
                  ? isNotNull(proxyKeys.revokedAt)
                  : isNull(proxyKeys.revokedAt),
              filter.expiredBefore === undefined
                ? undefined
                : lte(proxyKeys.expiresAt, filter.expiredBefore),
              filter.activeAt === undefined ? undefined : notExpired(filter.activeAt),
              filter.providerDisabled === undefined
                ? undefined
                : inArray(
                    proxyKeys.providerKeyId,
                    db
                      .select({ id: providerKeys.id })
                      .from(providerKeys)
                      .where(eq(providerKeys.disabled, filter.providerDisabled)),
                  ),
            ),
          )
          .orderBy(desc(proxyKeys.createdAt), desc(proxyKeys.id))
          .limit(query.limit)
          .all(),
      activeIdsForProviderKey: (providerKeyId, now) =>
        db
          .select({ id: proxyKeys.id })
          .from(proxyKeys)
          .where(
            and(eq(proxyKeys.providerKeyId, providerKeyId), isNull(proxyKeys.revokedAt), notExpired(now)),
          )
          .all()
          .map((r) => r.id),
      countForProviderKey: (providerKeyId) =>
        db.select({ n: count() }).from(proxyKeys).where(eq(proxyKeys.providerKeyId, providerKeyId)).get()
          ?.n ?? 0,
      revokeForProviderKey: (providerKeyId, now) =>
        db
          .update(proxyKeys)
          .set({ revokedAt: now, updatedAt: now })
          .where(and(eq(proxyKeys.providerKeyId, providerKeyId), isNull(proxyKeys.revokedAt)))
          .returning({ id: proxyKeys.id })
          .all()
          .map((r) => r.id),
      deleteForProviderKey: (providerKeyId) =>
        void db.delete(proxyKeys).where(eq(proxyKeys.providerKeyId, providerKeyId)).run(),
      setSpend: (update) =>
        void db
          .update(proxyKeys)
          .set({ spendMicros: update.spendMicros, periodStartedAt: update.periodStartedAt })
          .where(eq(proxyKeys.id, update.id))
          .run(),
      purgeSecrets: (before, marker) =>
        db
          .update(proxyKeys)
          .set({ secretHash: marker })
          .where(
            and(
              ne(proxyKeys.secretHash, marker),
              or(lte(proxyKeys.revokedAt, before), lte(proxyKeys.expiresAt, before)),
            ),
          )
          .returning({ id: proxyKeys.id })
          .all()
          .map((r) => r.id),
    },
    trustPolicies: {
      insert: (row) => void db.insert(oidcTrustPolicies).values(row).run(),
      delete: (id) => void db.delete(oidcTrustPolicies).where(eq(oidcTrustPolicies.id, id)).run(),
      byId: (id) => db.select().from(oidcTrustPolicies).where(eq(oidcTrustPolicies.id, id)).get(),
      byName: (name) => db.select().from(oidcTrustPolicies).where(eq(oidcTrustPolicies.name, name)).get(),
      page: (query) =>
        db
          .select()
          .from(oidcTrustPolicies)
          .where(before(oidcTrustPolicies.createdAt, oidcTrustPolicies.id, query))
          .orderBy(desc(oidcTrustPolicies.createdAt), desc(oidcTrustPolicies.id))
          .limit(query.limit)
          .all(),
      forIssuer: (issuer) =>
        db
          .select()
          .from(oidcTrustPolicies)
          .where(eq(oidcTrustPolicies.issuer, issuer))
          .orderBy(asc(oidcTrustPolicies.createdAt), asc(oidcTrustPolicies.id))
          .all(),
      countForProviderKey: (providerKeyId) =>
        db
          .select({ n: count() })
          .from(oidcTrustPolicies)
          .where(eq(oidcTrustPolicies.providerKeyId, providerKeyId))
          .get()?.n ?? 0,
    },
    prices: {
      all: () => db.select().from(prices).all(),
      upsert: (row) =>
        void db
          .insert(prices)
          .values(row)
          .onConflictDoUpdate({
            target: prices.model,
            set: {
              inputMicros: row.inputMicros,
              cachedInputMicros: row.cachedInputMicros,
              outputMicros: row.outputMicros,
              updatedAt: row.updatedAt,
            },
          })
          .run(),
      delete: (model) => void db.delete(prices).where(eq(prices.model, model)).run(),
    },
    requestLog: {
      appendMany: (rows) => {
        // One raw statement, prepared once (see request-log-sql.ts).
        const client = prepared.client;
        if (!client) {
          for (let i = 0; i < rows.length; i += 500) db.insert(requestLog).values(rows.slice(i, i + 500)).run();
          return;
        }
        const insert = (prepared.logInsert ??= client.prepare(LOG_INSERT));
        for (const r of rows) insert.run(...logRowValues(r));
      },
      page: (filter, limit, beforeId) =>
        db
          .select()
          .from(requestLog)
          .where(and(logConditions(filter), beforeId === undefined ? undefined : lt(requestLog.id, beforeId)))
          .orderBy(desc(requestLog.id))
          .limit(limit)
          .all(),
      usage: (group, filter) => {
        const column = groupColumn(group);
        return db
          .select({
            group: column,
            requests: count(),
            inputTokens: sql<number>`coalesce(${sum(requestLog.inputTokens)}, 0)`.mapWith(Number),
            outputTokens: sql<number>`coalesce(${sum(requestLog.outputTokens)}, 0)`.mapWith(Number),
            cachedTokens: sql<number>`coalesce(${sum(requestLog.cachedTokens)}, 0)`.mapWith(Number),
            costMicros: sql<number>`coalesce(${sum(requestLog.costMicros)}, 0)`.mapWith(Number),
          })
          .from(requestLog)
          .where(logConditions(filter))
          .groupBy(column)
          .orderBy(column)
          .all();
      },
      deleteBefore: (at) =>
        db.delete(requestLog).where(lt(requestLog.at, at)).returning({ id: requestLog.id }).all().length,
    },
    adminTokens: {
      insert: (row) => void db.insert(adminTokens).values(row).run(),
      update: (id, patch) => void db.update(adminTokens).set(patch).where(eq(adminTokens.id, id)).run(),
      byId: (id) => db.select().from(adminTokens).where(eq(adminTokens.id, id)).get(),
      page: (query) =>
        db
          .select()
          .from(adminTokens)
          .where(before(adminTokens.createdAt, adminTokens.id, query))
          .orderBy(desc(adminTokens.createdAt), desc(adminTokens.id))
          .limit(query.limit)
          .all(),
      count: () => db.select({ n: count() }).from(adminTokens).get()?.n ?? 0,
    },
    audit: {
      append: (row) => void db.insert(auditLog).values(row).run(),
      page: (limit, beforeId) =>
        db
          .select()
          .from(auditLog)
          .where(beforeId === undefined ? undefined : lt(auditLog.id, beforeId))
          .orderBy(desc(auditLog.id))
          .limit(limit)
          .all(),
    },
    meta: {
      get: (key) => db.select().from(meta).where(eq(meta.key, key)).get()?.value,
      set: (key, value, now) =>
        void db
          .insert(meta)
          .values({ key, value, updatedAt: now })
          .onConflictDoUpdate({ target: meta.key, set: { value, updatedAt: now } })
          .run(),
    },
    transaction: (fn) =>
      db.transaction((tx) => fn(createSqliteStore(tx as unknown as Db, close, prepared)), { behavior: "immediate" }),
    relaxedTransaction: (fn) => {
      db.run(sql`PRAGMA synchronous = NORMAL`);
      try {
        return store.transaction(fn);
      } finally {
        db.run(sql`PRAGMA synchronous = FULL`);
      }
    },
    ping: () => {
      try {
        return db.values<[number]>(sql`select 1`)[0]?.[0] === 1;
      } catch {
        return false;
      }
    },
    close,
  };
  return store;
}
