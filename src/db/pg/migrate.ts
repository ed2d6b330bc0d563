/**
 * Applies the embedded PostgreSQL migrations. Several instances may start at
 * once against one database, and drizzle's own migrator takes no lock, so
 * this one holds a session advisory lock on one reserved connection for the
 * whole run: the first instance migrates, the others wait on the lock and
 * then find nothing left to do. Each migration runs in its own transaction
 * (PostgreSQL's DDL is transactional), so a kill mid-way leaves the database
 * at the previous migration, never half-way through one.
 *
 * The bookkeeping is drizzle's own (`drizzle.__drizzle_migrations`: hash and
 * the journal's `when` per applied migration), so drizzle-kit reads the same
 * history, as it does for SQLite.
 */
import type { ReservedSql, Sql } from "postgres";
import { newerDatabaseError } from "../errors.ts";
import { embeddedPgMigrations, LATEST_PG_MIGRATION_MILLIS, PG_JOURNAL, PG_SCHEMA_VERSION } from "./migrations.ts";

/** `keyward\x01` read as a big-endian int8: the advisory lock key every migrating keyward takes. */
export const MIGRATION_LOCK_KEY = "7738725088349021185";

const MIGRATIONS_SCHEMA = "drizzle";
const MIGRATIONS_TABLE = `${MIGRATIONS_SCHEMA}.__drizzle_migrations`;

/** The newest migration recorded in the database, as the journal's `when`; -1 for none. */
async function lastApplied(conn: ReservedSql): Promise<number> {
  const rows = await conn.unsafe<{ created_at: number | string }[]>(`SELECT created_at FROM ${MIGRATIONS_TABLE} ORDER BY created_at DESC LIMIT 1`);
  const last = rows[0]?.created_at;
  return last === undefined ? -1 : Number(last);
}

async function migrateLocked(conn: ReservedSql): Promise<number> {
  // Looked up before creating: CREATE SCHEMA asks for the CREATE privilege even when the schema exists,
  // and a current database should open with a role that may only use its tables.
  const [found] = await conn.unsafe<{ exists: boolean }[]>(`SELECT to_regclass('${MIGRATIONS_TABLE}') IS NOT NULL AS exists`);
  if (!found?.exists) {
    await conn.unsafe(`CREATE SCHEMA IF NOT EXISTS ${MIGRATIONS_SCHEMA}`);
    await conn.unsafe(`CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)`);
  }
  const lastMillis = await lastApplied(conn);
  if (lastMillis > LATEST_PG_MIGRATION_MILLIS) throw newerDatabaseError(PG_SCHEMA_VERSION);
  const migrations = embeddedPgMigrations();
  let applied = 0;
  for (const [i, migration] of migrations.entries()) {
    if (migration.folderMillis <= lastMillis) continue;
    const tag = PG_JOURNAL[i]?.tag ?? String(migration.folderMillis);
    await conn.unsafe("BEGIN");
    try {
      for (const statement of migration.sql) {
        if (statement.trim()) await conn.unsafe(statement);
      }
      await conn.unsafe(`INSERT INTO ${MIGRATIONS_TABLE} (hash, created_at) VALUES ($1, $2)`, [migration.hash, migration.folderMillis]);
      await conn.unsafe("COMMIT");
    } catch (err) {
      await conn.unsafe("ROLLBACK").catch(() => undefined);
      throw new Error(`Cannot migrate PostgreSQL: migration ${tag} failed: ${(err as Error).message}`, { cause: err });
    }
    applied++;
  }
  // The counter's one row, which every vault write updates and so must find.
  await conn.unsafe("INSERT INTO cluster_state (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING");
  return applied;
}

/**
 * Brings the database to this binary's schema and returns how many
 * migrations it applied (0 when it was current). Throws DatabaseVersionError,
 * changing nothing, when the database was written by a newer keyward.
 */
export async function migratePostgres(sql: Sql): Promise<number> {
  const conn = await sql.reserve();
  try {
    await conn.unsafe("SELECT pg_advisory_lock($1::bigint)", [MIGRATION_LOCK_KEY]);
    try {
      return await migrateLocked(conn);
    } finally {
      // A session lock ends with its connection too: when the unlock fails, the connection is gone and so is the lock.
      await conn.unsafe("SELECT pg_advisory_unlock($1::bigint)", [MIGRATION_LOCK_KEY]).catch(() => undefined);
    }
  } finally {
    conn.release();
  }
}
