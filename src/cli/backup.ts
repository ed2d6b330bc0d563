import { statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Env } from "../config.ts";
import { openExisting, schemaState, vacuumInto } from "../db/backup.ts";
import { detectRuntime } from "../runtime/index.ts";
import { lowerThreadPriority } from "../runtime/thread-priority.ts";
import { counted, formatBytes, onePositional, parseHostArgs } from "./host.ts";

export const BACKUP_USAGE = `Usage: keyward backup FILE [--data-dir D] [--config F]

Writes a consistent copy of <data-dir>/keyward.db to FILE while the server keeps
serving (SQLite VACUUM INTO). FILE must not exist. The copy is useless without
the master key: keep master.key (or your key file) with it, apart from it.
`;

/** `keyward backup FILE`: an online copy; never overwrites. */
export async function backupCommand(args: string[], env: Env): Promise<number> {
  const parsed = parseHostArgs(args, env, {}, BACKUP_USAGE);
  if (parsed === "help") return 0;
  const target = resolve(onePositional(parsed.positionals, "FILE", BACKUP_USAGE));
  const source = join(parsed.config.dataDir, "keyward.db");
  const runtime = await detectRuntime();
  // Below the server's serving thread, on the same cores: copying and checking gigabytes is minutes of CPU
  // that proxied requests must not wait behind. A backup on an idle machine takes no longer.
  lowerThreadPriority();
  const started = performance.now();
  const client = openExisting(runtime, source, "database");
  try {
    vacuumInto(client, target);
  } finally {
    client.close();
  }
  const ms = Math.round(performance.now() - started);
  // Read the copy back: a backup nobody checked is a hope, not a backup.
  const copy = openExisting(runtime, target, "backup");
  try {
    const check = copy.prepare("PRAGMA quick_check").values()[0]?.[0];
    if (check !== "ok") throw new Error(`Cannot verify backup ${target}: quick_check says ${String(check)}`);
    const count = (table: string) => Number(copy.prepare(`SELECT count(*) FROM ${table}`).values()[0]?.[0] ?? 0);
    const schema = schemaState(copy).tag;
    process.stdout.write(
      `Backed up ${source} to ${target} in ${ms} ms: ${formatBytes(statSync(target).size)}, schema ${schema}, ` +
        `${counted(count("provider_keys"), "provider key")}, ${counted(count("proxy_keys"), "proxy key")}\n` +
        "Keep the master key too: provider keys in a backup cannot be decrypted without it.\n",
    );
  } finally {
    copy.close();
  }
  return 0;
}
