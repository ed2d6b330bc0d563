import { and, desc, eq, gte, lt, sql, sum, type SQL } from "drizzle-orm";
import type { SqliteClient, SqliteStatement } from "../runtime/types.ts";
import { rawClient, type Db } from "./client.ts";
import { LOG_INSERT, logRowValues } from "./request-log-sql.ts";
import { auditLog, meta, prices, requestLog } from "./schema.ts";
import { budgetCeilingRepo } from "./sqlite-budget-ceilings.ts";
import { adminTokenRepo, providerKeyRepo, proxyKeyRepo, trustPolicyRepo } from "./sqlite-key-repos.ts";
import type { AuditRepo, MetaRepo, PriceRepo, RequestLogFilter, RequestLogRepo, Store, UsageGroup } from "./store.ts";

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

/** Statements prepared once per connection and shared with the stores of its transactions. */
interface Prepared {
  client?: SqliteClient;
  logInsert?: SqliteStatement;
}

function priceRepo(db: Db): PriceRepo {
  return {
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
  };
}

function requestLogRepo(db: Db, prepared: Prepared): RequestLogRepo {
  return {
    appendMany: (rows) => {
      // One raw statement, prepared once (see request-log-sql.ts).
      const client = prepared.client;
      if (!client) {
        for (let i = 0; i < rows.length; i += 500)
          db.insert(requestLog)
            .values(rows.slice(i, i + 500))
            .run();
        return;
      }
      const insert = (prepared.logInsert ??= client.prepare(LOG_INSERT));
      for (const r of rows) insert.run(...logRowValues(r));
    },
    page: (filter, query) =>
      db
        .select()
        .from(requestLog)
        .where(and(logConditions(filter), query.beforeId === undefined ? undefined : lt(requestLog.id, query.beforeId)))
        .orderBy(desc(requestLog.id))
        .limit(query.limit)
        .all(),
    usage: (group, filter) => {
      const column = groupColumn(group);
      return db
        .select({
          group: column,
          // A row of folded refusals stands for `count` requests (src/usage/refusal-tally.ts).
          requests: sql<number>`coalesce(${sum(requestLog.count)}, 0)`.mapWith(Number),
          errors: sql<number>`coalesce(sum(case when ${requestLog.errorCode} is not null then ${requestLog.count} else 0 end), 0)`.mapWith(Number),
          inputTokens: sql<number>`coalesce(${sum(requestLog.inputTokens)}, 0)`.mapWith(Number),
          outputTokens: sql<number>`coalesce(${sum(requestLog.outputTokens)}, 0)`.mapWith(Number),
          cachedTokens: sql<number>`coalesce(${sum(requestLog.cachedTokens)}, 0)`.mapWith(Number),
          costMicros: sql<number>`coalesce(${sum(requestLog.costMicros)}, 0)`.mapWith(Number),
          overrunMicros: sql<number>`coalesce(${sum(requestLog.overrunMicros)}, 0)`.mapWith(Number),
        })
        .from(requestLog)
        .where(logConditions(filter))
        .groupBy(column)
        .orderBy(column)
        .all();
    },
    deleteBefore: (at) => db.delete(requestLog).where(lt(requestLog.at, at)).returning({ id: requestLog.id }).all().length,
  };
}

function auditRepo(db: Db): AuditRepo {
  return {
    append: (row) => void db.insert(auditLog).values(row).run(),
    page: (query) =>
      db
        .select()
        .from(auditLog)
        .where(query.beforeId === undefined ? undefined : lt(auditLog.id, query.beforeId))
        .orderBy(desc(auditLog.id))
        .limit(query.limit)
        .all(),
  };
}

function metaRepo(db: Db): MetaRepo {
  return {
    get: (key) => db.select().from(meta).where(eq(meta.key, key)).get()?.value,
    set: (key, value, now) =>
      void db
        .insert(meta)
        .values({ key, value, updatedAt: now })
        .onConflictDoUpdate({ target: meta.key, set: { value, updatedAt: now } })
        .run(),
  };
}

/** The SQLite implementation of `Store`, over a drizzle database or transaction. */
export function createSqliteStore(db: Db, close: () => void = () => {}, prepared: Prepared = { client: rawClient(db) }): Store {
  const store: Store = {
    providerKeys: providerKeyRepo(db),
    proxyKeys: proxyKeyRepo(db),
    trustPolicies: trustPolicyRepo(db),
    budgetCeilings: budgetCeilingRepo(db),
    prices: priceRepo(db),
    requestLog: requestLogRepo(db, prepared),
    adminTokens: adminTokenRepo(db),
    audit: auditRepo(db),
    meta: metaRepo(db),
    transaction: (fn) => db.transaction((tx) => fn(createSqliteStore(tx as unknown as Db, close, prepared)), { behavior: "immediate" }),
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
