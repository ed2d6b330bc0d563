/**
 * The PostgreSQL migrations embedded in the program are exactly the ones
 * drizzle-kit generated into drizzle/pg/: a migration generated
 * (`bun run db:generate:pg`) and not added to src/db/pg/migrations.ts fails here.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { readMigrationFiles } from "drizzle-orm/migrator";
import { embeddedPgMigrations, LATEST_PG_MIGRATION_MILLIS, PG_JOURNAL, PG_MIGRATION_SQL, PG_SCHEMA_VERSION } from "../../src/db/pg/migrations.ts";

const PG_DIR = join(import.meta.dir, "../../drizzle/pg");

interface DiskJournal {
  dialect: string;
  entries: Array<{ idx: number; when: number; tag: string; breakpoints: boolean }>;
}

const diskJournal = JSON.parse(readFileSync(join(PG_DIR, "meta/_journal.json"), "utf8")) as DiskJournal;

describe("embedded PostgreSQL migrations", () => {
  test("the embedded journal is the one on disk, and it is PostgreSQL's", () => {
    expect(diskJournal.dialect).toBe("postgresql");
    expect(PG_JOURNAL).toEqual(diskJournal.entries);
    expect(diskJournal.entries.length).toBeGreaterThan(0);
  });

  test("every journal entry has embedded SQL identical to its file", () => {
    for (const entry of diskJournal.entries) {
      const onDisk = readFileSync(join(PG_DIR, `${entry.tag}.sql`), "utf8");
      expect(PG_MIGRATION_SQL[entry.tag]).toBe(onDisk);
    }
    expect(Object.keys(PG_MIGRATION_SQL).sort()).toEqual(diskJournal.entries.map((e) => e.tag).sort());
  });

  test("there is no .sql file in drizzle/pg/ that the journal does not list", () => {
    const tags = new Set(diskJournal.entries.map((e) => e.tag));
    const files = readdirSync(PG_DIR).filter((f) => f.endsWith(".sql"));
    expect(files.filter((f) => !tags.has(f.slice(0, -4)))).toEqual([]);
  });

  test("the embedded records are what drizzle builds from the folder (hashes included)", () => {
    expect(embeddedPgMigrations()).toEqual(readMigrationFiles({ migrationsFolder: PG_DIR }));
  });

  test("the newest migration's time and tag are the journal's last", () => {
    expect(LATEST_PG_MIGRATION_MILLIS).toBe(Math.max(...diskJournal.entries.map((e) => e.when)));
    expect(PG_SCHEMA_VERSION).toBe(diskJournal.entries.at(-1)?.tag ?? "");
  });

  test("the cluster's tables come with the first migration", () => {
    const first = PG_MIGRATION_SQL[diskJournal.entries[0]?.tag ?? ""] ?? "";
    for (const table of ["cluster_state", "change_log", "cluster_instances"]) expect(first).toContain(`CREATE TABLE "${table}"`);
  });
});
