/**
 * The store under a test app (./app.ts): the SQLite file of its data dir, or,
 * with `KEYWARD_TEST_BACKEND=postgres`, a vault shared through a database on
 * the test PostgreSQL server (./postgres.ts), opened as `keyward serve
 * --database-url` opens it: a mirror under the data dir, the request log and
 * usage on PostgreSQL, budgets leased, rates shared.
 *
 * Creating and migrating a database costs about half a second here, and
 * suites make an app per test, so a database whose last app was cleaned up is
 * emptied back to the state its migrations left (a few milliseconds) and
 * handed to the next app of the process instead of being dropped.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import postgres, { type Sql } from "postgres";
import { openSharedDatabase } from "../../src/db/cluster/open.ts";
import { openDatabase } from "../../src/db/open.ts";
import { openPostgres } from "../../src/db/pg/connect.ts";
import { migratePostgres } from "../../src/db/pg/migrate.ts";
import { createSqliteStore } from "../../src/db/sqlite-store.ts";
import type { Store } from "../../src/db/store.ts";
import type { Runtime } from "../../src/runtime/index.ts";
import type { Logger } from "../../src/telemetry/logger.ts";
import { createDatabase, databaseUrl, dropDatabase, sharedServerUrl } from "./postgres.ts";

export type TestBackend = "sqlite" | "postgres";

/** Which storage backend the test apps of this process use. */
export const TEST_BACKEND: TestBackend = testBackend(process.env.KEYWARD_TEST_BACKEND);

function testBackend(value: string | undefined): TestBackend {
  if (value === undefined || value === "" || value === "sqlite") return "sqlite";
  if (value === "postgres") return "postgres";
  // A misspelt value must not quietly test SQLite again.
  throw new Error(`KEYWARD_TEST_BACKEND must be "sqlite" or "postgres", not ${JSON.stringify(value)}`);
}

/** Short bounds, as the cluster tests use: a stale instance shows within seconds instead of hiding. */
export const FRESHNESS = { freshnessMs: 1500, pollMs: 200 };

/**
 * The prefix of the databases test apps of this process create: whoever
 * started the process can drop what it left (a database kept for reuse, or
 * one of a test that never cleaned up) by this name once it has exited.
 */
export function appDatabasePrefix(pid: number): string {
  return `kw_app_${pid}`;
}

export interface TestStore {
  store: Store;
  /** The vault's SQLite file; on PostgreSQL the mirror's, which the log and read workers would open. */
  path: string;
  /** The PostgreSQL database, on that backend. */
  databaseUrl: string | undefined;
  /** Closes what the store holds; call it after the app's last write. */
  close(): Promise<void>;
  /** After `close`: gives the database up once no app of this process has it open (the SQLite file goes with its data dir). */
  discard(): Promise<void>;
}

export interface TestStoreOptions {
  /** An earlier app's database, to reopen it or to run a second instance on it. */
  databaseUrl?: string;
  logger: Logger;
}

export async function openTestStore(runtime: Runtime, dataDir: string, options: TestStoreOptions): Promise<TestStore> {
  if (TEST_BACKEND === "postgres") return openSharedTestStore(runtime, dataDir, options);
  if (options.databaseUrl !== undefined) throw new Error("createTestApp: databaseUrl needs KEYWARD_TEST_BACKEND=postgres");
  const opened = openDatabase(runtime, dataDir);
  const store = createSqliteStore(opened.db, () => opened.client.close());
  return { store, path: opened.path, databaseUrl: undefined, close: async () => store.close(), discard: async () => {} };
}

/** A database this process created: what its migrations left in it, and who has it now. */
interface TestDatabase {
  url: string;
  /** Tables and sequences of the public schema, and each non-empty table's rows as JSON, as migrated. */
  tables: string[];
  sequences: string[];
  seeds: Array<{ table: string; rows: string }>;
  /** Apps of this process open on it. */
  apps: number;
  /** Bumped each time it is handed out from `spare`: a later discard by an app of an earlier round does nothing. */
  round: number;
  /** Emptied and waiting in `spare`. */
  idle: boolean;
}

const databases = new Map<string, TestDatabase>();
const spare: TestDatabase[] = [];

/** Where a data dir remembers its database, so that reopening the dir reopens the database, as it would the SQLite file. */
const DATABASE_MARKER = "test-database-url";

