/**
 * Request-log rows made up in bulk and written straight into a data dir's
 * database with the writers' own statements (rows, rollups and hour ranges
 * together), for tests and the scale benchmark: millions of rows in minutes
 * rather than the days of traffic they stand for.
 */
import type { SqliteClient } from "../../src/runtime/types.ts";
import { prepareLogWrites, writeLogRows, type LogRowValues } from "../../src/db/request-log-sql.ts";

/** A small deterministic PRNG (mulberry32): the same seed, the same rows. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SeedShape {
  /** Rows to write. */
  rows: number;
  /** `at` spread over [from, to). */
  from: number;
  to: number;
  proxyKeyIds: readonly string[];
  /** The provider key of each proxy key, by index (a proxy key has exactly one). */
  providerKeyOf: (proxyKeyIndex: number) => string;
  models: readonly (string | null)[];
  /** Each key uses only this many of `models` (neighbours in the list, by the key's index); all of them when absent. */
  modelsPerKey?: number;
  seed?: number;
  /** Rows per transaction. */
  batch?: number;
}

/**
 * One made-up row: mostly 200s with tokens and cost, some upstream errors,
 * and some folded refusals (`count` > 1, an error code, no tokens). `at`
 * rises with `i` (as rows are written in time order), with jitter.
 */
export function seedRow(shape: SeedShape, i: number, random: () => number): LogRowValues {
  const span = shape.to - shape.from;
  const at = Math.min(shape.to - 1, Math.floor(shape.from + (span * i) / shape.rows + random() * 1_000));
  const k = Math.floor(random() * random() * shape.proxyKeyIds.length);
  const roll = random();
  const pick = Math.floor(random() * (shape.modelsPerKey ?? shape.models.length));
  const model = shape.models[(shape.modelsPerKey === undefined ? pick : k + pick) % shape.models.length] ?? null;
  const refused = roll < 0.02;
  const failed = !refused && roll < 0.05;
  const input = refused ? 0 : Math.floor(random() * 2_000);
  const output = refused ? 0 : Math.floor(random() * 800);
  return [
    at,
    `req-${i}`,
    shape.proxyKeyIds[k] ?? null,
    shape.providerKeyOf(k),
    "openai",
    model,
    "POST",
    "/chat/completions",
    refused ? 429 : failed ? 502 : 200,
    random() < 0.3 ? 1 : 0,
    input,
    output,
    refused ? 0 : Math.floor(input * random() * 0.5),
    refused ? 0 : input * 3 + output * 12,
    Math.floor(random() * 3_000),
    refused ? null : Math.floor(random() * 500),
    refused ? "rate_limit_exceeded" : failed ? "upstream_unreachable" : null,
    refused ? 1 + Math.floor(random() * 40) : 1,
    roll > 0.999 ? 17 : 0,
  ];
}

/** Writes the rows in transactions of `batch`; `onProgress` after each. */
export function seedLog(client: SqliteClient, shape: SeedShape, onProgress?: (written: number) => void): void {
  const random = prng(shape.seed ?? 1);
  const writes = prepareLogWrites(client);
  const batch = shape.batch ?? 5_000;
  for (let i = 0; i < shape.rows; i += batch) {
    const rows: LogRowValues[] = [];
    for (let j = i; j < Math.min(shape.rows, i + batch); j++) rows.push(seedRow(shape, j, random));
    client.transaction(() => writeLogRows(writes, rows)).immediate();
    onProgress?.(Math.min(shape.rows, i + batch));
  }
}

/**
 * `count` proxy keys on one provider key, written in one go as a server
 * running for half a year would hold them: created over that half year,
 * three in ten expired (an hour after creation, as CI keys do), one in
 * twenty revoked, and the secrets of those gone for more than 30 days
 * already purged by the key sweeper. The secrets are made up (nobody can use
 * them).
 */
export function seedProxyKeys(client: SqliteClient, options: { count: number; providerKeyId: string; now: number; prefix?: string }): string[] {
  const random = prng(99);
  const ids: string[] = [];
  const insert = client.prepare(
    "INSERT INTO proxy_keys (id, name, provider_key_id, secret_hash, key_hint, expires_at, revoked_at, created_by, created_at, updated_at, period_started_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'bench', ?, ?, 0)",
  );
  const phc = `$argon2id$v=19$m=19456,t=2,p=1$${"c2VlZGVk".padEnd(22, "A")}$${"A".repeat(43)}`;
  client
    .transaction(() => {
      for (let i = 0; i < options.count; i++) {
        const id = `${options.prefix ?? "s"}${String(i).padStart(11, "0")}`.slice(-12);
        const created = Math.floor(options.now - random() * 180 * 86_400_000);
        const roll = random();
        const expires = roll < 0.3 ? created + 3_600_000 : roll < 0.6 ? options.now + 30 * 86_400_000 : null;
        const revoked = random() < 0.05 ? created + 60_000 : null;
        const gone = Math.min(expires ?? Infinity, revoked ?? Infinity);
        insert.run(id, `seeded-${i}`, options.providerKeyId, gone < options.now - 30 * 86_400_000 ? "" : phc, "kwp_…seed", expires, revoked, created, created);
        ids.push(id);
      }
    })
    .immediate();
  return ids;
}
