/**
 * The PostgreSQL migrator on a real server: a fresh database gets every
 * table, the bookkeeping and the counter row; instances starting at once
 * migrate it exactly once; a database from a newer keyward is refused and
 * left as it was; `keyward migrate` does it from the command line. And the
 * schema's types survive a round trip through drizzle and postgres.js.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getTableConfig, PgTable } from "drizzle-orm/pg-core";
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/postgres-js";
import type { Sql } from "postgres";
import { DatabaseVersionError } from "../../src/db/errors.ts";
import { openPostgres } from "../../src/db/pg/connect.ts";
import { MIGRATION_LOCK_KEY, migratePostgres } from "../../src/db/pg/migrate.ts";
import { embeddedPgMigrations, LATEST_PG_MIGRATION_MILLIS } from "../../src/db/pg/migrations.ts";
import * as schema from "../../src/db/pg/schema.ts";
import { REPO_ROOT, runKeyward } from "../helpers/binary.ts";
import { usePostgres } from "../helpers/postgres.ts";

const pg = usePostgres();
const clients: Sql[] = [];

function client(url: string): Sql {
  const sql = openPostgres({ url, max: 2 });
  clients.push(sql);
  return sql;
}

afterAll(async () => {
  await Promise.all(clients.splice(0).map((sql) => sql.end({ timeout: 5 })));
});

const MIGRATIONS = embeddedPgMigrations().length;
const SCHEMA_TABLES = Object.values(schema)
  .filter((t): t is typeof schema.providerKeys => t instanceof PgTable)
  .map((t) => getTableConfig(t).name)
  .sort();

async function publicTables(sql: Sql): Promise<string[]> {
  const rows = await sql<{ table_name: string }[]>`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`;
  return rows.map((r) => r.table_name);
}

async function recorded(sql: Sql): Promise<{ hash: string; created_at: number }[]> {
  return sql<{ hash: string; created_at: number }[]>`SELECT hash, created_at FROM drizzle.__drizzle_migrations ORDER BY id`;
}

describe("migratePostgres", () => {
  test("a fresh database gets every table of the schema, the bookkeeping and the counter's row", async () => {
    const sql = client(pg.url);
    expect(await migratePostgres(sql)).toBe(MIGRATIONS);
    expect(await publicTables(sql)).toEqual(SCHEMA_TABLES);
    expect(await recorded(sql)).toEqual(embeddedPgMigrations().map((m) => ({ hash: m.hash, created_at: m.folderMillis })));
    expect([...(await sql`SELECT id, version FROM cluster_state`)]).toEqual([{ id: 1, version: 0 }]);
  });

  test("a second run applies nothing and keeps the counter", async () => {
    const sql = client(pg.url);
    await sql`UPDATE cluster_state SET version = 7`;
    expect(await migratePostgres(sql)).toBe(0);
    expect((await recorded(sql)).length).toBe(MIGRATIONS);
    expect([...(await sql`SELECT version FROM cluster_state`)]).toEqual([{ version: 7 }]);
  });

  test("the counter holds one row only", async () => {
    const sql = client(pg.url);
    await expect(sql`INSERT INTO cluster_state (id, version) VALUES (2, 0)`.then(() => "inserted")).rejects.toThrow(/cluster_state_one_row/);
  });

  test("three instances starting at once, on three clients, migrate exactly once and all succeed", async () => {
    const url = await pg.newDatabase();
    // Hold the lock first, so all three are surely waiting on it together before any can start.
    const holder = client(url);
    const held = await holder.reserve();
    await held`SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY}::bigint)`;
    const runs = [client(url), client(url), client(url)].map((sql) => migratePostgres(sql));
    await Bun.sleep(300);
    expect(await publicTables(holder)).toEqual([]);
    const waiting = await holder<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`;
    expect(waiting[0]?.n).toBe(3);
    await held`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY}::bigint)`;
    held.release();
    const applied = await Promise.all(runs);
    expect(applied.toSorted((a, b) => a - b)).toEqual([0, 0, MIGRATIONS]);
    expect((await recorded(holder)).length).toBe(MIGRATIONS);
    expect(await publicTables(holder)).toEqual(SCHEMA_TABLES);
  });

  test("a current database opens with a role that may only use its tables, not create any", async () => {
    const url = await pg.newDatabase();
    const owner = client(url);
    await migratePostgres(owner);
    const role = `kw_app_${randomBytes(4).toString("hex")}`;
    await owner.unsafe(`CREATE ROLE ${role} LOGIN`);
    const app = openPostgres({ url: url.replace("postgres@", `${role}@`), max: 1 });
    try {
      await owner.unsafe(`GRANT USAGE ON SCHEMA drizzle TO ${role}`);
      await owner.unsafe(`GRANT SELECT ON drizzle.__drizzle_migrations TO ${role}`);
      await owner.unsafe(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role}`);
      await expect(app.unsafe("CREATE SCHEMA probe").then(() => "created")).rejects.toThrow(/permission denied/);
      expect(await migratePostgres(app)).toBe(0);
    } finally {
      await app.end({ timeout: 5 });
      await owner.unsafe(`DROP OWNED BY ${role}`);
      await owner.unsafe(`DROP ROLE ${role}`);
    }
  });

  test("a database written by a newer keyward is refused and left unchanged", async () => {
    const url = await pg.newDatabase();
    const sql = client(url);
    await sql`CREATE SCHEMA drizzle`;
    await sql`CREATE TABLE drizzle.__drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)`;
    await sql`INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES ('from-the-future', ${LATEST_PG_MIGRATION_MILLIS + 1})`;
    let caught: unknown;
    try {
      await migratePostgres(sql);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(DatabaseVersionError);
    expect((caught as Error).message).toStartWith("Cannot open database: it was written by a newer keyward");
    expect(await publicTables(sql)).toEqual([]);
    // The lock was given back: another run is refused the same way instead of waiting forever.
    await expect(migratePostgres(sql)).rejects.toThrow(DatabaseVersionError);
  });
});

describe("the schema through drizzle and postgres.js", () => {
  test("buffers, booleans, JSON and int8 come back as they went in", async () => {
    const db = drizzle(client(pg.url), { schema });
    const row = {
      id: "pk_roundtrip",
      name: "roundtrip",
      provider: "openai",
      baseUrl: "https://api.openai.com",
      keyVersion: 1,
      nonce: Buffer.from([0, 1, 2, 250, 255]),
      ciphertext: Buffer.from("sealed"),
      keyHint: "sk-…wxyz",
      disabled: true,
      injectStreamUsage: false,
      deployments: { prod: "gpt-4o", 'with "quotes"': "ü" },
      openaiOrganization: null,
      openaiProject: null,
      createdAt: 1_796_610_847_237,
      updatedAt: 1_796_610_847_238,
    };
    await db.insert(schema.providerKeys).values(row);
    expect(await db.select().from(schema.providerKeys).where(eq(schema.providerKeys.id, row.id))).toEqual([row]);
    const [logged] = await db
      .insert(schema.requestLog)
      .values({
        at: 1_796_610_847_237,
        requestId: "r1",
        method: "POST",
        path: "/v1/chat/completions",
        status: 200,
        latencyMs: 12,
        costMicros: 4_000_000_000_000,
      })
      .returning({ id: schema.requestLog.id, costMicros: schema.requestLog.costMicros, streamed: schema.requestLog.streamed });
    expect(logged).toEqual({ id: 1, costMicros: 4_000_000_000_000, streamed: false });
  });
});

describe("keyward migrate", () => {
  test("migrates the PostgreSQL database of --database-url, then finds nothing to do", async () => {
    const url = await pg.newDatabase();
    const run = (args: string[]) => runKeyward(["bun", join(REPO_ROOT, "src/main.ts"), "migrate", ...args]);
    const first = await run(["--database-url", url]);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`Applied ${MIGRATIONS} migration`);
    expect(first.stdout).toContain("to PostgreSQL postgres://postgres@127.0.0.1");
    const second = await runKeyward(["bun", join(REPO_ROOT, "src/main.ts"), "migrate"], { env: { KEYWARD_DATABASE_URL: url } });
    expect(second.code).toBe(0);
    expect(second.stdout).toStartWith("Applied 0 migrations");
  });

  test("without a database URL it migrates the SQLite database in the data dir", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "keyward-migrate-"));
    try {
      const result = await runKeyward(["bun", join(REPO_ROOT, "src/main.ts"), "migrate", "--data-dir", dataDir]);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^Applied [1-9]\d* migrations to .*keyward\.db, schema /);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test("a bad URL is a usage error (exit 2) that does not show the password; an unreachable server exits 1", async () => {
    const bad = await runKeyward(["bun", join(REPO_ROOT, "src/main.ts"), "migrate", "--database-url", "mysql://kw:hunter2@127.0.0.1/kw"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe("keyward: Invalid --database-url: the scheme must be postgres:// or postgresql://\n");
    const down = await runKeyward(["bun", join(REPO_ROOT, "src/main.ts"), "migrate", "--database-url", "postgres://kw:hunter2@127.0.0.1:1/kw"]);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain("Cannot migrate PostgreSQL postgres://kw:***@127.0.0.1:1/kw (sslmode disable)");
    expect(down.stderr).not.toContain("hunter2");
  });
});
