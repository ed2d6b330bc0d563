import { SQLiteBunSession } from "drizzle-orm/bun-sqlite/session";
import { BaseSQLiteDatabase } from "drizzle-orm/sqlite-core/db";
import { SQLiteSyncDialect } from "drizzle-orm/sqlite-core/dialect";
import type { SqliteClient } from "../runtime/index.ts";
import * as schema from "./schema.ts";

/** The synchronous drizzle database every repository works with. */
export type Db = BaseSQLiteDatabase<"sync", unknown, typeof schema>;

/** The runtime client under a database made by `createDb` (absent on transaction objects). */
export function rawClient(db: Db): SqliteClient | undefined {
  return (db as unknown as { $client?: SqliteClient }).$client;
}

/**
 * Builds drizzle on top of a runtime's SQLite client. drizzle's bun-sqlite
 * session only calls `exec`, `prepare` and `transaction`, which both runtime
 * adapters provide, so the same synchronous driver serves Bun and Deno.
 */
export function createDb(client: SqliteClient): Db {
  const dialect = new SQLiteSyncDialect();
  // drizzle types the client as bun:sqlite's Database; our adapter has the part it uses.
  const session = new SQLiteBunSession(client as never, dialect, undefined, {});
  const db = new BaseSQLiteDatabase("sync", dialect, session as never, undefined) as unknown as Db;
  // As drizzle's own drivers do: the raw client, for the few statements worth preparing by hand.
  Object.assign(db, { $client: client });
  return db;
}
