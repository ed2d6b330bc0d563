/**
 * PostgreSQL for bun:test files. `usePostgres()` gives the file a fresh
 * database (`kw_<random>`) on a shared server, dropped after the file: the
 * server of `KEYWARD_TEST_PG_URL` when set (.ci/run starts one), else one this
 * process starts on first use (./postgres-server.ts) and stops at exit. A
 * missing or broken PostgreSQL fails the tests that asked for it, never skips
 * them.
 */
import { afterAll, beforeAll } from "bun:test";
import { randomBytes } from "node:crypto";
import postgres, { type Sql } from "postgres";
import { startPostgresServer } from "./postgres-server.ts";

export { startPostgresServer, type PostgresServer, type PostgresServerOptions } from "./postgres-server.ts";

let shared: Promise<string> | undefined;

/** The shared server's superuser URL: from .ci/run, or a server of this process's own, started once. */
export function sharedServerUrl(): Promise<string> {
  const given = process.env.KEYWARD_TEST_PG_URL;
  if (given) return Promise.resolve(given);
  shared ??= startPostgresServer().then((server) => server.url);
  return shared;
}

/** The URL of database `name` on the server of `serverUrl`. */
export function databaseUrl(serverUrl: string, name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.href;
}

/** A superuser connection to the server's maintenance database, for creating and dropping databases. */
function admin(serverUrl: string): Sql {
  return postgres(serverUrl, { max: 1, onnotice: () => undefined, connect_timeout: 10 });
}

/** Creates an empty database on the server and returns its name, `<prefix>_<random>`. */
export async function createDatabase(serverUrl: string, prefix = "kw"): Promise<string> {
  const name = `${prefix}_${randomBytes(6).toString("hex")}`;
  const sql = admin(serverUrl);
  try {
    await sql.unsafe(`CREATE DATABASE ${name}`);
  } catch (err) {
    throw new Error(`Cannot create a test database on ${new URL(serverUrl).host}: ${(err as Error).message}`, { cause: err });
  } finally {
    await sql.end();
  }
  return name;
}

/** Drops the database, cutting any connection a test left open. */
export async function dropDatabase(serverUrl: string, name: string): Promise<void> {
  const sql = admin(serverUrl);
  try {
    await sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await sql.end();
  }
}

/** Drops every database named `<prefix>_…` (what a test process left behind, say), cutting their connections. */
export async function dropDatabasesByPrefix(serverUrl: string, prefix: string): Promise<void> {
  const sql = admin(serverUrl);
  try {
    const rows = await sql<{ name: string }[]>`SELECT datname AS name FROM pg_database WHERE starts_with(datname, ${`${prefix}_`})`;
    for (const row of rows) await sql`DROP DATABASE IF EXISTS ${sql(row.name)} WITH (FORCE)`;
  } finally {
    await sql.end();
  }
}

export interface TestPostgres {
  /** The file's database, `postgres://postgres@127.0.0.1:PORT/kw_…`; set once beforeAll has run. */
  readonly url: string;
  /** The server's superuser URL (maintenance database). */
  readonly serverUrl: string;
  /** Another fresh database on the same server, dropped with the file's; returns its URL. */
  newDatabase(): Promise<string>;
}

/** Registers beforeAll/afterAll hooks that give this test file fresh databases on a running PostgreSQL. */
export function usePostgres(): TestPostgres {
  let serverUrl: string | undefined;
  let url: string | undefined;
  const created: string[] = [];
  const newDatabase = async () => {
    const server = serverUrl ?? (await sharedServerUrl());
    serverUrl = server;
    const name = await createDatabase(server);
    created.push(name);
    return databaseUrl(server, name);
  };
  beforeAll(async () => {
    url = await newDatabase();
  });
  afterAll(async () => {
    const server = serverUrl;
    if (server === undefined) return;
    for (const name of created.splice(0)) await dropDatabase(server, name);
  });
  return {
    get url() {
      if (url === undefined) throw new Error("usePostgres(): the database is ready in beforeAll, not before");
      return url;
    },
    get serverUrl() {
      if (serverUrl === undefined) throw new Error("usePostgres(): the server is ready in beforeAll, not before");
      return serverUrl;
    },
    newDatabase,
  };
}
