import { desc, eq, lt, sql } from "drizzle-orm";
import type { SqliteClient } from "../runtime/types.ts";
import { rawClient, type Db } from "./client.ts";
import { queryLogPage } from "./log-query.ts";
import { logRowValues, prepareLogWrites, pruneLogBatch, vacuumStep, writeLogRows, type LogWriteStatements } from "./request-log-sql.ts";
import { auditLog, meta, prices } from "./schema.ts";
import { storedObjectRepo } from "./sqlite-stored-objects.ts";
import { batchRepo } from "./sqlite-batches.ts";
import { budgetCeilingRepo } from "./sqlite-budget-ceilings.ts";
import { teamRepo } from "./sqlite-teams.ts";
import { alertRepo, webhookOutboxRepo, webhookRepo } from "./sqlite-webhooks.ts";
import { adminTokenRepo, providerKeyRepo, proxyKeyRepo, trustPolicyRepo } from "./sqlite-key-repos.ts";
import type { AuditRepo, MetaRepo, PriceRepo, RequestLogRepo, Store } from "./store.ts";
import { queryUsage } from "./usage-query.ts";

/** Statements prepared once per connection and shared with the stores of its transactions. */
interface Prepared {
  client?: SqliteClient;
  logWrites?: LogWriteStatements;
}

/** The connection under a store: the request log's statements are raw SQL (see request-log-sql.ts). */
function clientOf(prepared: Prepared): SqliteClient {
  if (!prepared.client) throw new Error("Cannot use the request log: the store has no SQLite client");
  return prepared.client;
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
      // Raw statements, prepared once: the same as the log worker's (see request-log-sql.ts).
      const writes = (prepared.logWrites ??= prepareLogWrites(clientOf(prepared)));
      writeLogRows(writes, rows.map(logRowValues));
    },
    page: (filter, query) => queryLogPage(db, filter, query),
    usage: (group, window) => queryUsage(clientOf(prepared), group, window),
    pruneBatch: (at) => pruneLogBatch(clientOf(prepared), at),
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
    proxyKeys: proxyKeyRepo(db, prepared.client),
    trustPolicies: trustPolicyRepo(db),
    budgetCeilings: budgetCeilingRepo(db),
    storedObjects: storedObjectRepo(db),
    batches: batchRepo(db),
    teams: teamRepo(db),
    webhooks: webhookRepo(db),
    webhookOutbox: webhookOutboxRepo(db),
    alerts: alertRepo(db),
    prices: priceRepo(db),
    requestLog: requestLogRepo(db, prepared),
    adminTokens: adminTokenRepo(db),
    audit: auditRepo(db),
    meta: metaRepo(db),
    transaction: (fn) => db.transaction((tx) => fn(createSqliteStore(tx as unknown as Db, close, prepared)), { behavior: "immediate" }),
    write: (fn) => {
      try {
        return Promise.resolve(store.transaction(fn));
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
    },
    relaxedTransaction: (fn) => {
      db.run(sql`PRAGMA synchronous = NORMAL`);
      try {
        return store.transaction(fn);
      } finally {
        db.run(sql`PRAGMA synchronous = FULL`);
      }
    },
    vacuumStep: () => vacuumStep(clientOf(prepared)),
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
