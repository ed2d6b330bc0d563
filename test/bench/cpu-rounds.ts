/**
 * What the CPU scenarios share (7, and 9 in postgres.ts): the typical chat
 * body, wrk scripts that count statuses, keyward's own counters from
 * /metrics, and one measured wrk round: keyward's CPU from /proc over the
 * answers it counted.
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { processTree, run, statTicks } from "./processes.ts";

export async function ensureWrk(): Promise<boolean> {
  if (Bun.which("wrk")) return true;
  if (process.getuid?.() === 0) {
    console.log("Installing wrk (Debian package) for the throughput and CPU scenarios…");
    try {
      await run(["apt-get", "install", "-y", "wrk"], { DEBIAN_FRONTEND: "noninteractive" });
      return Bun.which("wrk") !== null;
    } catch {
      /* said below */
    }
  }
  console.log("wrk is not installed: run `apt-get install -y wrk` (Debian) to measure throughput.");
  return false;
}

/**
 * Scenario 7's body: a typical chat request, three messages of a few hundred
 * bytes and an output cap (953 bytes).
 */
export const TYPICAL_CHAT_BODY = JSON.stringify({
  model: "gpt-4o-mini",
  messages: [
    {
      role: "system",
      content:
        "You are the support assistant of an online hardware store. Answer questions about orders, delivery, invoices and returns in at most three short sentences. " +
        "If a question is about anything else, say politely that you can only help with the store, and point to support@example.com for what you cannot answer.",
    },
    {
      role: "assistant",
      content:
        "Hello! I can help with your orders, deliveries, invoices and returns. What would you like to know? If you have an order number at hand, " +
        "please include it, so that I can look at the right order straight away.",
    },
    {
      role: "user",
      content:
        "I ordered a cordless drill and two packs of wall plugs last Tuesday (order 48213-B). The tracking page has said 'label created' for four days. " +
        "Has it actually shipped, and if not, can I still change the delivery address to my office? It is the same city, a different postcode.",
    },
  ],
  max_tokens: 256,
  temperature: 0.2,
});
export const CPU_CONNECTIONS = 16;

/** keyward's own counters, from /metrics: proxied answers by status, refusals, and input tokens metered. */
export async function proxyCounters(url: string): Promise<{ statuses: Record<string, number>; refusals: number; inputTokens: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const statuses: Record<string, number> = {};
  let refusals = 0;
  let inputTokens = 0;
  for (const line of text.split("\n")) {
    const status = /^keyward_requests_total\{[^}]*status="(\d+)"[^}]*\} (\S+)$/.exec(line);
    if (status) statuses[status[1] as string] = (statuses[status[1] as string] ?? 0) + Number(status[2]);
    const refused = /^keyward_(?:auth_failures|limit_rejections)_total(?:\{[^}]*\})? (\S+)$/.exec(line);
    if (refused) refusals += Number(refused[1]);
    const tokens = /^keyward_tokens_total\{[^}]*direction="input"[^}]*\} (\S+)$/.exec(line);
    if (tokens) inputTokens += Number(tokens[1]);
  }
  return { statuses, refusals, inputTokens };
}

/** A wrk script that posts `body` with `token` and counts the answers' statuses (printed by `done`). */
export function wrkScript(name: string, body: string, token: string): string {
  const script = join(tmpdir(), `keyward-wrk-${name}.lua`);
  writeFileSync(
    script,
    [
      `wrk.method = "POST"`,
      `wrk.body = ${JSON.stringify(body)}`,
      `wrk.headers["Content-Type"] = "application/json"`,
      `wrk.headers["Authorization"] = "Bearer ${token}"`,
      "local threads = {}",
      "function setup(thread) table.insert(threads, thread) end",
      "function init(args) ok = 0; bad = 0; first_bad = 0 end",
      "function response(status, headers, body)",
      "  if status == 200 then ok = ok + 1 else bad = bad + 1; if first_bad == 0 then first_bad = status end end",
      "end",
      "function done(summary, latency, requests)",
      '  for _, t in ipairs(threads) do io.write(string.format("statuses: ok=%d bad=%d first_bad=%d\\n", t:get("ok"), t:get("bad"), t:get("first_bad"))) end',
      "end",
      "",
    ].join("\n"),
  );
  return script;
}

