/**
 * Consistent copies of a live database with `VACUUM INTO`: it reads one
 * snapshot (WAL readers never block the server's writer) and writes a
 * compact, self-contained file with no -wal beside it. Plain SQL, so it runs
 * through either runtime's client.
 */
import { closeSync, existsSync, mkdirSync, openSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Runtime, SqliteClient } from "../runtime/index.ts";
import { JOURNAL } from "./migrations.ts";

const MIGRATIONS_TABLE = "__drizzle_migrations";

/** A string literal for SQL: `VACUUM INTO` takes an expression, and exec cannot bind parameters on both runtimes. */
function sqlString(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * Writes a copy of `client`'s database to `target`, which must not exist
 * (created here 0600 first: it holds sealed provider keys and token hashes,
 * and SQLite accepts an empty file as the target).
 */
export class BackupExistsError extends Error {}

export function vacuumInto(client: SqliteClient, target: string): void {
  try {
    closeSync(openSync(target, "wx", 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") throw new BackupExistsError(`Cannot write backup: ${target} already exists`);
    throw new Error(`Cannot write backup ${target}: ${(err as Error).message}`);
  }
  try {
    // Applies to the copy only (SQLite keeps it pending for the next VACUUM): every copy, and so every
    // restored database, gives freed pages back to the file system, like a database created now.
    client.exec("PRAGMA auto_vacuum = INCREMENTAL");
    client.exec(`VACUUM INTO ${sqlString(target)}`);
  } catch (err) {
    rmSync(target, { force: true });
    throw new Error(`Cannot write backup ${target}: ${(err as Error).message}`);
  }
}

/** Opens an existing database file without creating or migrating anything. */
export function openExisting(runtime: Runtime, path: string, what: string): SqliteClient {
  if (!existsSync(path) || !statSync(path).isFile()) throw new Error(`Cannot open ${what}: ${path} does not exist`);
  const client = runtime.openSqlite(path);
  try {
    client.exec("PRAGMA busy_timeout = 5000");
    const probe = client.prepare("SELECT count(*) FROM sqlite_master").values();
    if (probe.length !== 1) throw new Error("unreadable");
  } catch (err) {
    client.close();
    throw new Error(`Cannot open ${what} ${path}: it is not a SQLite database (${(err as Error).message})`);
  }
  return client;
}

export interface SchemaState {
  /** `created_at` of the newest applied migration; -1 when none was applied. */
  millis: number;
  /** Its tag (e.g. `0002_oidc_trust_policies`), `none`, or `unknown-<millis>` for a newer keyward's. */
  tag: string;
}

export function schemaState(client: SqliteClient): SchemaState {
  const table = client.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '${MIGRATIONS_TABLE}'`).values();
  if (table.length === 0) return { millis: -1, tag: "none" };
  const last = client.prepare(`SELECT created_at FROM ${MIGRATIONS_TABLE} ORDER BY created_at DESC LIMIT 1`).values()[0]?.[0];
  if (last === undefined || last === null) return { millis: -1, tag: "none" };
  const millis = Number(last);
  return { millis, tag: JOURNAL.find((e) => e.when === millis)?.tag ?? `unknown-${millis}` };
}

/** `20260115T120000Z`: sortable, and legal in a file name everywhere. */
export function fileTimestamp(at: Date): string {
  return at
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}Z$/, "Z");
}

/** `<dataDir>/backups/keyward-<schema>-<timestamp>.db`, taken before an upgrade migrates the database. */
export function backupBeforeUpgrade(client: SqliteClient, backup: { dataDir: string; schema: string; at: Date }): string {
  const { dataDir, schema, at } = backup;
  const dir = join(dataDir, "backups");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Two starts in the same second (a crash loop, a CLI command racing the server): keep both copies rather than fail.
  for (let n = 1; ; n++) {
    const target = join(dir, `keyward-${schema}-${fileTimestamp(at)}${n === 1 ? "" : `-${n}`}.db`);
    try {
      vacuumInto(client, target);
      return target;
    } catch (err) {
      if (!(err instanceof BackupExistsError) || n >= 100) throw err;
    }
  }
}
