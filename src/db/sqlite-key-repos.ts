/**
 * The SQLite repositories of the key tables (provider keys, proxy keys, OIDC
 * trust policies, admin tokens); sqlite-store.ts assembles them into a Store.
 */
import { and, asc, count, desc, eq, getTableColumns, gt, gte, inArray, isNotNull, isNull, lt, lte, or, sql, type SQL } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import type { SqliteClient } from "../runtime/types.ts";
import type { Db } from "./client.ts";
import { adminTokens, oidcTrustPolicies, providerKeys, proxyKeys } from "./schema.ts";
import type { AdminTokenRepo, PageQuery, ProviderKeyRepo, ProxyKeyFilter, ProxyKeyRepo, ProxyKeyRow, TrustPolicyRepo } from "./store.ts";

/** `(created_at, id) < cursor` for newest-first keyset pagination. */
function before(createdAt: SQLiteColumn, id: SQLiteColumn, query: PageQuery): SQL | undefined {
  if (!query.after) return undefined;
  return or(lt(createdAt, query.after.createdAt), and(eq(createdAt, query.after.createdAt), lt(id, query.after.id)));
}

function notExpired(now: number): SQL | undefined {
  return or(isNull(proxyKeys.expiresAt), gt(proxyKeys.expiresAt, now));
}

/** The stored facts a proxy key filter asks for; each absent field leaves its condition out. */
function proxyKeyConditions(db: Db, filter: ProxyKeyFilter): SQL | undefined {
  return and(
    filter.providerKeyId === undefined ? undefined : eq(proxyKeys.providerKeyId, filter.providerKeyId),
    filter.revoked === undefined ? undefined : filter.revoked ? isNotNull(proxyKeys.revokedAt) : isNull(proxyKeys.revokedAt),
    filter.expiredBefore === undefined ? undefined : lte(proxyKeys.expiresAt, filter.expiredBefore),
    filter.activeAt === undefined ? undefined : notExpired(filter.activeAt),
    filter.providerDisabled === undefined
      ? undefined
      : inArray(proxyKeys.providerKeyId, db.select({ id: providerKeys.id }).from(providerKeys).where(eq(providerKeys.disabled, filter.providerDisabled))),
  );
}

export function providerKeyRepo(db: Db): ProviderKeyRepo {
  return {
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
  };
}

/**
 * The proxy_keys columns from the schema, for the raw insert of a batch: a
 * column added to the schema is inserted too, converted as drizzle would
 * (JSON columns serialised, booleans as integers).
 */
const PROXY_KEY_COLUMNS = Object.entries(getTableColumns(proxyKeys)) as Array<[keyof ProxyKeyRow, SQLiteColumn]>;
const PROXY_KEY_INSERT = `INSERT INTO proxy_keys (${PROXY_KEY_COLUMNS.map(([, c]) => `"${c.name}"`).join(", ")}) VALUES (${PROXY_KEY_COLUMNS.map(() => "?").join(", ")})`;

