import type { Clock } from "../clock.ts";
import type { Store } from "../db/store.ts";
import { MasterKeyError } from "./master-key.ts";
import { Sealer } from "./sealing.ts";

export const CHECK_KEY = "master_key_check";
const CHECK_PLAINTEXT = "keyward master key check";

export interface CheckRecord {
  version: number;
  nonce: string;
  ciphertext: string;
}

const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const unb64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

/** The sealed check value for `sealer`'s key and version, as stored in `meta`. */
export async function sealCheckValue(sealer: Sealer): Promise<string> {
  const sealed = await sealer.seal(CHECK_PLAINTEXT, CHECK_KEY);
  const record: CheckRecord = { version: sealer.keyVersion, nonce: b64(sealed.nonce), ciphertext: b64(sealed.ciphertext) };
  return JSON.stringify(record);
}

/**
 * The sealer for `masterKey` if it opens the check value `stored`, else a
 * MasterKeyError. Reads nothing and writes nothing: restore and rotation use
 * it on databases they must not change yet.
 */
export async function unlockCheckValue(stored: string, masterKey: Uint8Array): Promise<Sealer> {
  const record = JSON.parse(stored) as CheckRecord;
  const sealer = await Sealer.create(masterKey, record.version);
  try {
    await sealer.open({ keyVersion: record.version, nonce: unb64(record.nonce), ciphertext: unb64(record.ciphertext) }, CHECK_KEY);
  } catch {
    // After a rotation the old key is the usual suspect: say which version the database expects.
    const rotated = record.version > 1 ? ` (the database is at master key version ${record.version}: after a rotation, use the new key)` : "";
    throw new MasterKeyError(
      `Cannot open database: master key does not match the one this database was created with (check KEYWARD_MASTER_KEY / KEYWARD_MASTER_KEY_FILE / master.key)${rotated}`,
    );
  }
  return sealer;
}

/**
 * Returns the sealer for this database's master key. A sealed check value in
 * `meta` proves the key is the one the database was created with; a wrong key
 * is refused here, before any provider key is written under it.
 */
export async function openKeyring(store: Store, masterKey: Uint8Array, clock: Clock): Promise<Sealer> {
  const stored = store.meta.get(CHECK_KEY);
  if (stored === undefined) {
    const sealer = await Sealer.create(masterKey, 1);
    const record = await sealCheckValue(sealer);
    await store.write((tx) => {
      // Another process may have initialised the database meanwhile; keep its record.
      if (tx.meta.get(CHECK_KEY) === undefined) tx.meta.set(CHECK_KEY, record, clock.now());
    });
    if (store.meta.get(CHECK_KEY) === record) return sealer;
    return openKeyring(store, masterKey, clock);
  }
  return unlockCheckValue(stored, masterKey);
}
