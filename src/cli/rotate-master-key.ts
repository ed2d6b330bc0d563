import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { systemClock } from "../clock.ts";
import { ConfigError, readTestHooks, type Env } from "../config.ts";
import { fileTimestamp } from "../db/backup.ts";
import { openDatabase } from "../db/open.ts";
import { createSqliteStore } from "../db/sqlite-store.ts";
import { refuseWhileServing } from "../ops/pidfile.ts";
import { detectRuntime } from "../runtime/index.ts";
import { CHECK_KEY, unlockCheckValue } from "../vault/keyring.ts";
import { decodeMasterKey, encodeMasterKey, loadMasterKey, MasterKeyError } from "../vault/master-key.ts";
import { rotateMasterKey } from "../vault/rotation.ts";
import { counted, parseHostArgs } from "./host.ts";

export const ROTATE_USAGE = `Usage: keyward rotate-master-key --new-key-file F [--data-dir D] [--master-key-file K] [--config C]

Re-encrypts every provider key and webhook secret under the new master key in
F (base64 of 32 bytes, e.g. \`openssl rand -base64 32 > F\`), in one transaction:
a crash leaves the database under the old key or the new one, never half and
half. Refused while a server runs on the data dir. The current key is found
as serve finds it; when it is <data-dir>/master.key, that file is replaced by
the new key afterwards and the old one kept beside it as
master.key.old-<timestamp>.
`;

/** Blocks the thread: the rotation transaction is synchronous by design (Atomics.wait works on Bun and Deno). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function writeDurably(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o600, flag: "wx" });
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Old key kept first, then the new one renamed over master.key: the file always holds a whole key. */
function replaceKeyFile(dataDir: string, oldText: string, newKey: Uint8Array): string {
  const keyPath = join(dataDir, "master.key");
  const kept = `${keyPath}.old-${fileTimestamp(new Date())}`;
  writeDurably(kept, oldText);
  const temp = `${keyPath}.tmp-${process.pid}`;
  rmSync(temp, { force: true });
  writeDurably(temp, `${encodeMasterKey(newKey)}\n`);
  renameSync(temp, keyPath);
  const fd = openSync(dataDir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return kept;
}

/** `keyward rotate-master-key --new-key-file F`. */
export async function rotateMasterKeyCommand(args: string[], env: Env): Promise<number> {
  const parsed = parseHostArgs(args, env, { "new-key-file": { type: "string" } }, ROTATE_USAGE);
  if (parsed === "help") return 0;
  if (parsed.positionals.length > 0) throw new ConfigError(`Unexpected argument "${parsed.positionals[0]}"`);
  const newKeyFile = parsed.values["new-key-file"];
  if (typeof newKeyFile !== "string" || !newKeyFile)
    throw new ConfigError("Missing --new-key-file: a file with the new base64 master key (openssl rand -base64 32)");
  const { config } = parsed;
  const fail = (why: string) => new Error(`Cannot rotate master key: ${why}`);

  refuseWhileServing(config.dataDir, "rotate master key");
  if (!existsSync(join(config.dataDir, "keyward.db"))) throw fail(`no database in ${config.dataDir}`);
  const current = loadMasterKey(config, { createIfMissing: false });
  const currentText = current.origin === "data-dir" ? readFileSync(join(config.dataDir, "master.key"), "utf8") : "";
  let newKey: Uint8Array;
  try {
    newKey = decodeMasterKey(readFileSync(newKeyFile, "utf8"), newKeyFile);
  } catch (err) {
    if (err instanceof MasterKeyError) throw err;
    throw fail(`cannot read ${newKeyFile}: ${(err as Error).message}`);
  }
  if (encodeMasterKey(newKey) === encodeMasterKey(current.bytes)) throw fail("the new key is the current key");

  const runtime = await detectRuntime();
  const opened = openDatabase(runtime, config.dataDir);
  const store = createSqliteStore(opened.db, () => opened.client.close());
  const started = performance.now();
  let result: Awaited<ReturnType<typeof rotateMasterKey>>;
  try {
    const check = store.meta.get(CHECK_KEY);
    if (check === undefined) throw fail("the database has no master key check value yet (start the server once)");
    const sealer = await unlockCheckValue(check, current.bytes);
    const delay = readTestHooks(env).rotationDelayMs;
    result = await rotateMasterKey(store, sealer, newKey, systemClock, { betweenRows: delay > 0 ? () => sleepSync(delay) : undefined });
  } finally {
    store.close();
  }
  const ms = Math.round(performance.now() - started);
  const lines = [
    `Rotated the master key in ${ms} ms: ${counted(result.providerKeys, "provider key")}${result.webhooks > 0 ? ` and ${counted(result.webhooks, "webhook secret")}` : ""} re-encrypted, key version ${result.fromVersion} → ${result.toVersion}.`,
  ];
  if (current.origin === "data-dir") {
    const kept = replaceKeyFile(config.dataDir, currentText, newKey);
    lines.push(
      `Replaced ${join(config.dataDir, "master.key")} with the new key. The old key is kept in ${kept} (mode 0600):`,
      "backups made before this rotation need it; delete it once they are gone.",
    );
  } else {
    const source = current.origin === "env" ? "KEYWARD_MASTER_KEY" : `the key file ${config.masterKeyFile}`;
    lines.push(
      `The old key (from ${source}) no longer opens the database: start keyward with the new key from ${newKeyFile}`,
      "(e.g. replace the file LoadCredential= points at). Keep the old key for backups made before this rotation.",
    );
  }
  process.stdout.write(`${lines.join("\n")}\n`);
  return 0;
}
