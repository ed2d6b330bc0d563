import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../../src/db/open.ts";
import { createSqliteStore } from "../../src/db/sqlite-store.ts";
import type { Store } from "../../src/db/store.ts";
import { detectRuntime } from "../../src/runtime/index.ts";
import { openKeyring } from "../../src/vault/keyring.ts";
import { decodeMasterKey, encodeMasterKey, loadMasterKey, MasterKeyError } from "../../src/vault/master-key.ts";
import { DecryptError, Sealer, type Sealed } from "../../src/vault/sealing.ts";
import { TestClock } from "../helpers/app.ts";

const newKey = () => crypto.getRandomValues(new Uint8Array(32));
const PLAINTEXT = "sk-proj-THIS-IS-A-PROVIDER-KEY-0123456789";

function copy(sealed: Sealed): Sealed {
  return { keyVersion: sealed.keyVersion, nonce: new Uint8Array(sealed.nonce), ciphertext: new Uint8Array(sealed.ciphertext) };
}

async function expectDecryptError(promise: Promise<string>): Promise<void> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(DecryptError);
}

describe("Sealer (AES-256-GCM barrier)", () => {
  test("round trip", async () => {
    const sealer = await Sealer.create(newKey(), 1);
    for (const text of [PLAINTEXT, "", "ünïcødé ✓ 😀", "x".repeat(5000)]) {
      const sealed = await sealer.seal(text, "provider_keys:pk_1");
      expect(sealed.keyVersion).toBe(1);
      expect(sealed.nonce).toHaveLength(12);
      // GCM: ciphertext is as long as the UTF-8 plaintext, plus a 16-byte tag.
      expect(sealed.ciphertext).toHaveLength(new TextEncoder().encode(text).length + 16);
      expect(await sealer.open(sealed, "provider_keys:pk_1")).toBe(text);
    }
  });

  test("the ciphertext does not contain the plaintext", async () => {
    const sealer = await Sealer.create(newKey(), 1);
    const sealed = await sealer.seal(PLAINTEXT, "ctx");
    expect(Buffer.from(sealed.ciphertext).includes(Buffer.from(PLAINTEXT))).toBe(false);
    expect(Buffer.from(sealed.ciphertext).includes(Buffer.from(PLAINTEXT.slice(8, 24)))).toBe(false);
  });

  test("tampering with any single byte of the ciphertext (tag included) fails", async () => {
    const sealer = await Sealer.create(newKey(), 1);
    const sealed = await sealer.seal(PLAINTEXT, "ctx");
    for (let i = 0; i < sealed.ciphertext.length; i++) {
      const bad = copy(sealed);
      bad.ciphertext[i] = (bad.ciphertext[i] as number) ^ 0x01;
      await expectDecryptError(sealer.open(bad, "ctx"));
    }
    // The untouched record still opens: the failures above are the tampering.
    expect(await sealer.open(sealed, "ctx")).toBe(PLAINTEXT);
  });

  test("tampering with any single byte of the nonce fails", async () => {
    const sealer = await Sealer.create(newKey(), 1);
    const sealed = await sealer.seal(PLAINTEXT, "ctx");
    for (let i = 0; i < sealed.nonce.length; i++) {
      const bad = copy(sealed);
      bad.nonce[i] = (bad.nonce[i] as number) ^ 0x80;
      await expectDecryptError(sealer.open(bad, "ctx"));
    }
  });

  test("truncated or extended ciphertext fails", async () => {
    const sealer = await Sealer.create(newKey(), 1);
    const sealed = await sealer.seal(PLAINTEXT, "ctx");
    await expectDecryptError(sealer.open({ ...sealed, ciphertext: sealed.ciphertext.slice(0, -1) }, "ctx"));
    await expectDecryptError(sealer.open({ ...sealed, ciphertext: new Uint8Array([...sealed.ciphertext, 0]) }, "ctx"));
    await expectDecryptError(sealer.open({ ...sealed, ciphertext: new Uint8Array(0) }, "ctx"));
  });

  test("a ciphertext moved to another row context fails (AAD binds the row id)", async () => {
    const sealer = await Sealer.create(newKey(), 1);
    const sealed = await sealer.seal(PLAINTEXT, "provider_keys:pk_aaaaaaaaaaaa");
    await expectDecryptError(sealer.open(sealed, "provider_keys:pk_bbbbbbbbbbbb"));
    await expectDecryptError(sealer.open(sealed, "provider_keys:pk_aaaaaaaaaaa"));
    await expectDecryptError(sealer.open(sealed, ""));
    expect(await sealer.open(sealed, "provider_keys:pk_aaaaaaaaaaaa")).toBe(PLAINTEXT);
  });

  test("sealing the same plaintext twice gives different nonces and ciphertexts", async () => {
    const sealer = await Sealer.create(newKey(), 1);
    const a = await sealer.seal(PLAINTEXT, "ctx");
    const b = await sealer.seal(PLAINTEXT, "ctx");
    expect(Buffer.from(a.nonce).equals(Buffer.from(b.nonce))).toBe(false);
    expect(Buffer.from(a.ciphertext).equals(Buffer.from(b.ciphertext))).toBe(false);
    expect(await sealer.open(a, "ctx")).toBe(PLAINTEXT);
    expect(await sealer.open(b, "ctx")).toBe(PLAINTEXT);
  });

  test("a wrong master key fails", async () => {
    const sealed = await (await Sealer.create(newKey(), 1)).seal(PLAINTEXT, "ctx");
    const other = await Sealer.create(newKey(), 1);
    await expectDecryptError(other.open(sealed, "ctx"));
  });

  test("the same master key in a new Sealer opens it", async () => {
    const key = newKey();
    const sealed = await (await Sealer.create(key, 1)).seal(PLAINTEXT, "ctx");
    expect(await (await Sealer.create(new Uint8Array(key), 1)).open(sealed, "ctx")).toBe(PLAINTEXT);
  });

  test("a wrong keyVersion label fails, even for a sealer of that version with the same key", async () => {
    const key = newKey();
    const v1 = await Sealer.create(key, 1);
    const v2 = await Sealer.create(key, 2);
    const sealed = await v1.seal(PLAINTEXT, "ctx");
    // Relabelled: the version is part of the associated data, so GCM refuses it.
    await expectDecryptError(v2.open({ ...sealed, keyVersion: 2 }, "ctx"));
    // Unchanged label but a sealer of another version: refused up front.
    await expectDecryptError(v2.open(sealed, "ctx"));
    await expectDecryptError(v1.open({ ...sealed, keyVersion: 2 }, "ctx"));
  });

  test("master keys that are not 32 bytes are refused", async () => {
    for (const length of [0, 16, 31, 33, 64]) {
      await expect(Sealer.create(new Uint8Array(length), 1)).rejects.toThrow("32 bytes");
    }
  });
});

