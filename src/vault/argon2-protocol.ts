/** Messages between keyward and an argon2 worker: one verification, or one new hash, each way. */
export type ToArgon2Worker = { id: number; phc: string; secret: string } | { id: number; hash: true; secret: string };

export type FromArgon2Worker = { id: number; valid: boolean } | { id: number; phc: string };
