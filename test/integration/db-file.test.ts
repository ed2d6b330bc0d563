/**
 * The database file does not only grow: a new database gives freed pages
 * back to the file system (incremental auto-vacuum), and so does every
 * backup, even of a database created before that setting (which SQLite can
 * only change when it rewrites the file), without touching the source.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { vacuumInto } from "../../src/db/backup.ts";
import { openDatabase } from "../../src/db/open.ts";
import { detectRuntime, type SqliteClient } from "../../src/runtime/index.ts";

const runtime = await detectRuntime();
const dir = mkdtempSync(join(tmpdir(), "keyward-dbfile-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const autoVacuum = (client: SqliteClient) => client.prepare("PRAGMA auto_vacuum").values()[0]?.[0];

test("a new database is created with incremental auto-vacuum", () => {
  const opened = openDatabase(runtime, join(dir, "new"));
  try {
    expect(autoVacuum(opened.client)).toBe(2);
  } finally {
    opened.client.close();
  }
});

test("a backup of a database without it has it; the source is unchanged", () => {
  // A database as an older keyward created it: auto_vacuum off, tables already there.
  const old = runtime.openSqlite(join(dir, "old.db"));
  old.exec("CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('a'), ('b');");
  expect(autoVacuum(old)).toBe(0);
  const copyPath = join(dir, "copy.db");
  vacuumInto(old, copyPath);
  expect(autoVacuum(old)).toBe(0);
  old.close();
  const reopened = runtime.openSqlite(join(dir, "old.db"));
  const copy = runtime.openSqlite(copyPath);
  try {
    expect(autoVacuum(reopened)).toBe(0);
    expect(autoVacuum(copy)).toBe(2);
    expect(copy.prepare("SELECT x FROM t ORDER BY x").values()).toEqual([["a"], ["b"]]);
  } finally {
    reopened.close();
    copy.close();
  }
});
