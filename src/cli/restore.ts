import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Env } from "../config.ts";
import { openExisting, schemaState, vacuumInto } from "../db/backup.ts";
import { LATEST_MIGRATION_MILLIS } from "../db/migrations.ts";
import { refuseWhileServing } from "../ops/pidfile.ts";
import { detectRuntime } from "../runtime/index.ts";
import { unlockDatabase } from "../vault/database-check.ts";
import { loadMasterKey } from "../vault/master-key.ts";
import { counted, onePositional, parseHostArgs } from "./host.ts";

export const RESTORE_USAGE = `Usage: keyward restore FILE [--data-dir D] [--master-key-file K] [--config F] [--force]

Replaces <data-dir>/keyward.db with the backup FILE, atomically. Refused while a
server runs on the data dir, and before anything is replaced unless the master
key (KEYWARD_MASTER_KEY, --master-key-file or <data-dir>/master.key, as for
serve) opens the backup. --force replaces an existing database (never a running
server's). An older backup is migrated when the server next starts.
`;

function fsyncPath(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** `keyward restore FILE`: check the backup with the master key, then swap it in. */
export async function restoreCommand(args: string[], env: Env): Promise<number> {
  const parsed = parseHostArgs(args, env, { force: { type: "boolean" } }, RESTORE_USAGE);
  if (parsed === "help") return 0;
  const file = resolve(onePositional(parsed.positionals, "FILE", RESTORE_USAGE));
  const { dataDir } = parsed.config;
  const dbPath = join(dataDir, "keyward.db");
  const fail = (why: string) => new Error(`Cannot restore backup: ${why}`);

  refuseWhileServing(dataDir, "restore backup");
  if (existsSync(dbPath) && parsed.values.force !== true) throw fail(`${dbPath} exists; pass --force to replace it`);
  let masterKey: Uint8Array;
  try {
    masterKey = loadMasterKey(parsed.config, { createIfMissing: false }).bytes;
  } catch (err) {
    throw fail((err as Error).message);
  }

  const runtime = await detectRuntime();
  const backup = openExisting(runtime, file, "backup");
  // In the data dir, so the final rename stays on one file system and is atomic.
  const temp = join(dataDir, `.keyward.db.restore-${process.pid}`);
  let unlocked: Awaited<ReturnType<typeof unlockDatabase>>;
  try {
    const schema = schemaState(backup);
    if (schema.millis < 0) throw fail(`${file} is not a keyward database (no migrations applied)`);
    if (schema.millis > LATEST_MIGRATION_MILLIS) throw fail(`${file} was written by a newer keyward (schema ${schema.tag}); upgrade keyward first`);
    try {
      unlocked = await unlockDatabase(backup, masterKey);
    } catch (err) {
      throw fail(`the master key does not open ${file}: ${(err as Error).message}`);
    }
    // Only now, with the backup proven, may a new data dir appear.
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    rmSync(temp, { force: true });
    // A fresh, checkpointed copy (never the file itself: it might have a -wal of its own).
    vacuumInto(backup, temp);
  } finally {
    backup.close();
  }
  try {
    fsyncPath(temp);
    // Checked again right before the swap: a server started meanwhile must not lose its database under it.
    refuseWhileServing(dataDir, "restore backup");
    // The old WAL belongs to the old database: replayed onto the restored file it would corrupt it.
    for (const sidecar of ["-wal", "-shm", "-journal"]) rmSync(`${dbPath}${sidecar}`, { force: true });
    renameSync(temp, dbPath);
    fsyncPath(dataDir);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
  process.stdout.write(
    `Restored ${file} to ${dbPath}: ${counted(unlocked.providerKeys, "provider key")} open with the master key (version ${unlocked.keyVersion})\n`,
  );
  return 0;
}
