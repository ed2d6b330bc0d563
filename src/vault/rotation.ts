/**
 * Master key rotation: every provider key, every webhook secret and the check
 * value re-encrypted under key version + 1 with the new key, in ONE transaction, so a crash at
 * any point leaves the database entirely under the old key or entirely under
 * the new one. Web Crypto is asynchronous and a transaction here must not
 * await, so the new ciphertexts are computed first; the transaction then
 * checks that nothing changed since and writes them all.
 */
import { Buffer } from "node:buffer";
import type { Clock } from "../clock.ts";
import type { Store } from "../db/store.ts";
import { recordAudit } from "../changes/audit.ts";
import { webhookContext } from "../alerts/webhooks.ts";
import { CHECK_KEY, sealCheckValue } from "./keyring.ts";
import { providerKeyContext } from "./provider-keys.ts";
import { Sealer, type Sealed } from "./sealing.ts";

export interface RotationResult {
  fromVersion: number;
  toVersion: number;
  providerKeys: number;
  webhooks: number;
}

export interface RotationOptions {
  /** Runs between re-encrypted rows inside the transaction, again if the write runs again (the tests' kill window; a no-op otherwise). */
  betweenRows?: () => void;
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

/** `current` must be the sealer that opened the database (see `unlockCheckValue`). */
export async function rotateMasterKey(store: Store, current: Sealer, newKey: Uint8Array, clock: Clock, options: RotationOptions = {}): Promise<RotationResult> {
  const checkBefore = store.meta.get(CHECK_KEY);
  if (checkBefore === undefined) throw new Error("Cannot rotate master key: the database has no master key check value yet (start the server once)");
  const next = await Sealer.create(newKey, current.keyVersion + 1);
  const rows = store.providerKeys.all();
  const resealed: Array<{ id: string; before: Uint8Array; sealed: Sealed }> = [];
  for (const row of rows) {
    let plaintext: string;
    try {
      plaintext = await current.open({ keyVersion: row.keyVersion, nonce: row.nonce, ciphertext: row.ciphertext }, providerKeyContext(row.id));
    } catch (err) {
      throw new Error(`Cannot rotate master key: provider key ${row.id} does not decrypt with the current key (${(err as Error).message})`);
    }
    resealed.push({ id: row.id, before: row.ciphertext, sealed: await next.seal(plaintext, providerKeyContext(row.id)) });
  }
  // Webhook signing secrets are sealed the same way: left behind, they would no longer open after the rotation.
  const hooks: Array<{ id: string; before: Uint8Array; sealed: Sealed }> = [];
  for (const row of store.webhooks.all()) {
    let plaintext: string;
    try {
      plaintext = await current.open({ keyVersion: row.keyVersion, nonce: row.nonce, ciphertext: row.ciphertext }, webhookContext(row.id));
    } catch (err) {
      throw new Error(`Cannot rotate master key: webhook ${row.id}'s secret does not decrypt with the current key (${(err as Error).message})`);
    }
    hooks.push({ id: row.id, before: row.ciphertext, sealed: await next.seal(plaintext, webhookContext(row.id)) });
  }
  const checkAfter = await sealCheckValue(next);

  const changed = () => new Error("Cannot rotate master key: provider keys or webhooks changed while re-encrypting; nothing was changed, run it again");
  await store.write((tx) => {
    if (tx.meta.get(CHECK_KEY) !== checkBefore || tx.providerKeys.all().length !== resealed.length || tx.webhooks.all().length !== hooks.length)
      throw changed();
    for (const { id, before, sealed } of resealed) {
      const row = tx.providerKeys.byId(id);
      if (!row || !sameBytes(row.ciphertext, before)) throw changed();
      tx.providerKeys.update(id, {
        keyVersion: sealed.keyVersion,
        nonce: Buffer.from(sealed.nonce),
        ciphertext: Buffer.from(sealed.ciphertext),
      });
      options.betweenRows?.();
    }
    for (const { id, before, sealed } of hooks) {
      const row = tx.webhooks.byId(id);
      if (!row || !sameBytes(row.ciphertext, before)) throw changed();
      tx.webhooks.reseal(id, { keyVersion: sealed.keyVersion, nonce: Buffer.from(sealed.nonce), ciphertext: Buffer.from(sealed.ciphertext) });
      options.betweenRows?.();
    }
    const now = clock.now();
    tx.meta.set(CHECK_KEY, checkAfter, now);
    recordAudit(tx, "cli", now, {
      action: "master_key.rotate",
      targetType: "master_key",
      details: { from_version: current.keyVersion, to_version: next.keyVersion, provider_keys: resealed.length, webhooks: hooks.length },
    });
  });
  return { fromVersion: current.keyVersion, toVersion: next.keyVersion, providerKeys: resealed.length, webhooks: hooks.length };
}
