/** Messages between a verifier and an argon2 worker: one verification each way. */
export interface ToArgon2Worker {
  id: number;
  phc: string;
  secret: string;
}

export interface FromArgon2Worker {
  id: number;
  valid: boolean;
}
