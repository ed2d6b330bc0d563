/**
 * Worker entry: verifies argon2id hashes, one at a time, at low CPU priority.
 * Listed as an entrypoint of the compiled binary; see Argon2Workers for the
 * other side.
 */
import { lowerThreadPriority } from "../runtime/thread-priority.ts";
import type { FromArgon2Worker, ToArgon2Worker } from "./argon2-protocol.ts";
import { verifySecretSync } from "./hashing.ts";

/** The worker global, typed narrowly: keyward type-checks against Bun's DOM-less globals. */
const port = globalThis as unknown as {
  onmessage: ((event: MessageEvent<ToArgon2Worker>) => void) | null;
  postMessage(message: FromArgon2Worker): void;
};

lowerThreadPriority();

port.onmessage = (event) => {
  port.postMessage({ id: event.data.id, valid: verifySecretSync(event.data) });
};
