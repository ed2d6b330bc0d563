/**
 * The PostgreSQL migrations embedded in the program, as src/db/migrations.ts
 * embeds SQLite's: the journal as JSON and each SQL file as text, so a compiled
 * binary (and Deno) needs no `drizzle/pg/` folder beside it.
 * `test/unit/pg-migrations.test.ts` fails when a generated migration is missing here.
 */
import type { MigrationMeta } from "drizzle-orm/migrator";
import journal from "../../../drizzle/pg/meta/_journal.json" with { type: "json" };
import m0000 from "../../../drizzle/pg/0000_cluster_core.sql" with { type: "text" };
import m0001 from "../../../drizzle/pg/0001_batch_metering.sql" with { type: "text" };
import { migrationRecords, type JournalEntry } from "../migrations.ts";

export const PG_MIGRATION_SQL: Record<string, string> = {
  "0000_cluster_core": m0000,
  "0001_batch_metering": m0001,
};

export const PG_JOURNAL: JournalEntry[] = journal.entries;

/** The same records drizzle's `readMigrationFiles` builds from `drizzle/pg/`, hashes included. */
export function embeddedPgMigrations(): MigrationMeta[] {
  return migrationRecords(PG_JOURNAL, PG_MIGRATION_SQL);
}

/** Newest PostgreSQL schema this build knows; a database with a newer one is refused. */
export const LATEST_PG_MIGRATION_MILLIS = Math.max(...PG_JOURNAL.map((e) => e.when));

/** Its tag, for messages and `keyward version`-style reports. */
export const PG_SCHEMA_VERSION: string = PG_JOURNAL[PG_JOURNAL.length - 1]?.tag ?? "none";
