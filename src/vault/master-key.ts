import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface MasterKeySource {
  /** Base64 of 32 bytes, from `KEYWARD_MASTER_KEY`. */
  masterKey?: string;
  /** Path to a file holding the base64 key, from `KEYWARD_MASTER_KEY_FILE` (systemd credentials). */
  masterKeyFile?: string;
  dataDir: string;
}

export interface LoadedMasterKey {
  bytes: Uint8Array;
  /** Set when this call created `<data-dir>/master.key`, so the caller can warn about backups. */
  generatedAt?: string;
  origin: "env" | "file" | "data-dir";
}

export class MasterKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MasterKeyError";
  }
}

export function decodeMasterKey(text: string, origin: string): Uint8Array {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)) {
    throw new MasterKeyError(`Cannot use master key from ${origin}: it is not base64`);
  }
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.from(atob(trimmed), (c) => c.charCodeAt(0));
  } catch {
    // atob refuses a length that no base64 encoder produces (e.g. 45 characters).
    throw new MasterKeyError(`Cannot use master key from ${origin}: it is not base64`);
  }
  if (bytes.byteLength !== 32) {
    throw new MasterKeyError(`Cannot use master key from ${origin}: it decodes to ${bytes.byteLength} bytes, 32 are required`);
  }
  return bytes;
}

export function encodeMasterKey(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

export function generateMasterKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(32));
}

/**
 * Resolves the master key: env, then file, then `<data-dir>/master.key`,
 * generating that file (mode 0600) only with `createIfMissing` (the server),
 * since a host-side command must never invent a key the server does not know.
 */
export function loadMasterKey(source: MasterKeySource, options: { createIfMissing: boolean }): LoadedMasterKey {
  if (source.masterKey) {
    return { bytes: decodeMasterKey(source.masterKey, "KEYWARD_MASTER_KEY"), origin: "env" };
  }
  if (source.masterKeyFile) {
    let text: string;
    try {
      text = readFileSync(source.masterKeyFile, "utf8");
    } catch (err) {
      throw new MasterKeyError(`Cannot read master key file ${source.masterKeyFile}: ${(err as Error).message}`);
    }
    return { bytes: decodeMasterKey(text, source.masterKeyFile), origin: "file" };
  }
  const path = join(source.dataDir, "master.key");
  if (existsSync(path)) {
    return { bytes: decodeMasterKey(readFileSync(path, "utf8"), path), origin: "data-dir" };
  }
  if (!options.createIfMissing) {
    throw new MasterKeyError(`Cannot find master key: set KEYWARD_MASTER_KEY, KEYWARD_MASTER_KEY_FILE or start the server once to create ${path}`);
  }
  const bytes = generateMasterKey();
  // `wx` refuses to overwrite a key another process wrote in the meantime.
  writeFileSync(path, `${encodeMasterKey(bytes)}\n`, { mode: 0o600, flag: "wx" });
  chmodSync(path, 0o600);
  return { bytes, origin: "data-dir", generatedAt: path };
}
