import { closeSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import type { Runtime, SqliteClient } from "../runtime/index.ts";
import { backupBeforeUpgrade, schemaState } from "./backup.ts";
import { createDb, type Db } from "./client.ts";
import { newerDatabaseError } from "./errors.ts";
import { embeddedMigrations, JOURNAL, LATEST_MIGRATION_MILLIS } from "./migrations.ts";

export { DatabaseVersionError } from "./errors.ts";

export interface OpenedDatabase {
  db: Db;
  client: SqliteClient;
  path: string;
  /** Number of migrations applied by this open (0 when already current). */
  applied: number;
  /** The copy taken before migrating an existing database (an upgrade), if one was. */
  upgradeBackup?: string;
}

const MIGRATIONS_TABLE = "__drizzle_migrations";
const SCHEMA_TAG = JOURNAL[JOURNAL.length - 1]?.tag ?? "none";

/**
 * Applies embedded migrations under `BEGIN IMMEDIATE`, so a CLI command and a
 * server starting on the same fresh data dir cannot both try to create tables.
 * Uses drizzle's own bookkeeping table, so `drizzle-kit` sees the same history.
 */
export function migrate(client: SqliteClient): number {
  client.exec(`CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at numeric)`);
  let applied = 0;
  client
    .transaction(() => {
      const last = client.prepare(`SELECT created_at FROM ${MIGRATIONS_TABLE} ORDER BY created_at DESC LIMIT 1`).values()[0]?.[0];
      const lastMillis = last === undefined ? -1 : Number(last);
      if (lastMillis > LATEST_MIGRATION_MILLIS) {
        throw newerDatabaseError(SCHEMA_TAG);
      }
      for (const migration of embeddedMigrations()) {
        if (migration.folderMillis <= lastMillis) continue;
        for (const statement of migration.sql) {
          if (statement.trim()) client.exec(statement);
        }
        client.prepare(`INSERT INTO ${MIGRATIONS_TABLE} (hash, created_at) VALUES (?, ?)`).run(migration.hash, migration.folderMillis);
        applied++;
      }
    })
    .immediate();
  return applied;
}

/**
 * Opens `<dataDir>/keyward.db` (creating the dir 0700 and the file 0600), sets the pragmas
 * keyward relies on and migrates. `synchronous=FULL`: a key, a revocation or
 * spend acknowledged to a client must survive power loss, not only a crash.
 */
export function openDatabase(runtime: Runtime, dataDir: string): OpenedDatabase {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, "keyward.db");
  // Create the file owner-only before SQLite opens it: it holds sealed provider keys
  // and token hashes, and SQLite gives the -wal/-shm files the database file's mode.
  // `a` never truncates a database another process created meanwhile.
  closeSync(openSync(path, "a", 0o600));
  const client = runtime.openSqlite(path);
  try {
    client.exec("PRAGMA busy_timeout = 5000");
    // Before the first table exists, or it has no effect: retention pruning frees pages, and an
    // incremental vacuum (a MiB a step, src/db/request-log-sql.ts) gives them back to the file
    // system. A database created before this keeps reusing its freed pages but never shrinks.
    client.exec("PRAGMA auto_vacuum = INCREMENTAL");
    client.exec("PRAGMA journal_mode = WAL");
    client.exec("PRAGMA synchronous = FULL");
    client.exec("PRAGMA foreign_keys = ON");
    // An upgrade: the database has a schema and this binary brings newer migrations. Copy it first,
    // so a migration that goes wrong (or a downgrade) has the old file to go back to.
    const before = schemaState(client);
    const upgradeBackup =
      before.millis >= 0 && before.millis < LATEST_MIGRATION_MILLIS ? backupBeforeUpgrade(client, { dataDir, schema: before.tag, at: new Date() }) : undefined;
    const applied = migrate(client);
    return { db: createDb(client), client, path, applied, upgradeBackup };
  } catch (err) {
    client.close();
    throw err;
  }
}
