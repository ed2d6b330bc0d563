import { workerUrl } from "../runtime/worker-url.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { FromArgon2Worker, ToArgon2Worker } from "./argon2-protocol.ts";
import { hashSecret, verifySecret, type SecretAttempt } from "./hashing.ts";

interface Job {
  message: ToArgon2Worker;
  resolve: (answer: FromArgon2Worker) => void;
}

/** A job's answer from the native threads, for when no worker can take it. */
function onNativeThreads(message: ToArgon2Worker): Promise<FromArgon2Worker> {
  if ("hash" in message) return hashSecret(message.secret).then((phc) => ({ id: message.id, phc }));
  return verifySecret(message).then((valid) => ({ id: message.id, valid }));
}

interface Slot {
  worker: Worker;
  job?: Job;
}

function startArgon2Worker(): Worker {
  // An extra entrypoint of the compiled binary (package.json "build"); a module file from source.
  return new Worker(workerUrl("vault/argon2-worker"), { type: "module" });
}

/**
 * argon2id verifications, and the hashes of new keys' secrets, on worker
 * threads of keyward's own, at nice 10 on Linux (`lowerThreadPriority`).
 *
 * Why: one verification is 20 to 40 ms of CPU. @node-rs/argon2's own async
 * verify runs on the runtime's native threads at normal priority, so first
 * requests of new keys, or a flood of wrong secrets for ids not verified yet,
 * took both cores of a small VM from the thread serving requests (measured:
 * `/healthz` stalled up to 21 ms while ten verifications ran). At nice 10 the
 * scheduler gives argon2 what the serving thread leaves: verified traffic
 * keeps its latency, and a new key waits a little longer only while the
 * machine is busy.
 *
 * Workers start as jobs need them: the first with the first verification or
 * hash (a server whose keys are all verified never starts one), the second
 * only when two jobs run at once. If one cannot start or dies, its job and all
 * later ones run on the native threads as before, after one warning: a
 * verification is never lost.
 */
export class Argon2Workers {
  private slots: Slot[] | undefined;
  private readonly queue: Job[] = [];
  private nextId = 1;
  /** From here on verifications run on the native threads (a worker failed, or the pool is closed). */
  private fallback = false;
  /** Verifications a worker answered; exposed for tests, like the verifier's `argon2Runs`. */
  workerRuns = 0;
  /** New hashes a worker made (minting). */
  workerHashes = 0;

  constructor(
    private readonly logger: Logger,
    private readonly size = 2,
    private readonly start: () => Worker = startArgon2Worker,
  ) {}

  /** Never rejects: a malformed hash or a failed worker still reads as an answer. */
  verify(attempt: SecretAttempt): Promise<boolean> {
    if (this.fallback) return verifySecret(attempt);
    return this.run({ id: this.nextId++, phc: attempt.phc, secret: attempt.secret }).then((answer) => "valid" in answer && answer.valid);
  }

  /**
   * A new secret's argon2id hash, for minting: a batch of 1,000 keys is a
   * thousand hashes of CPU, which the runtime's own threads took from the
   * serving thread at normal priority.
   */
  hash(secret: string): Promise<string> {
    if (this.fallback) return hashSecret(secret);
    return this.run({ id: this.nextId++, hash: true, secret }).then((answer) => {
      if (!("phc" in answer)) throw new Error("argon2 worker answered a hash job with a verification");
      return answer.phc;
    });
  }

  private run(message: ToArgon2Worker): Promise<FromArgon2Worker> {
    return new Promise((resolve) => {
      this.queue.push({ message, resolve });
      this.dispatch();
    });
  }

  /** Stops the workers; anything still pending, and later calls, verify on the native threads. */
  close(): void {
    this.fallback = true;
    this.release();
  }

  private dispatch(): void {
    while (!this.fallback) {
      const slots = (this.slots ??= []);
      const next = this.nextIndex(slots);
      if (next < 0) return;
      // A worker is started only when a job can run and every running one is busy: a server that mints or
      // verifies one at a time never holds a second worker's memory.
      const slot = slots.find((candidate) => !candidate.job) ?? (slots.length < this.size ? this.startOne(slots) : undefined);
      if (!slot) return;
      const [job] = this.queue.splice(next, 1) as [Job];
      slot.job = job;
      slot.worker.postMessage(job.message);
    }
  }

  /**
   * Where in the queue the oldest job that may start now is (-1: none). Hashes for minting run one at a time,
   * so a batch of a thousand keys leaves every other core to the serving thread and its clients (argon2 fills
   * a core's caches and the memory bus, which no scheduling priority keeps from slowing the requests on the
   * other core); a verification a proxied request waits for may pass queued hashes and take the other worker.
   */
  private nextIndex(slots: Slot[]): number {
    const hashing = slots.some((slot) => slot.job && "hash" in slot.job.message);
    return this.queue.findIndex((job) => !(hashing && "hash" in job.message));
  }

  private startOne(slots: Slot[]): Slot | undefined {
    try {
      const slot: Slot = { worker: this.start() };
      slot.worker.onmessage = (event: MessageEvent<FromArgon2Worker>) => this.answered(slot, event.data);
      slot.worker.onerror = (event) => {
        // Handled here: an error in a worker would otherwise end the whole process.
        event.preventDefault();
        this.fail(`argon2 worker failed: ${event.message}`);
      };
      // Idle workers must not keep a process alive (Bun; Deno's Worker has no unref).
      (slot.worker as Worker & { unref?: () => void }).unref?.();
      slots.push(slot);
      return slot;
    } catch (err) {
      this.fail(`cannot start an argon2 worker: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    }
  }

  private answered(slot: Slot, message: FromArgon2Worker): void {
    const job = slot.job;
    if (!job || job.message.id !== message.id) return;
    slot.job = undefined;
    if ("phc" in message) this.workerHashes++;
    else this.workerRuns++;
    job.resolve(message);
    this.dispatch();
  }

  private fail(reason: string): void {
    if (this.fallback) return;
    this.logger.warn("argon2 verifications move to the runtime's threads at normal priority", { reason });
    this.fallback = true;
    this.release();
  }

  /** Terminates the workers and hands every unanswered job to the native threads. */
  private release(): void {
    const pending = [...(this.slots ?? []).flatMap((slot) => (slot.job ? [slot.job] : [])), ...this.queue.splice(0)];
    for (const slot of this.slots ?? []) slot.worker.terminate();
    this.slots = undefined;
    for (const job of pending) void onNativeThreads(job.message).then(job.resolve);
  }
}
