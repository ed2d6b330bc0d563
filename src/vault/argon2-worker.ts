/**
 * Worker entry: verifies argon2id hashes, and hashes new secrets, one at a time, at low CPU priority.
 * Listed as an entrypoint of the compiled binary; see Argon2Workers for the
 * other side.
 */
import { lowerThreadPriority } from "../runtime/thread-priority.ts";
import type { FromArgon2Worker, ToArgon2Worker } from "./argon2-protocol.ts";
import { hashSecretSync, verifySecretSync } from "./hashing.ts";

/** The worker global, typed narrowly: keyward type-checks against Bun's DOM-less globals. */
const port = globalThis as unknown as {
  onmessage: ((event: MessageEvent<ToArgon2Worker>) => void) | null;
  postMessage(message: FromArgon2Worker): void;
};

lowerThreadPriority();

port.onmessage = (event) => {
  const job = event.data;
  port.postMessage("hash" in job ? { id: job.id, phc: hashSecretSync(job.secret) } : { id: job.id, valid: verifySecretSync(job) });
};
