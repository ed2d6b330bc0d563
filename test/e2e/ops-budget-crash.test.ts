/**
 * kill -9 at the budget's edge never reopens spent budget. The compiled
 * binary serves races of concurrent requests on a small budget and is
 * SIGKILLed (supervisor and serving child, so nothing flushes) at random
 * moments, round after round, then restarted on the same data dir. Spend
 * reaches the file in batches, so without the budget ceilings a restart would
 * forget the spend of the last moments and of every request in flight, and
 * the next round would spend it again. At the end, what the provider billed
 * for every request it answered or started answering stays within the
 * budget, and the spend keyward kept is never below it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { usdToMicros, tokenCost } from "../../src/limits/money.ts";
import { BUILTIN_PRICES } from "../../src/limits/prices-builtin.ts";
import type { AdminApi } from "../helpers/admin-api.ts";
import { chatJson } from "../helpers/limits.ts";
import { startMockProvider, type MockProvider } from "../helpers/mock-provider.ts";
import { jsonLines, killServer, Leftovers, opsBinary, queryFile, startServe, type OpsBinary, type StartedServer } from "../helpers/ops.ts";

const left = new Leftovers();
let binary: OpsBinary;
let mock: MockProvider;

// 200 in, 100 out of gpt-4o-mini: 30 + 60 = 90 µ$ billed per request. A ~1,060-byte body with
// max_tokens 100 reserves about 226 µ$, so the budget fits 80 requests. A crash burns the slice
// granted and not spent (up to 8 reservations' worth), so it lasts a few rounds of kills.
const USAGE = { input: 200, output: 100 };
const BUDGET_USD = 0.0072;
const ROUNDS = 6;
const CONCURRENCY = 4;

beforeAll(async () => {
  binary = await opsBinary(left);
  // Each answer takes 15 ms or more (streams longer), so a race spends the budget over a few hundred
  // milliseconds and a kill finds requests in flight: the mock bills those in full all the same.
  mock = await startMockProvider({ usage: USAGE, headersDelayMs: 15, chunkDelayMs: 3 });
});

afterAll(async () => {
  await left.cleanupAll();
  await mock.stop();
});

/** What the mock billed for every chat completion it answered or started answering, at gpt-4o-mini's built-in price. */
function billedMicros(): { requests: number; micros: number } {
  const price = BUILTIN_PRICES["gpt-4o-mini"];
  if (!price) throw new Error("gpt-4o-mini has no built-in price");
  const bills = mock.billed().filter((b) => b.path === "/v1/chat/completions");
  const micros = bills.reduce((sum, b) => sum + tokenCost(b.input, usdToMicros(price.input)) + tokenCost(b.output, usdToMicros(price.output)), 0);
  return { requests: bills.length, micros };
}

/** A provider key on the mock and a proxy key with the budget on it. */
async function budgetedKey(api: AdminApi): Promise<{ id: string; key: string }> {
  const provider = await api.call<{ id: string }>("POST", "/api/provider-keys", {
    name: "crash",
    provider: "openai",
    key: "sk-crash-test-0123456789",
    base_url: mock.baseUrl,
  });
  if (provider.status !== 201) throw new Error(`cannot create provider key: ${provider.status} ${provider.text}`);
  const proxy = await api.call<{ id: string; key: string }>("POST", "/api/proxy-keys", {
    name: "crash",
    provider_key_id: provider.body.id,
    budget_usd: BUDGET_USD,
  });
  if (proxy.status !== 201) throw new Error(`cannot create proxy key: ${proxy.status} ${proxy.text}`);
  return proxy.body;
}

interface Race {
  /** Resolves when every loop has ended: the server died, or `stop()` was called. */
  done: Promise<void>;
  stop(): void;
  /** Requests answered 200 so far. */
  answered: number;
  /** Set at the first refusal for the budget: the race reached the edge. */
  edge: boolean;
}

