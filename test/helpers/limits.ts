/**
 * Shared pieces for the limits suites (test/integration/limits-*): reading
 * a proxy key's money fields, walking the request log, waiting for in-flight
 * requests to settle, request bodies whose byte length is known, and, for the
 * restart suites, the data dir's database as committed and a logger that keeps warnings.
 */
import { join } from "node:path";
import { detectRuntime } from "../../src/runtime/index.ts";
import type { Logger } from "../../src/telemetry/logger.ts";
import type { TestApp } from "./app.ts";

/** USD from the API back to integer micro-dollars (the unit keyward counts in). */
export const micros = (usd: number): number => Math.round(usd * 1_000_000);

export interface KeyMoney {
  budget_usd: number | null;
  budget_period: string;
  spend_usd: number;
  reserved_usd: number;
  budget_remaining_usd: number | null;
  period_started_at: string;
  rpm: number | null;
  tpm: number | null;
  max_concurrency: number | null;
  allowed_models: string[] | null;
}

export async function getKey(t: TestApp, id: string): Promise<KeyMoney> {
  const res = await t.call("GET", `/api/proxy-keys/${id}`);
  if (res.status !== 200) throw new Error(`cannot get proxy key ${id}: ${res.status} ${res.text}`);
  return res.json as KeyMoney;
}

export interface LogEntry {
  id: number;
  at: string;
  request_id: string;
  proxy_key_id: string | null;
  provider_key_id: string | null;
  provider: string | null;
  model: string | null;
  path: string;
  status: number;
  streamed: boolean;
  input_tokens: number;
  output_tokens: number;
  cached_tokens: number;
  cost_usd: number;
  error_code: string | null;
  /** Requests the row stands for: refusals are folded by key, code and minute. */
  count: number;
  overrun_usd: number;
}

/** Every log entry matching `query` (e.g. `proxy_key_id=…`), following `next_cursor`; newest first. */
export async function allLogs(t: TestApp, query = "", limit = 200): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 1000; page++) {
    const params = new URLSearchParams(query);
    params.set("limit", String(limit));
    if (cursor !== null) params.set("cursor", cursor);
    const res = await t.call("GET", `/api/logs?${params}`);
    if (res.status !== 200) throw new Error(`cannot list logs: ${res.status} ${res.text}`);
    out.push(...(res.json.data as LogEntry[]));
    cursor = res.json.next_cursor;
    if (cursor === null) return out;
  }
  throw new Error("log pagination does not end");
}

/**
 * Waits until no request holds a concurrency slot or a stream: a client can
 * read a stream's last event a moment before keyward sees the upstream end
 * and settles. Polls; fails after a generous deadline rather than timing anything.
 */
export async function waitSettled(t: TestApp, deadlineMs = 10_000): Promise<void> {
  const until = performance.now() + deadlineMs;
  while (t.services.gate.inFlightCount() > 0 || t.services.metrics.activeStreams > 0) {
    if (performance.now() > until) {
      throw new Error(`requests still in flight: ${t.services.gate.inFlightCount()}, streams ${t.services.metrics.activeStreams}`);
    }
    await Bun.sleep(5);
  }
}

/** Polls until `check` holds (for effects that land after a response, such as an abort being logged). */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, deadlineMs = 10_000): Promise<void> {
  const until = performance.now() + deadlineMs;
  while (!(await check())) {
    if (performance.now() > until) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

/** A chat-completions body with a prompt of `chars` ASCII characters (so its byte length is known). */
export function chatJson(model: string, chars: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model, messages: [{ role: "user", content: "x".repeat(chars) }], ...extra };
}

export const byteLength = (text: string): number => new TextEncoder().encode(text).byteLength;

/** RequestInit whose headers are a plain object, so they can be spread into another. */
type PlainHeadersInit = Omit<RequestInit, "headers"> & { headers?: Record<string, string> };

/** POSTs JSON to keyward's `/v1` with a proxy key, over real HTTP. */
export function postV1(baseUrl: string, proxyKey: string, path: string, body: unknown, init: PlainHeadersInit = {}): Promise<Response> {
  return fetch(`${baseUrl}${path}`, {
    method: "POST",
    ...init,
    headers: { authorization: `Bearer ${proxyKey}`, "content-type": "application/json", ...init.headers },
    body: JSON.stringify(body),
  });
}

/** Reads the data dir's database from a connection of its own: what is committed, whatever the app holds in memory. */
export async function onFile(dataDir: string, sql: string): Promise<unknown[][]> {
  const client = (await detectRuntime()).openSqlite(join(dataDir, "keyward.db"));
  try {
    return client.prepare(sql).values();
  } finally {
    client.close();
  }
}

/** A logger that keeps its warnings (message and fields) in `lines`, for tests that check what a restart warned about. */
export function warnings(): { logger: Logger; lines: Array<{ msg: string } & Record<string, unknown>> } {
  const lines: Array<{ msg: string } & Record<string, unknown>> = [];
  return { lines, logger: { debug() {}, info() {}, error() {}, warn: (msg, fields) => void lines.push({ msg, ...fields }) } };
}
