import { createHash } from "node:crypto";

interface BunHasher {
  CryptoHasher: { hash(algorithm: "sha256", input: string): Buffer };
}

const bun = (globalThis as { Bun?: BunHasher }).Bun;

/**
 * SHA-256 of a string, used on every proxied request (the verified-secret
 * cache). Bun's native hasher where there is one: node:crypto's wrapper costs
 * about three times as much warm, and six times as much on the cold cache of
 * a request that follows an idle pause (measured: 34 µs against 5 µs).
 */
export const sha256: (text: string) => Buffer = bun ? (text) => bun.CryptoHasher.hash("sha256", text) : (text) => createHash("sha256").update(text).digest();
