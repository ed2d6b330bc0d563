/**
 * Proves a master key opens a database file before anything depends on it
 * (restore checks a backup with it before replacing the live database):
 * the check value must open, and so must every provider key. Raw SQL on
 * columns that exist since the first schema, so an older backup is checked
 * as well as a current one.
 */
import type { SqliteClient } from "../runtime/index.ts";
import { CHECK_KEY, unlockCheckValue } from "./keyring.ts";
import { providerKeyContext } from "./provider-keys.ts";

export interface UnlockedDatabase {
  keyVersion: number;
  providerKeys: number;
}

export async function unlockDatabase(client: SqliteClient, masterKey: Uint8Array): Promise<UnlockedDatabase> {
  const check = client.prepare("SELECT value FROM meta WHERE key = ?").values(CHECK_KEY)[0]?.[0];
  if (typeof check !== "string") throw new Error("Cannot check master key: the database has no master key check value (was a server ever started on it?)");
  const sealer = await unlockCheckValue(check, masterKey);
  const rows = client.prepare("SELECT id, key_version, nonce, ciphertext FROM provider_keys").values();
  for (const [id, keyVersion, nonce, ciphertext] of rows) {
    try {
      await sealer.open({ keyVersion: Number(keyVersion), nonce: nonce as Uint8Array, ciphertext: ciphertext as Uint8Array }, providerKeyContext(String(id)));
    } catch (err) {
      throw new Error(`Cannot decrypt provider key ${String(id)}: ${(err as Error).message}`);
    }
  }
  return { keyVersion: sealer.keyVersion, providerKeys: rows.length };
}
