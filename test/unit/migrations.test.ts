import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readMigrationFiles } from "drizzle-orm/migrator";
import { DatabaseVersionError, openDatabase } from "../../src/db/open.ts";
import { embeddedMigrations, JOURNAL, LATEST_MIGRATION_MILLIS, MIGRATION_SQL } from "../../src/db/migrations.ts";
import { detectRuntime, type SqliteClient } from "../../src/runtime/index.ts";

const DRIZZLE_DIR = join(import.meta.dir, "../../drizzle");

interface DiskJournal {
  entries: Array<{ idx: number; when: number; tag: string; breakpoints: boolean }>;
}

const diskJournal = JSON.parse(readFileSync(join(DRIZZLE_DIR, "meta/_journal.json"), "utf8")) as DiskJournal;

describe("embedded migrations", () => {
  test("the embedded journal is the one on disk", () => {
    expect(JOURNAL).toEqual(diskJournal.entries);
    expect(diskJournal.entries.length).toBeGreaterThan(0);
  });

  test("every journal entry has embedded SQL identical to its file", () => {
    for (const entry of diskJournal.entries) {
      const onDisk = readFileSync(join(DRIZZLE_DIR, `${entry.tag}.sql`), "utf8");
      expect(MIGRATION_SQL[entry.tag]).toBe(onDisk);
    }
    expect(Object.keys(MIGRATION_SQL).sort()).toEqual(diskJournal.entries.map((e) => e.tag).sort());
  });

  test("there is no .sql file in drizzle/ that the journal does not list", () => {
    const tags = new Set(diskJournal.entries.map((e) => e.tag));
    const files = readdirSync(DRIZZLE_DIR).filter((f) => f.endsWith(".sql"));
    expect(files.filter((f) => !tags.has(f.slice(0, -4)))).toEqual([]);
  });

  test("the embedded records are what drizzle builds from the folder (hashes included)", () => {
    const fromFolder = readMigrationFiles({ migrationsFolder: DRIZZLE_DIR });
    expect(embeddedMigrations()).toEqual(fromFolder);
  });

  test("LATEST_MIGRATION_MILLIS is the newest journal entry", () => {
    expect(LATEST_MIGRATION_MILLIS).toBe(Math.max(...diskJournal.entries.map((e) => e.when)));
  });
});

describe("openDatabase", () => {
  let dir: string;
  const clients: SqliteClient[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "keyward-db-"));
  });

  afterEach(() => {
    for (const client of clients.splice(0)) client.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function open(dataDir = dir) {
    const opened = openDatabase(await detectRuntime(), dataDir);
    clients.push(opened.client);
    return opened;
  }

  const pragma = (client: SqliteClient, name: string) => client.prepare(`PRAGMA ${name}`).values()[0]?.[0];

  test("a fresh dir is migrated and gets keyward.db", async () => {
    const opened = await open(join(dir, "nested", "data"));
    expect(opened.path).toBe(join(dir, "nested", "data", "keyward.db"));
    expect(opened.applied).toBe(diskJournal.entries.length);
    const tables = opened.client
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .values()
      .map((r) => r[0]);
    for (const table of ["__drizzle_migrations", "admin_tokens", "audit_log", "meta", "provider_keys", "proxy_keys"]) {
      expect(tables).toContain(table);
    }
    const recorded = opened.client.prepare("SELECT hash, created_at FROM __drizzle_migrations ORDER BY created_at").values();
    expect(recorded).toEqual(embeddedMigrations().map((m) => [m.hash, m.folderMillis]));
  });

  test("sets WAL, foreign_keys=ON, busy_timeout and synchronous=FULL", async () => {
    const { client } = await open();
    expect(String(pragma(client, "journal_mode")).toLowerCase()).toBe("wal");
    expect(Number(pragma(client, "foreign_keys"))).toBe(1);
    expect(Number(pragma(client, "busy_timeout"))).toBeGreaterThanOrEqual(1000);
    expect(Number(pragma(client, "synchronous"))).toBe(2);
  });

  test("foreign keys are enforced", async () => {
    const { client } = await open();
    expect(() =>
      client
        .prepare(
          "INSERT INTO proxy_keys (id, name, provider_key_id, secret_hash, key_hint, created_at, updated_at) VALUES ('p', 'n', 'missing', 'h', 'k', 1, 1)",
        )
        .run(),
    ).toThrow(/FOREIGN KEY/i);
  });

  test("reopening applies nothing and keeps the data", async () => {
    const first = await open();
    first.client.prepare("INSERT INTO meta (key, value, updated_at) VALUES ('k', 'v', 1)").run();
    first.client.close();
    clients.splice(clients.indexOf(first.client), 1);
    const second = await open();
    expect(second.applied).toBe(0);
    expect(second.client.prepare("SELECT value FROM meta WHERE key = 'k'").values()).toEqual([["v"]]);
    expect(second.client.prepare("SELECT count(*) FROM __drizzle_migrations").values()).toEqual([[diskJournal.entries.length]]);
  });

  test("a database written by a newer keyward is refused with DatabaseVersionError", async () => {
    const first = await open();
    first.client.prepare("INSERT INTO __drizzle_migrations (hash, created_at) VALUES (?, ?)").run("from-the-future", LATEST_MIGRATION_MILLIS + 1);
    first.client.close();
    clients.splice(clients.indexOf(first.client), 1);

    let caught: unknown;
    try {
      await open();
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(DatabaseVersionError);
    expect((caught as Error).message).toContain("newer keyward");
  });
});
