/**
 * `keyward migrate`: brings the database to this binary's schema and exits,
 * so an upgrade can migrate once, before the new instances start (they would
 * migrate on start anyway, and serialise on the same lock).
 */
import { ConfigError, loadServeConfig, parseArgsOptions, parseFlags, postgresOptions, SERVE_OPTIONS, type Env } from "../config.ts";
import { openDatabase } from "../db/open.ts";
import { describePostgres, openPostgres } from "../db/pg/connect.ts";
import { migratePostgres } from "../db/pg/migrate.ts";
import { PG_SCHEMA_VERSION } from "../db/pg/migrations.ts";
import { detectRuntime } from "../runtime/index.ts";
import { SCHEMA_VERSION } from "../version.ts";
import { counted } from "./host.ts";

export const MIGRATE_USAGE = `Usage: keyward migrate [--database-url URL] [--database-password-file F] [--database-ca-file F] [--data-dir D] [--config F]

Applies the migrations this binary brings and prints how many it applied
(0 when the database is current). With --database-url (or KEYWARD_DATABASE_URL),
migrates that PostgreSQL database, holding an advisory lock so instances
starting meanwhile wait; otherwise <data-dir>/keyward.db, copied first when it
is upgraded (as serve does). A database written by a newer keyward is refused
and left unchanged.
`;

const FLAGS = ["config", "data-dir", "database-url", "database-password-file", "database-ca-file"];
const MIGRATE_OPTIONS = parseArgsOptions(SERVE_OPTIONS.filter((s) => FLAGS.includes(s.flag)));

export async function migrateCommand(args: string[], env: Env): Promise<number> {
  const flags = parseFlags(args, { ...MIGRATE_OPTIONS, help: { type: "boolean", short: "h" } });
  if (flags.values.help) {
    process.stdout.write(MIGRATE_USAGE);
    return 0;
  }
  if (flags.positionals.length > 0) throw new ConfigError(`Unexpected argument "${flags.positionals[0]}"`);
  const config = loadServeConfig(Object.fromEntries(FLAGS.map((f) => [f, flags.values[f]])), env);
  const postgres = postgresOptions(config);
  if (postgres) {
    const where = describePostgres(postgres);
    const sql = openPostgres(postgres);
    try {
      const applied = await migratePostgres(sql);
      process.stdout.write(`Applied ${counted(applied, "migration")} to PostgreSQL ${where}, schema ${PG_SCHEMA_VERSION}\n`);
    } catch (err) {
      // The driver's errors (a refused connection, a failed login) carry a code and say nothing of where.
      if (err instanceof Error && "code" in err) throw new Error(`Cannot migrate PostgreSQL ${where}: ${err.message}`, { cause: err });
      throw err;
    } finally {
      await sql.end({ timeout: 5 });
    }
    return 0;
  }
  const opened = openDatabase(await detectRuntime(), config.dataDir);
  try {
    const backup = opened.upgradeBackup ? `; the database before it is in ${opened.upgradeBackup}` : "";
    process.stdout.write(`Applied ${counted(opened.applied, "migration")} to ${opened.path}, schema ${SCHEMA_VERSION}${backup}\n`);
  } finally {
    opened.client.close();
  }
  return 0;
}
