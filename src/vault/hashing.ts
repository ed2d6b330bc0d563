import { hash, hashSync, verify, verifySync } from "@node-rs/argon2";

/**
 * OWASP's argon2id baseline. Spelled out rather than relying on the library's
 * defaults so that a dependency upgrade cannot silently weaken stored hashes.
 * `algorithm: 2` is Argon2id (the package exports it as a const enum, which
 * isolated modules cannot import).
 */
const ARGON2ID = { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

/** Returns a `$argon2id$…` PHC string. */
export function hashSecret(secret: string): Promise<string> {
  return hash(secret, ARGON2ID);
}

/** `hashSecret` on the calling thread, for the argon2 worker (which is that thread). */
export function hashSecretSync(secret: string): string {
  return hashSync(secret, ARGON2ID);
}

/**
 * What a proxy key's `secret_hash` becomes once the sweeper purges it, long
 * after expiry or revocation: the row (and its usage) stays, the key can never
 * verify again.
 */
export const PURGED_SECRET_HASH = "";

/** A secret as presented, and the stored hash it must match. */
export interface SecretAttempt {
  /** The stored argon2id hash, a `$argon2id$…` PHC string. */
  phc: string;
  secret: string;
}

/** Never throws for a malformed hash: a corrupt row must read as "wrong secret". */
export async function verifySecret({ phc, secret }: SecretAttempt): Promise<boolean> {
  if (phc === PURGED_SECRET_HASH) return false;
  try {
    return await verify(phc, secret);
  } catch {
    return false;
  }
}

/** `verifySecret` on the calling thread, for the argon2 worker (which is that thread). */
export function verifySecretSync({ phc, secret }: SecretAttempt): boolean {
  if (phc === PURGED_SECRET_HASH) return false;
  try {
    return verifySync(phc, secret);
  } catch {
    return false;
  }
}
