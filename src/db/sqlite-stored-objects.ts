/**
 * The SQLite repository of stored-object owners; sqlite-store.ts puts it
 * into a Store. One indexed lookup per object request; lists of owned ids
 * are answered for the ids a provider's page holds, not by scanning.
 */
import { and, desc, eq, inArray, lt, or } from "drizzle-orm";
import type { Db } from "./client.ts";
import { storedObjects } from "./schema.ts";
import type { PageQuery, StoredObjectFilter, StoredObjectRepo, StoredObjectRow } from "./store.ts";

export function storedObjectRepo(db: Db): StoredObjectRepo {
  return {
    record(row: StoredObjectRow): void {
      db.insert(storedObjects).values(row).onConflictDoNothing().run();
    },
    ownerOf(providerKeyId: string, objectId: string): string | undefined {
      return db
        .select({ owner: storedObjects.proxyKeyId })
        .from(storedObjects)
        .where(and(eq(storedObjects.providerKeyId, providerKeyId), eq(storedObjects.objectId, objectId)))
        .get()?.owner;
    },
    ownedAmong(providerKeyId: string, proxyKeyId: string, objectIds: string[]): Set<string> {
      if (objectIds.length === 0) return new Set();
      const rows = db
        .select({ id: storedObjects.objectId })
        .from(storedObjects)
        .where(and(eq(storedObjects.providerKeyId, providerKeyId), eq(storedObjects.proxyKeyId, proxyKeyId), inArray(storedObjects.objectId, objectIds)))
        .all();
      return new Set(rows.map((r) => r.id));
    },
    remove(providerKeyId: string, objectId: string): void {
      db.delete(storedObjects)
        .where(and(eq(storedObjects.providerKeyId, providerKeyId), eq(storedObjects.objectId, objectId)))
        .run();
    },
    page(query: PageQuery, filter: StoredObjectFilter): StoredObjectRow[] {
      const conditions = [
        filter.proxyKeyId === undefined ? undefined : eq(storedObjects.proxyKeyId, filter.proxyKeyId),
        filter.providerKeyId === undefined ? undefined : eq(storedObjects.providerKeyId, filter.providerKeyId),
        filter.kind === undefined ? undefined : eq(storedObjects.kind, filter.kind),
        query.after === undefined
          ? undefined
          : or(
              lt(storedObjects.createdAt, query.after.createdAt),
              and(eq(storedObjects.createdAt, query.after.createdAt), lt(storedObjects.objectId, query.after.id)),
            ),
      ];
      return db
        .select()
        .from(storedObjects)
        .where(and(...conditions))
        .orderBy(desc(storedObjects.createdAt), desc(storedObjects.objectId))
        .limit(query.limit)
        .all();
    },
  };
}