describe("openKeyring", () => {
  let dir: string;
  let store: Store;
  const clock = new TestClock();

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "keyward-keyring-"));
    const opened = openDatabase(await detectRuntime(), dir);
    store = createSqliteStore(opened.db, () => opened.client.close());
  });

  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("the first open records a check value; the same key opens again", async () => {
    const key = newKey();
    expect(store.meta.get("master_key_check")).toBeUndefined();
    const first = await openKeyring(store, key, clock);
    const check = store.meta.get("master_key_check");
    expect(check).toBeString();
    expect(check).not.toContain("keyward master key check");
    const second = await openKeyring(store, new Uint8Array(key), clock);
    expect(store.meta.get("master_key_check")).toBe(check as string);
    // Both sealers are the same key: one opens what the other sealed.
    const sealed = await first.seal(PLAINTEXT, "provider_keys:x");
    expect(await second.open(sealed, "provider_keys:x")).toBe(PLAINTEXT);
  });

  test("a different master key is refused with a clear MasterKeyError", async () => {
    await openKeyring(store, newKey(), clock);
    const check = store.meta.get("master_key_check");
    let caught: unknown;
    try {
      await openKeyring(store, newKey(), clock);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(MasterKeyError);
    const message = (caught as Error).message;
    expect(message).toContain("master key does not match");
    expect(message).toContain("KEYWARD_MASTER_KEY");
    // Nothing was overwritten by the refused key.
    expect(store.meta.get("master_key_check")).toBe(check as string);
  });
});