/** `CONCURRENCY` loops sending chat completions (every third one streamed) until stopped or the server is gone. */
function race(url: string, key: string): Race {
  let stopped = false;
  const state: Race = { done: Promise.resolve(), stop: () => void (stopped = true), answered: 0, edge: false };
  const loop = async (worker: number) => {
    for (let i = 0; !stopped; i++) {
      try {
        const response = await fetch(`${url}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body: JSON.stringify(chatJson("gpt-4o-mini", 1_000, { max_tokens: 100, ...((worker + i) % 3 === 0 ? { stream: true } : {}) })),
        });
        await response.text();
        if (response.status === 200) state.answered++;
        if (response.status === 429) {
          state.edge = true;
          // Refused at the edge: reservations in flight may settle below their worst case and make room again.
          await Bun.sleep(5);
        }
      } catch {
        return; // killed under this request
      }
    }
  };
  state.done = Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => loop(w))).then(() => {});
  return state;
}

/** Until the race has `answered` requests answered or reached the edge (at most `ms`). */
async function until(running: Race, answered: number, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  while (running.answered < answered && !running.edge && performance.now() < deadline) await Bun.sleep(1);
}

const spendOnFile = async (dbPath: string, id: string) => Number((await queryFile(dbPath, `SELECT spend_micros FROM proxy_keys WHERE id = '${id}'`))[0]?.[0]);

test("SIGKILL at random moments of races at the budget's edge: the provider never bills past the budget", async () => {
  const dataDir = join(left.dir(), "data");
  const dbPath = join(dataDir, "keyward.db");
  let live: StartedServer = await startServe(left, binary, dataDir);
  const token = live.token;
  const key = await budgetedKey(live.api);
  const budget = usdToMicros(BUDGET_USD);
  const kills: string[] = [];
  let burnt = 0;

  for (let round = 0; round < ROUNDS; round++) {
    const running = race(live.server.url, key.key);
    // The kill lands a few answers into the race (or at its edge) plus up to 40 ms: within the
    // 200 ms flush interval of the spend it made, with requests in flight.
    await until(running, 1 + Math.floor(Math.random() * 8), 1_000);
    await Bun.sleep(Math.random() * 40);
    const onFile = await spendOnFile(dbPath, key.id);
    await killServer(live.server, dataDir);
    await running.done;
    kills.push(`${running.answered} answered${running.edge ? " (edge)" : ""}, ${onFile} µ$ on file at the kill`);

    live = await startServe(left, binary, dataDir, { token });
    if (jsonLines(live.server.stderr()).some((line) => line.msg === "Took unclosed budget slices as spent after an unclean stop")) burnt++;
    const spend = await spendOnFile(dbPath, key.id);
    // Whatever was billed so far, the restarted server starts at least from there.
    expect(spend, `round ${round}: spend after restart`).toBeGreaterThanOrEqual(billedMicros().micros);
  }

  // A last race on the restarted server to the edge, then a clean stop.
  const last = race(live.server.url, key.key);
  await until(last, Number.POSITIVE_INFINITY, 2_000);
  await Bun.sleep(50);
  last.stop();
  await last.done;
  expect(await live.server.stop("SIGTERM")).toBe(0);

  const billed = billedMicros();
  const spend = await spendOnFile(dbPath, key.id);
  console.log(
    `[ops] budget under kill -9: ${ROUNDS} kills (${kills.join("; ")}); ${burnt} restarts took open ceilings as spent; ` +
      `the mock billed ${billed.requests} requests, ${billed.micros} µ$ of a ${budget} µ$ budget; keyward's spend ${spend} µ$`,
  );
  expect(billed.micros).toBeLessThanOrEqual(budget);
  expect(spend).toBeGreaterThanOrEqual(billed.micros);
  expect(spend).toBeLessThanOrEqual(budget);
  // A clean stop closed the ceilings; the kills before it left some open, which the restarts burnt.
  expect(await queryFile(dbPath, "SELECT count(*) FROM budget_ceilings")).toEqual([[0]]);
  expect(burnt).toBeGreaterThan(0);
  expect(billed.requests).toBeGreaterThan(0);
});