async function openSharedTestStore(runtime: Runtime, dataDir: string, options: TestStoreOptions): Promise<TestStore> {
  const marker = join(dataDir, DATABASE_MARKER);
  const url = options.databaseUrl ?? (existsSync(marker) ? readFileSync(marker, "utf8").trim() : (await takeDatabase()).url);
  writeFileSync(marker, url);
  // A database given from elsewhere (usePostgres, another process) is its owner's to drop: never emptied or dropped here.
  const own = databases.get(url);
  if (own?.idle) throw new Error(`createTestApp: ${url} was given up by the cleanup() of its last app; reopen it before that`);
  const round = own?.round;
  if (own) own.apps++;
  let closed = false;
  const release = () => {
    if (own && !closed) own.apps--;
    closed = true;
  };
  const sql = openPostgres({ url });
  try {
    const shared = await openSharedDatabase(runtime, {
      sql,
      mirrorDir: join(dataDir, "mirror"),
      instanceId: `test-${process.pid}-${crypto.randomUUID().slice(0, 8)}`,
      ...FRESHNESS,
      onError: (err) => options.logger.warn("Cannot read the shared vault's changes from PostgreSQL", { error: String(err) }),
    });
    return {
      store: shared.store,
      path: shared.mirror.path,
      databaseUrl: url,
      // As src/server.ts closes it: leave the cluster, then close the mirror, then the pool.
      close: async () => {
        try {
          await shared.store.shared.stop();
          shared.mirror.client.close();
          await sql.end({ timeout: 5 });
        } finally {
          release();
        }
      },
      discard: async () => {
        if (own && own.round === round) await giveBack(own);
      },
    };
  } catch (err) {
    release();
    await sql.end({ timeout: 1 });
    if (own && own.round === round) await giveBack(own);
    throw err;
  }
}

/** A spare database, or a new one, migrated. */
async function takeDatabase(): Promise<TestDatabase> {
  const reused = spare.pop();
  if (reused) {
    reused.idle = false;
    reused.round++;
    return reused;
  }
  const serverUrl = await sharedServerUrl();
  const url = databaseUrl(serverUrl, await createDatabase(serverUrl, appDatabasePrefix(process.pid)));
  const sql = openPostgres({ url, max: 1 });
  try {
    await migratePostgres(sql);
    const tables = (await sql<{ name: string }[]>`SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables WHERE schemaname = 'public'`).map(
      (row) => row.name,
    );
    const sequences = (
      await sql<{ name: string }[]>`SELECT format('%I.%I', schemaname, sequencename) AS name FROM pg_sequences WHERE schemaname = 'public'`
    ).map((row) => row.name);
    const seeds: TestDatabase["seeds"] = [];
    for (const table of tables) {
      // As text (and sent back as text), so that PostgreSQL reads back exactly what it wrote: bytea, jsonb and int8 included.
      const [row] = await sql.unsafe<{ rows: string | null }[]>(`SELECT json_agg(t)::text AS rows FROM ${table} t`);
      if (row?.rows) seeds.push({ table, rows: row.rows });
    }
    const created: TestDatabase = { url, tables, sequences, seeds, apps: 0, round: 0, idle: false };
    databases.set(url, created);
    return created;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Once no app has it open: emptied to its migrated state and kept for the next app, or dropped if that fails. */
async function giveBack(db: TestDatabase): Promise<void> {
  if (db.apps > 0 || db.idle) return;
  db.idle = true;
  try {
    await empty(db);
    spare.push(db);
  } catch {
    databases.delete(db.url);
    await dropDatabase(databaseUrl(db.url, "postgres"), new URL(db.url).pathname.slice(1));
  }
}

async function empty(db: TestDatabase): Promise<void> {
  const sql: Sql = postgres(db.url, { max: 1, onnotice: () => undefined, connect_timeout: 10 });
  try {
    await sql.begin(async (tx) => {
      // No foreign-key triggers while every table is emptied at once (the test server's user is a superuser).
      await tx.unsafe("SET LOCAL session_replication_role = replica");
      for (const table of db.tables) await tx.unsafe(`DELETE FROM ${table}`);
      for (const sequence of db.sequences) await tx.unsafe("SELECT setval($1::regclass, 1, false)", [sequence]);
      for (const seed of db.seeds)
        await tx.unsafe(`INSERT INTO ${seed.table} SELECT * FROM json_populate_recordset(NULL::${seed.table}, $1::text::json)`, [seed.rows]);
    });
  } finally {
    await sql.end({ timeout: 5 });
  }
}
