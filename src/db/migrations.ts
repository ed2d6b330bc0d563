/**
 * Migrations embedded in the program: the journal as JSON and each SQL file
 * as text, so a compiled binary (and Deno) needs no `drizzle/` folder beside it.
 * `test/unit/migrations.test.ts` fails when a generated migration is missing here.
 */
import { createHash } from "node:crypto";
import type { MigrationMeta } from "drizzle-orm/migrator";
import journal from "../../drizzle/meta/_journal.json" with { type: "json" };
import m0000 from "../../drizzle/0000_vault_core.sql" with { type: "text" };
import m0001 from "../../drizzle/0001_limits_usage.sql" with { type: "text" };
import m0002 from "../../drizzle/0002_oidc_trust_policies.sql" with { type: "text" };
import m0003 from "../../drizzle/0003_metering.sql" with { type: "text" };
import m0004 from "../../drizzle/0004_endpoints_ownership.sql" with { type: "text" };
import m0005 from "../../drizzle/0005_usage_rollups.sql" with { type: "text" };
import m0006 from "../../drizzle/0006_provider_headers.sql" with { type: "text" };
import m0007 from "../../drizzle/0007_teams_webhooks.sql" with { type: "text" };
import m0008 from "../../drizzle/0008_batch_metering.sql" with { type: "text" };

export const MIGRATION_SQL: Record<string, string> = {
  "0000_vault_core": m0000,
  "0001_limits_usage": m0001,
  "0002_oidc_trust_policies": m0002,
  "0003_metering": m0003,
  "0004_endpoints_ownership": m0004,
  "0005_usage_rollups": m0005,
  "0006_provider_headers": m0006,
  "0007_teams_webhooks": m0007,
  "0008_batch_metering": m0008,
};

export interface JournalEntry {
  idx: number;
  when: number;
  tag: string;
  breakpoints: boolean;
}

export const JOURNAL: JournalEntry[] = journal.entries;

/** The same records drizzle's `readMigrationFiles` builds from the folder, hashes included. */
export function embeddedMigrations(): MigrationMeta[] {
  return migrationRecords(JOURNAL, MIGRATION_SQL);
}

/** What `embeddedMigrations` does, for any journal and its SQL (the PostgreSQL migrations use it too). */
export function migrationRecords(journal: readonly JournalEntry[], sqlByTag: Readonly<Record<string, string>>): MigrationMeta[] {
  return journal.map((entry) => {
    const query = sqlByTag[entry.tag];
    if (query === undefined) throw new Error(`Cannot migrate: migration ${entry.tag} is not embedded`);
    return {
      sql: query.split("--> statement-breakpoint"),
      bps: entry.breakpoints,
      folderMillis: entry.when,
      hash: createHash("sha256").update(query).digest("hex"),
    };
  });
}

/** Newest schema this build knows; a database with a newer one is refused. */
export const LATEST_MIGRATION_MILLIS = Math.max(...JOURNAL.map((e) => e.when));
