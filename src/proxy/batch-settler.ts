import type { BatchChargeRow, CheckedBatchFileRow } from "../db/store.ts";
import type { LimitGate } from "../limits/gate.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { UpstreamFetch } from "../upstream/client.ts";
import type { BatchCharges } from "../usage/batch-charges.ts";
import { objectAt, outputCost, type OutputAnswer } from "./batch-output.ts";
import { attachPinnedAccount, attachProviderCredential } from "./credentials-out.ts";
import type { CachedProviderKey, KeyCache } from "./key-cache.ts";

/** Where a provider keeps a batch and what it cost, and how its output lines report usage. */
interface BatchApi {
  path(batchId: string): string;
  /** The batch runs no more requests: what it cost is in its outputs. */
  ended(batch: Json): boolean;
  /** Paths of the files holding its requests' answers. */
  outputs(batch: Json, batchId: string): string[];
  /** The object in an output line whose `usage` is the request's. */
  answerOf: OutputAnswer;
  /** Headers the provider wants besides its key. */
  headers: Record<string, string>;
}

/** OpenAI (and its compatibles): a batch ends completed, failed, expired or cancelled; its output and error files hold `response.body`. */
const OPENAI_BATCHES: BatchApi = {
  path: (id) => `/batches/${encodeURIComponent(id)}`,
  ended: (batch) => typeof batch.status === "string" && ["completed", "failed", "expired", "cancelled"].includes(batch.status),
  outputs: (batch) =>
    [batch.output_file_id, batch.error_file_id].flatMap((id) => (typeof id === "string" && id !== "" ? [`/files/${encodeURIComponent(id)}/content`] : [])),
  answerOf: (line) => objectAt(objectAt(line, "response"), "body"),
  headers: {},
};

/** Anthropic: a message batch ends `ended`; its results hold `result.message` for each request that succeeded. */
const ANTHROPIC_BATCHES: BatchApi = {
  path: (id) => `/messages/batches/${encodeURIComponent(id)}`,
  ended: (batch) => batch.processing_status === "ended",
  outputs: (_batch, id) => [`/messages/batches/${encodeURIComponent(id)}/results`],
  answerOf: (line) => objectAt(objectAt(line, "result"), "message"),
  headers: { "anthropic-version": "2023-06-01" },
};

const apiOf = (providerKey: CachedProviderKey): BatchApi => (providerKey.adapter.id === "anthropic" ? ANTHROPIC_BATCHES : OPENAI_BATCHES);
/** Open charges looked at per round, and batches asked about at most: a round stays short whatever piles up. */
const ROUND_SCAN = 500;
const ROUND_ASKS = 20;
/** How long a client reading an ended batch waits for its settling: usually one small output file. */
const READ_WAIT_MS = 5_000;
/** A batch whose output could not be read is asked about again after this long (ms), doubling up to an hour. */
const FIRST_RETRY_MS = 60_000;
const MAX_RETRY_MS = 3_600_000;

export interface BatchSettlerDeps {
  charges: BatchCharges;
  cache: KeyCache;
  gate: LimitGate;
  fetch: UpstreamFetch;
  logger: Logger;
  upstreamTimeoutMs: number;
  /** How often open charges are checked with the provider; 0 never. */
  intervalMs: number;
  /** With several instances, only the leader asks: any instance may still settle a batch its client reads. */
  leading?: () => boolean;
}

type Json = Record<string, unknown>;

/**
 * Settles batches' charges when they end: when a client reads a batch that
 * ended (`GET /v1/batches/{id}`, `GET /v1/messages/batches/{id}`), and every few minutes for batches nobody
 * reads, asking the provider with the provider key. The output is read and
 * priced, and the charge settled once; an output that cannot be read keeps the
 * worst case charged and is tried again later.
 */
export class BatchSettler {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private round: Promise<void> | undefined;
  private stopped = false;
  private readonly settling = new Map<string, Promise<boolean>>();
  private readonly retry = new Map<string, { at: number; waitMs: number }>();

  constructor(private readonly deps: BatchSettlerDeps) {}

  checkedFile(providerKeyId: string, fileId: string): CheckedBatchFileRow | undefined {
    return this.deps.charges.checkedFile(providerKeyId, fileId);
  }

