import { platform, setPriority } from "node:os";

/**
 * Lowers the calling thread's CPU priority (nice 10) for background work that
 * must never take a core from the thread serving requests: request-log
 * commits, argon2 verifications. Nice 10 still gives such a thread all the
 * CPU nobody else wants, so it only waits while requests are being served.
 *
 * Linux only: there `setpriority` changes the calling thread alone, elsewhere
 * it would renice the whole process. Where it is not allowed (a sandbox), the
 * thread simply keeps its priority.
 */
export function lowerThreadPriority(): void {
  if (platform() !== "linux") return;
  try {
    setPriority(10);
  } catch {
    // Not allowed here: normal priority.
  }
}