describe("master key loading", () => {
  let dir: string;
  const keyA = newKey();
  const keyB = newKey();

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "keyward-master-"));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function thrown(fn: () => unknown): Error {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(MasterKeyError);
      return err as Error;
    }
    throw new Error("expected a MasterKeyError");
  }

  test("base64 encoding round trips", () => {
    expect(decodeMasterKey(encodeMasterKey(keyA), "test")).toEqual(keyA);
    expect(decodeMasterKey(`  ${encodeMasterKey(keyA)}\n`, "test")).toEqual(keyA);
  });

  test("the env key wins over the key file and the data dir", () => {
    const file = join(dir, "other.key");
    writeFileSync(file, encodeMasterKey(keyB));
    writeFileSync(join(dir, "master.key"), encodeMasterKey(keyB));
    const loaded = loadMasterKey({ masterKey: encodeMasterKey(keyA), masterKeyFile: file, dataDir: dir }, { createIfMissing: true });
    expect(loaded.origin).toBe("env");
    expect(loaded.bytes).toEqual(keyA);
    expect(loaded.generatedAt).toBeUndefined();
  });

  test("the key file wins over the data dir", () => {
    const file = join(dir, "credential");
    writeFileSync(file, `${encodeMasterKey(keyA)}\n`);
    writeFileSync(join(dir, "master.key"), encodeMasterKey(keyB));
    const loaded = loadMasterKey({ masterKeyFile: file, dataDir: dir }, { createIfMissing: false });
    expect(loaded.origin).toBe("file");
    expect(loaded.bytes).toEqual(keyA);
  });

  test("an existing <data-dir>/master.key is used", () => {
    writeFileSync(join(dir, "master.key"), encodeMasterKey(keyB));
    const loaded = loadMasterKey({ dataDir: dir }, { createIfMissing: false });
    expect(loaded.origin).toBe("data-dir");
    expect(loaded.bytes).toEqual(keyB);
    expect(loaded.generatedAt).toBeUndefined();
  });

  test("bad base64 gives a clear error naming the source", () => {
    for (const bad of ["not base64 at all!", "****", "A".repeat(45), "QQ=", "Q==="]) {
      const err = thrown(() => loadMasterKey({ masterKey: bad, dataDir: dir }, { createIfMissing: false }));
      expect(err.message).toContain("KEYWARD_MASTER_KEY");
      expect(err.message).toContain("not base64");
    }
  });

  test("a key of the wrong length gives a clear error", () => {
    const err = thrown(() => loadMasterKey({ masterKey: encodeMasterKey(new Uint8Array(16)), dataDir: dir }, { createIfMissing: false }));
    expect(err.message).toContain("16 bytes, 32 are required");
    const file = join(dir, "short.key");
    writeFileSync(file, encodeMasterKey(new Uint8Array(33)));
    const fileErr = thrown(() => loadMasterKey({ masterKeyFile: file, dataDir: dir }, { createIfMissing: false }));
    expect(fileErr.message).toContain(file);
    expect(fileErr.message).toContain("33 bytes");
  });

  test("an unreadable key file gives a clear error", () => {
    const file = join(dir, "missing.key");
    const err = thrown(() => loadMasterKey({ masterKeyFile: file, dataDir: dir }, { createIfMissing: true }));
    expect(err.message).toContain(`Cannot read master key file ${file}`);
    // It does not fall back to generating one.
    expect(existsSync(join(dir, "master.key"))).toBe(false);
  });

  test("without allowGenerate nothing is created", () => {
    const err = thrown(() => loadMasterKey({ dataDir: dir }, { createIfMissing: false }));
    expect(err.message).toContain(join(dir, "master.key"));
    expect(existsSync(join(dir, "master.key"))).toBe(false);
  });

  test("with allowGenerate, <data-dir>/master.key is written with mode 0600 and reused", () => {
    const path = join(dir, "master.key");
    const generated = loadMasterKey({ dataDir: dir }, { createIfMissing: true });
    expect(generated.origin).toBe("data-dir");
    expect(generated.generatedAt).toBe(path);
    expect(generated.bytes).toHaveLength(32);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(decodeMasterKey(readFileSync(path, "utf8"), path)).toEqual(generated.bytes);

    const again = loadMasterKey({ dataDir: dir }, { createIfMissing: true });
    expect(again.generatedAt).toBeUndefined();
    expect(again.bytes).toEqual(generated.bytes);
  });

  test("two generated keys differ", () => {
    const other = mkdtempSync(join(tmpdir(), "keyward-master-"));
    try {
      const a = loadMasterKey({ dataDir: dir }, { createIfMissing: true }).bytes;
      const b = loadMasterKey({ dataDir: other }, { createIfMissing: true }).bytes;
      expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