  /**
   * After a client read a batch: settles its charge if it ended, waiting at
   * most `READ_WAIT_MS` (a large output goes on settling after the answer).
   * Never throws; a failure is logged and left to the next round.
   */
  async afterRead(providerKey: CachedProviderKey, bytes: Uint8Array): Promise<void> {
    let batch: unknown;
    try {
      batch = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      return;
    }
    if (typeof batch !== "object" || batch === null || Array.isArray(batch)) return;
    const settling = this.settle(providerKey, batch as Json).catch((err: unknown) => {
      this.failed(providerKey.row.id, (batch as Json).id, err);
      return false;
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, READ_WAIT_MS);
    });
    await Promise.race([settling, waited]);
    clearTimeout(timer);
  }

  start(): void {
    if (this.deps.intervalMs > 0 && !this.stopped) this.timer ??= setTimeout(() => this.tick(), this.deps.intervalMs);
  }

  /** Stops the rounds and waits for whatever is being settled. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.round;
    await Promise.allSettled(this.settling.values());
  }

  private tick(): void {
    this.timer = undefined;
    this.round = this.checkOpen()
      .catch((err: unknown) => this.deps.logger.error("Cannot check open batch charges", { error: message(err) }))
      .finally(() => {
        this.round = undefined;
        this.start();
      });
  }

  /** One round: open charges, oldest first, each batch asked about unless it waits for a retry. */
  private async checkOpen(): Promise<void> {
    if (this.deps.leading && !this.deps.leading()) return;
    let asked = 0;
    for (const charge of this.deps.charges.open(ROUND_SCAN)) {
      if (asked >= ROUND_ASKS || this.stopped) return;
      const wait = this.retry.get(keyOf(charge.providerKeyId, charge.batchId));
      if (wait && wait.at > performance.now()) continue;
      const providerKey = this.deps.cache.providerKey(charge.providerKeyId);
      if (!providerKey) continue;
      asked++;
      try {
        const batch = await this.get(providerKey, apiOf(providerKey).path(charge.batchId));
        const settled = await this.settle(providerKey, await jsonObject(batch));
        // Still running: the next round asks about others first, so many open batches are all asked in turn.
        if (!settled) this.retry.set(keyOf(charge.providerKeyId, charge.batchId), { at: performance.now() + this.deps.intervalMs * 1.5, waitMs: 0 });
      } catch (err) {
        this.failed(charge.providerKeyId, charge.batchId, err);
      }
    }
  }

  /** Settles the charge of a batch that ended, one settling per batch at a time; false when it has not ended (or has no open charge). */
  private settle(providerKey: CachedProviderKey, batch: Json): Promise<boolean> {
    const id = batch.id;
    if (typeof id !== "string" || !apiOf(providerKey).ended(batch)) return Promise.resolve(false);
    const charge = this.deps.charges.charge(providerKey.row.id, id);
    if (!charge || charge.settledAt !== null) return Promise.resolve(false);
    const key = keyOf(charge.providerKeyId, id);
    const running = this.settling.get(key);
    if (running) return running;
    const settling = this.settleCharge(providerKey, charge, batch).finally(() => this.settling.delete(key));
    this.settling.set(key, settling);
    return settling;
  }

  private async settleCharge(providerKey: CachedProviderKey, charge: BatchChargeRow, batch: Json): Promise<boolean> {
    const price = this.deps.gate.priceOf(charge.model)?.price;
    let cost = 0;
    if (!price) {
      // The model lost its price since: the cost cannot be told, and the worst case stays charged.
      cost = charge.chargedMicros;
    } else {
      const api = apiOf(providerKey);
      for (const path of api.outputs(batch, charge.batchId)) {
        const content = await this.get(providerKey, path);
        if (content.body) cost += await outputCost(content.body, { price, pricePercent: charge.pricePercent, answerOf: api.answerOf });
      }
    }
    await this.deps.charges.settle(charge, cost);
    this.retry.delete(keyOf(charge.providerKeyId, charge.batchId));
    return true;
  }

  /** A GET to the provider with its key; anything but a 2xx answer is a failure. */
  private async get(providerKey: CachedProviderKey, path: string): Promise<Response> {
    const headers: Record<string, string> = { accept: "application/json", ...apiOf(providerKey).headers };
    attachPinnedAccount(headers, providerKey.row);
    attachProviderCredential(headers, providerKey.adapter.auth, providerKey.plain ?? (await this.deps.cache.providerSecret(providerKey)));
    const response = await this.deps.fetch(`${providerKey.row.baseUrl}${path}`, {
      method: "GET",
      headers,
      redirect: "manual",
      signal: AbortSignal.timeout(this.deps.upstreamTimeoutMs),
    });
    if (response.status < 200 || response.status >= 300) {
      await response.body?.cancel();
      throw new Error(`the provider answered ${response.status} to GET ${path}`);
    }
    return response;
  }

  private failed(providerKeyId: string, batchId: unknown, err: unknown): void {
    const key = keyOf(providerKeyId, String(batchId));
    const waitMs = Math.min(MAX_RETRY_MS, Math.max(FIRST_RETRY_MS, (this.retry.get(key)?.waitMs ?? 0) * 2));
    this.retry.set(key, { at: performance.now() + waitMs, waitMs });
    this.deps.logger.warn("Cannot settle a batch's charge yet: its worst case stays charged", {
      provider_key_id: providerKeyId,
      batch_id: String(batchId).slice(0, 128),
      error: message(err),
    });
  }
}

async function jsonObject(response: Response): Promise<Json> {
  const value: unknown = await response.json();
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("the provider's batch is not a JSON object");
  return value as Json;
}

const keyOf = (providerKeyId: string, batchId: string) => `${providerKeyId}/${batchId}`;
const message = (err: unknown) => (err instanceof Error ? err.message : String(err));