/** `client` is the connection under `db` (also inside its transactions), for statements drizzle builds too slowly. */
export function proxyKeyRepo(db: Db, client?: SqliteClient): ProxyKeyRepo {
  return {
    insert: (row) => void db.insert(proxyKeys).values(row).run(),
    insertMany: (rows) => {
      if (!client) {
        for (const row of rows) db.insert(proxyKeys).values(row).run();
        return;
      }
      // One prepared statement: drizzle took several times longer to build a batch's inserts than SQLite to run them
      // (test/bench/README.md), all of it on the serving thread.
      const insert = client.prepare(PROXY_KEY_INSERT);
      for (const row of rows) insert.run(...PROXY_KEY_COLUMNS.map(([field, column]) => (row[field] === null ? null : column.mapToDriverValue(row[field]))));
    },
    update: (id, patch) => void db.update(proxyKeys).set(patch).where(eq(proxyKeys.id, id)).run(),
    delete: (id) => void db.delete(proxyKeys).where(eq(proxyKeys.id, id)).run(),
    byId: (id) => db.select().from(proxyKeys).where(eq(proxyKeys.id, id)).get(),
    page: (query, filter) =>
      db
        .select()
        .from(proxyKeys)
        .where(and(before(proxyKeys.createdAt, proxyKeys.id, query), proxyKeyConditions(db, filter)))
        .orderBy(desc(proxyKeys.createdAt), desc(proxyKeys.id))
        .limit(query.limit)
        .all(),
    activeIdsForProviderKey: (providerKeyId, now) =>
      db
        .select({ id: proxyKeys.id })
        .from(proxyKeys)
        .where(and(eq(proxyKeys.providerKeyId, providerKeyId), isNull(proxyKeys.revokedAt), notExpired(now)))
        .all()
        .map((r) => r.id),
    issuedBy: (createdBy, { since, countSince, now }) => {
      const live = and(isNull(proxyKeys.revokedAt), notExpired(now));
      const row = db
        .select({
          minted: sql<number>`coalesce(sum(${proxyKeys.createdAt} > ${countSince}), 0)`,
          liveBudgetMicros: sql<number>`coalesce(sum(case when ${live} then coalesce(${proxyKeys.budgetMicros}, 0) else 0 end), 0)`,
        })
        .from(proxyKeys)
        // The created_at bound lets SQLite read the (created_at, id) index instead of every key ever minted.
        .where(and(eq(proxyKeys.createdBy, createdBy), gte(proxyKeys.createdAt, since)))
        .get();
      return { minted: row?.minted ?? 0, liveBudgetMicros: row?.liveBudgetMicros ?? 0 };
    },
    countForProviderKey: (providerKeyId) => db.select({ n: count() }).from(proxyKeys).where(eq(proxyKeys.providerKeyId, providerKeyId)).get()?.n ?? 0,
    revokeForProviderKey: (providerKeyId, now) =>
      db
        .update(proxyKeys)
        .set({ revokedAt: now, updatedAt: now })
        .where(and(eq(proxyKeys.providerKeyId, providerKeyId), isNull(proxyKeys.revokedAt)))
        .returning({ id: proxyKeys.id })
        .all()
        .map((r) => r.id),
    deleteForProviderKey: (providerKeyId) => void db.delete(proxyKeys).where(eq(proxyKeys.providerKeyId, providerKeyId)).run(),
    setSpend: (update) =>
      void db.update(proxyKeys).set({ spendMicros: update.spendMicros, periodStartedAt: update.periodStartedAt }).where(eq(proxyKeys.id, update.id)).run(),
    purgeSecrets: (before, marker) => {
      // The marker as a literal and one statement per condition: so SQLite can read each through its
      // partial index of keys not purged yet (schema.ts), instead of every key ever expired.
      const notPurged = sql`${proxyKeys.secretHash} <> ${sql.raw(`'${marker.replaceAll("'", "''")}'`)}`;
      const purge = (due: SQL) =>
        db
          .update(proxyKeys)
          // A rotation's replaced secret goes too: a dead key keeps no hash that could verify.
          .set({ secretHash: marker, previousSecretHash: null, previousSecretExpiresAt: null })
          .where(and(notPurged, due))
          .returning({ id: proxyKeys.id })
          .all()
          .map((r) => r.id);
      return [...purge(lte(proxyKeys.revokedAt, before)), ...purge(lte(proxyKeys.expiresAt, before))];
    },
  };
}

export function trustPolicyRepo(db: Db): TrustPolicyRepo {
  return {
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
      db.select({ n: count() }).from(oidcTrustPolicies).where(eq(oidcTrustPolicies.providerKeyId, providerKeyId)).get()?.n ?? 0,
  };
}

function prepareAdminTokenById(db: Db) {
  return db
    .select()
    .from(adminTokens)
    .where(eq(adminTokens.id, sql.placeholder("id")))
    .prepare();
}

export function adminTokenRepo(db: Db): AdminTokenRepo {
  // Every admin request reads its token's row (so a revoke applies to the next one): built and prepared
  // once, where building the query and preparing it anew took most of the serving thread's time per read.
  let byId: ReturnType<typeof prepareAdminTokenById> | undefined;
  return {
    insert: (row) => void db.insert(adminTokens).values(row).run(),
    update: (id, patch) => void db.update(adminTokens).set(patch).where(eq(adminTokens.id, id)).run(),
    byId: (id) => (byId ??= prepareAdminTokenById(db)).get({ id }),
    page: (query) =>
      db
        .select()
        .from(adminTokens)
        .where(before(adminTokens.createdAt, adminTokens.id, query))
        .orderBy(desc(adminTokens.createdAt), desc(adminTokens.id))
        .limit(query.limit)
        .all(),
    count: () => db.select({ n: count() }).from(adminTokens).get()?.n ?? 0,
  };
}