export interface CpuRound {
  /** CPU of the serving process (all its threads) and its descendants, µs per completed request. */
  cpuUs: number;
  /** CPU of its serving (main) thread alone, µs per completed request. */
  threadUs: number;
  /** CPU of the other processes the round was asked to count (PostgreSQL's), µs per completed request; 0 when none. */
  othersUs: number;
  /** The round's wall time, from before wrk to the second reading, ms. */
  wallMs: number;
  requests: number;
  rps: number;
  /** Answers keyward counted in this round, by status. */
  statuses: Record<string, number>;
  refusals: number;
  inputTokens: number;
  clientOk: number;
  clientBad: number;
  clientFirstBad: number;
  socketErrors: string | undefined;
}

/**
 * One wrk run against keyward, with keyward's CPU (from /proc) and its own
 * answer counts around it. `others`, when given, reads the clock ticks of
 * other processes whose CPU belongs to the round too, at the same moments.
 */
export async function cpuRound(
  url: string,
  script: string,
  seconds: number,
  servingPid: number,
  hz: number,
  others: () => number = () => 0,
): Promise<CpuRound> {
  const before = await proxyCounters(url);
  const pids = processTree(servingPid);
  const tree = () => pids.reduce((sum, pid) => sum + statTicks(`/proc/${pid}/stat`), 0);
  const thread = () => statTicks(`/proc/${servingPid}/task/${servingPid}/stat`);
  const started = performance.now();
  const [tree0, thread0, others0] = [tree(), thread(), others()];
  const out = await run(["wrk", "-t1", `-c${CPU_CONNECTIONS}`, `-d${seconds}s`, "-s", script, `${url}/v1/chat/completions`]);
  // The bookkeeping after each answer (settlement, the request-log row, metrics) belongs to its round.
  await Bun.sleep(250);
  const [tree1, thread1, others1] = [tree(), thread(), others()];
  const wallMs = performance.now() - started;
  const after = await proxyCounters(url);
  const statuses: Record<string, number> = {};
  for (const [code, n] of Object.entries(after.statuses)) {
    const delta = n - (before.statuses[code] ?? 0);
    if (delta > 0) statuses[code] = delta;
  }
  const requests = Object.values(statuses).reduce((a, b) => a + b, 0);
  const client = /statuses: ok=(\d+) bad=(\d+) first_bad=(\d+)/.exec(out);
  const usPerTick = 1_000_000 / hz;
  return {
    cpuUs: ((tree1 - tree0) * usPerTick) / requests,
    threadUs: ((thread1 - thread0) * usPerTick) / requests,
    othersUs: ((others1 - others0) * usPerTick) / requests,
    wallMs,
    requests,
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN),
    statuses,
    refusals: after.refusals - before.refusals,
    inputTokens: after.inputTokens - before.inputTokens,
    clientOk: Number(client?.[1] ?? 0),
    clientBad: client ? Number(client[2]) : Number.NaN,
    clientFirstBad: Number(client?.[3] ?? 0),
    socketErrors: /Socket errors:.*$/m.exec(out)?.[0],
  };
}

/**
 * Why a round does not count, if it does not: every answer must be a 200 that
 * was metered, since a refusal costs less than a forwarded request and would
 * flatter the figures. 499s are requests wrk cut short when its time was up.
 */
export function roundProblems(where: string, round: CpuRound, promptTokens: number): string[] {
  const problems: string[] = [];
  if (round.clientBad !== 0) problems.push(`${where}: wrk got ${round.clientBad} non-200 answers (first ${round.clientFirstBad})`);
  const other = Object.entries(round.statuses).filter(([code]) => code !== "200" && code !== "499");
  if (other.length > 0) problems.push(`${where}: keyward answered ${JSON.stringify(Object.fromEntries(other))}`);
  if (round.refusals !== 0) problems.push(`${where}: keyward counted ${round.refusals} refusals`);
  const ok = round.statuses["200"] ?? 0;
  if (round.inputTokens < ok * promptTokens) problems.push(`${where}: ${round.inputTokens} input tokens metered for ${ok} answers of ${promptTokens}`);
  if (round.socketErrors) problems.push(`${where}: wrk ${round.socketErrors}`);
  return problems;
}
