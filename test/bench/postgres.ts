/**
 * Scenario 9, PostgreSQL against SQLite: two compiled keywards side by side,
 * one on its SQLite file and one with `--database-url` on a throwaway
 * PostgreSQL server this scenario starts (test/helpers/postgres-server.ts),
 * both forwarding to the same mock upstream with the same keys: one without
 * limits, and one with a budget and a rate limit (the limited path: the body
 * read strictly, budget reserved and settled, on PostgreSQL within slices
 * leased from it). It measures the added latency one request at a time
 * (against the bare forwarder's, in interleaved rounds) and keyward's CPU per
 * request under wrk in alternating rounds, and PostgreSQL's own CPU (every
 * server process) per request, since on PostgreSQL part of the work leaves
 * keyward's process.
 */
import { spawn } from "bun";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { generateKey } from "../../src/vault/key-format.ts";
import { databaseUrl } from "../helpers/postgres.ts";
import { startPostgresServer, type PostgresServer } from "../helpers/postgres-server.ts";
import { CPU_CONNECTIONS, cpuRound, ensureWrk, roundProblems, TYPICAL_CHAT_BODY, wrkScript, type CpuRound } from "./cpu-rounds.ts";
import { childPid, clockTicksPerSecond, run, startScript, treeTicks, type Child } from "./processes.ts";
import { fmtMs, fmtNum, median, percentile } from "./stats.ts";

const HERE = import.meta.dir;
/** The target: PostgreSQL's figures within 10% of SQLite's. */
const WITHIN = 1.1;
/**
 * The limited key's budget: a slice is a twentieth of it (src/limits/budget.ts), here 100,000 µ$ or about
 * 28,000 of the mock's answers (3.6 µ$ each), so the run widens its slice a few times, as a busy key does,
 * and spends a fifth of the budget at most (a refusal for want of budget would make the run invalid).
 */
const LIMITED = { budget_usd: 2, rpm: 1_000_000_000 };

export interface PostgresRow {
  scenario: string;
  direct: string;
  bare: string;
  keyward: string;
  ratio: string;
  target: string;
  pass: boolean | undefined;
}

export interface PostgresOptions {
  bin: string;
  quick: boolean;
}

type Backend = "sqlite" | "postgres";
type KeyKind = "unlimited" | "limited";
const BACKENDS: Backend[] = ["sqlite", "postgres"];
const KINDS: KeyKind[] = ["unlimited", "limited"];

interface Instance {
  backend: Backend;
  url: string;
  servingPid: number;
  keys: Record<KeyKind, { id: string; key: string }>;
  stop(): Promise<void>;
}

function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

/** The compiled keyward as the other scenarios run it (JSON access lines to /dev/null), with `args` added. */
async function serve(bin: string, dataDir: string, args: string[], env: Record<string, string>) {
  const port = freePort();
  const proc = spawn(
    [
      bin,
      "serve",
      "--port",
      String(port),
      "--host",
      "127.0.0.1",
      "--data-dir",
      dataDir,
      "--allow-http-upstreams",
      "--log-format",
      "json",
      ...args,
      ...(process.env.BENCH_KW_ARGS?.split(" ").filter(Boolean) ?? []),
    ],
    { stdin: "ignore", stdout: "ignore", stderr: process.env.BENCH_KW_STDERR ? "inherit" : "ignore", env: { ...process.env, ...env } },
  );
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const up = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) break;
    if (i > 600 || proc.exitCode !== null) throw new Error(`keyward (${args.join(" ") || "SQLite"}) did not start`);
    await Bun.sleep(50);
  }
  return {
    url,
    servingPid: childPid(proc.pid),
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}

async function admin<T>(url: string, token: string, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

function post(url: string, token: string): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: TYPICAL_CHAT_BODY,
  });
}

/** The same provider key and proxy keys on an instance; returns the keys. */
async function mintKeys(url: string, adminToken: string, upstreamUrl: string): Promise<Record<KeyKind, { id: string; key: string }>> {
  const provider = await admin<{ id: string }>(url, adminToken, "POST", "/api/provider-keys", {
    name: "bench",
    provider: "openai",
    key: "sk-bench-upstream-key-0000",
    base_url: `${upstreamUrl}/v1`,
  });
  const mint = (name: string, limits: object) =>
    admin<{ id: string; key: string }>(url, adminToken, "POST", "/api/proxy-keys", { name, provider_key_id: provider.id, ...limits });
  return { unlimited: await mint("pg-bench-unlimited", {}), limited: await mint("pg-bench-limited", LIMITED) };
}

/**
 * The key's first request (argon2), checked: a 200 with usage, or the
 * scenario means nothing. On PostgreSQL a rate-limited key is refused (429)
 * until the instance takes its share of the limit, 2 × the freshness bound
 * after it started (10 s by default): asked again until then.
 */
async function firstRequest(url: string, token: string, where: string): Promise<number> {
  const deadline = performance.now() + 30_000;
  for (;;) {
    const response = await post(url, token);
    const text = await response.text();
    if (response.status === 200) {
      const prompt = (JSON.parse(text) as { usage?: { prompt_tokens?: number } }).usage?.prompt_tokens ?? 0;
      if (!(prompt > 0)) throw new Error(`scenario 9: the mock's answer reports no usage: ${text}`);
      return prompt;
    }
    if (response.status !== 429 || performance.now() > deadline) throw new Error(`scenario 9: ${where}'s first request answered ${response.status}: ${text}`);
    await Bun.sleep(250);
  }
}

async function timedPost(url: string, token: string, where: string): Promise<number> {
  const start = performance.now();
  const response = await post(url, token);
  await response.arrayBuffer();
  if (response.status !== 200) throw new Error(`scenario 9: ${where} answered ${response.status}`);
  return performance.now() - start;
}

/** Starts PostgreSQL and creates the database keyward will migrate. */
async function startDatabase(): Promise<{ server: PostgresServer; url: string; postmasterPid: number; version: string }> {
  const server = await startPostgresServer();
  try {
    const sql = postgres(server.url, { max: 1, onnotice: () => undefined });
    try {
      await sql.unsafe("CREATE DATABASE keyward_bench");
      const [row] = await sql<{ server_version: string }[]>`SHOW server_version`;
      const postmasterPid = Number(readFileSync(join(server.dir, "data", "postmaster.pid"), "utf8").split("\n", 1)[0]);
      return { server, url: databaseUrl(server.url, "keyward_bench"), postmasterPid, version: row?.server_version ?? "?" };
    } finally {
      await sql.end();
    }
  } catch (err) {
    await server.close();
    throw err;
  }
}

export async function postgresVsSqlite(options: PostgresOptions): Promise<{ rows: PostgresRow[]; notes: string[] }> {
  const scenario = "9. PostgreSQL vs SQLite";
  if (!(await ensureWrk())) {
    return { rows: [{ scenario, direct: "", bare: "", keyward: "n/a (no wrk)", ratio: "", target: "", pass: undefined }], notes: [] };
  }
  const { quick } = options;
  const rounds = quick ? 3 : 8;
  const warmSeconds = quick ? 1 : 2;
  const latencyRounds = quick ? 3 : 8;
  const perRound = quick ? 100 : 300;
  const started = performance.now();
  const rows: PostgresRow[] = [];
  const notes: string[] = [];
  const problems: string[] = [];

  const db = await startDatabase();
  const dirs: string[] = [];
  const children: Child[] = [];
  const instances: Instance[] = [];
  try {
    const upstream = await startScript([join(HERE, "mock-upstream.ts")]);
    children.push(upstream);
    const bare = await startScript([join(HERE, "bare-forwarder.ts"), upstream.url], { BUN_CONFIG_MAX_HTTP_REQUESTS: "65535" });
    children.push(bare);
    const adminToken = generateKey("admin").token;
    const masterKey = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64");
    for (const backend of BACKENDS) {
      const dir = mkdtempSync(join(tmpdir(), `keyward-bench-${backend}-`));
      dirs.push(dir);
      const args = backend === "postgres" ? ["--database-url", db.url] : [];
      const server = await serve(options.bin, dir, args, { KEYWARD_ADMIN_TOKEN: adminToken, KEYWARD_MASTER_KEY: masterKey });
      instances.push({ backend, ...server, keys: await mintKeys(server.url, adminToken, upstream.url) });
    }
    const [sqlite, pg] = instances as [Instance, Instance];
    const hz = await clockTicksPerSecond();
    const pgTicks = () => treeTicks(db.postmasterPid);
    const scripts = new Map<string, string>();
    const scriptFor = (instance: Instance, kind: KeyKind) => {
      const name = `pg-bench-${instance.backend}-${kind}`;
      let script = scripts.get(name);
      if (!script) scripts.set(name, (script = wrkScript(name, TYPICAL_CHAT_BODY, instance.keys[kind].key)));
      return script;
    };
    const checked: Array<[string, CpuRound]> = [];

    // Warm-up, as in scenario 7: every path compiled before anything counts. The PostgreSQL instance's limited
    // key comes last, once the instance has its share of the rate limit.
    let promptTokens = 0;
    for (const [instance, kind] of [
      [sqlite, "unlimited"],
      [sqlite, "limited"],
      [pg, "unlimited"],
      [pg, "limited"],
    ] as const) {
      const where = `${instance.backend} ${kind}`;
      promptTokens = await firstRequest(instance.url, instance.keys[kind].key, where);
      checked.push([`${where} warm-up`, await cpuRound(instance.url, scriptFor(instance, kind), warmSeconds, instance.servingPid, hz, pgTicks)]);
    }
    await run(["wrk", "-t1", `-c${CPU_CONNECTIONS}`, `-d${warmSeconds}s`, "-s", scriptFor(sqlite, "unlimited"), `${bare.url}/v1/chat/completions`]);

    // Added latency, one request at a time: interleaved rounds, the order rotating, medians of each round's percentiles.
    const targets: Array<{ name: string; url: string; token: string }> = [
      { name: "direct", url: upstream.url, token: sqlite.keys.unlimited.key },
      { name: "bare", url: bare.url, token: sqlite.keys.unlimited.key },
      ...instances.flatMap((instance) => KINDS.map((kind) => ({ name: `${instance.backend} ${kind}`, url: instance.url, token: instance.keys[kind].key }))),
    ];
    for (const t of targets) for (let i = 0; i < perRound; i++) await timedPost(t.url, t.token, t.name);
    const p50: Record<string, number[]> = {};
    const p99: Record<string, number[]> = {};
    for (let r = 0; r < latencyRounds; r++) {
      for (let i = 0; i < targets.length; i++) {
        const t = targets[(i + r) % targets.length] as (typeof targets)[number];
        const samples: number[] = [];
        for (let n = 0; n < perRound; n++) samples.push(await timedPost(t.url, t.token, t.name));
        (p50[t.name] ??= []).push(percentile(samples, 50));
        (p99[t.name] ??= []).push(percentile(samples, 99));
      }
    }

    // CPU per request: for each key, a round on each instance, the instances' order alternating by round.
    const results: Record<string, CpuRound[]> = {};
    for (let r = 0; r < rounds; r++) {
      for (const kind of KINDS) {
        const order = r % 2 === 0 ? instances : [...instances].reverse();
        for (const instance of order) {
          const round = await cpuRound(instance.url, scriptFor(instance, kind), 1, instance.servingPid, hz, pgTicks);
          (results[`${instance.backend} ${kind}`] ??= []).push(round);
        }
      }
    }
    for (const [name, list] of Object.entries(results)) list.forEach((round, i) => checked.push([`${name} round ${i + 1}`, round]));
    let cutShort = 0;
    for (const [where, round] of checked) {
      problems.push(...roundProblems(where, round, promptTokens));
      cutShort += round.statuses["499"] ?? 0;
    }

    // The limited key was charged on both, and on PostgreSQL within a slice leased from it.
    for (const instance of instances) {
      const view = await admin<{ spend_usd?: number }>(instance.url, adminToken, "GET", `/api/proxy-keys/${instance.keys.limited.id}`);
      if (!((view.spend_usd ?? 0) > 0)) problems.push(`${instance.backend}: the limited key's spend is ${view.spend_usd}: nothing was settled`);
    }
    const sql = postgres(db.url, { max: 1, onnotice: () => undefined });
    let lease = "no slice";
    try {
      const [slice] = await sql<{ granted: number; used: number }[]>`
        SELECT granted_micros::float8 AS granted, used_micros::float8 AS used FROM budget_leases WHERE subject_id = ${pg.keys.limited.id}`;
      if (!slice || !(slice.used > 0)) problems.push(`postgres: the limited key holds ${slice ? `a slice with ${slice.used} µ$ used` : "no slice"}`);
      else lease = `a slice of ${fmtNum(slice.granted)} µ$ granted, ${fmtNum(slice.used)} µ$ used as last reported`;
    } finally {
      await sql.end();
    }

    // Figures.
    const m = (name: string, pick: (round: CpuRound) => number) => median((results[name] ?? []).map(pick));
    const cpu = (backend: Backend, kind: KeyKind) => m(`${backend} ${kind}`, (round) => round.cpuUs);
    const pgCpu = (kind: KeyKind) => m(`postgres ${kind}`, (round) => round.othersUs);
    /** PostgreSQL's CPU while only the SQLite instance had traffic: the idle PostgreSQL instance's polling and the server's own upkeep, ms a second. */
    const pgIdleMsPerS = median(
      KINDS.flatMap((kind) => (results[`sqlite ${kind}`] ?? []).map((round) => (round.othersUs * round.requests) / 1000 / (round.wallMs / 1000))),
    );
    const lat = (rec: Record<string, number[]>, name: string) => median(rec[name] ?? []);
    const added = (rec: Record<string, number[]>, name: string) => lat(rec, name) - lat(rec, "direct");
    const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
    const us = (x: number) => x.toFixed(1);
    const invalid = problems.length > 0 ? `INVALID: ${problems.length} problem(s), see notes. ` : "";
    for (const [label, rec] of [
      ["p50", p50],
      ["p99", p99],
    ] as const) {
      const [su, sl, pu, pl] = [added(rec, "sqlite unlimited"), added(rec, "sqlite limited"), added(rec, "postgres unlimited"), added(rec, "postgres limited")];
      rows.push({
        scenario: `${scenario}: added latency ${label}, one at a time (unlimited / limited key)`,
        direct: fmtMs(lat(rec, "direct")),
        bare: `+${fmtMs(added(rec, "bare"))}`,
        keyward: `${invalid}SQLite +${fmtMs(su)} / +${fmtMs(sl)}; PostgreSQL +${fmtMs(pu)} / +${fmtMs(pl)}`,
        ratio: `${ratio(pu, su)} / ${ratio(pl, sl)}`,
        target: `PostgreSQL ≤ ${WITHIN.toFixed(2)} × SQLite`,
        pass: problems.length === 0 && pu <= WITHIN * su && pl <= WITHIN * sl,
      });
    }
    rows.push({
      scenario: `${scenario}: keyward's CPU per request (µs), ${CPU_CONNECTIONS} connections (unlimited / limited key)`,
      direct: "",
      bare: "",
      keyward: `${invalid}SQLite ${us(cpu("sqlite", "unlimited"))} / ${us(cpu("sqlite", "limited"))}; PostgreSQL ${us(cpu("postgres", "unlimited"))} / ${us(cpu("postgres", "limited"))}`,
      ratio: `${ratio(cpu("postgres", "unlimited"), cpu("sqlite", "unlimited"))} / ${ratio(cpu("postgres", "limited"), cpu("sqlite", "limited"))}`,
      target: `PostgreSQL ≤ ${WITHIN.toFixed(2)} × SQLite`,
      pass: problems.length === 0 && KINDS.every((kind) => cpu("postgres", kind) <= WITHIN * cpu("sqlite", kind)),
    });
    const whole = (kind: KeyKind) => (cpu("postgres", kind) + pgCpu(kind)) / cpu("sqlite", kind);
    rows.push({
      scenario: `${scenario}: PostgreSQL server's own CPU per request (µs, all its processes)`,
      direct: "",
      bare: "",
      keyward: `${us(pgCpu("unlimited"))} / ${us(pgCpu("limited"))}; ${pgIdleMsPerS.toFixed(1)} ms/s while only the SQLite instance had traffic`,
      ratio: `keyward + PostgreSQL: ${whole("unlimited").toFixed(2)}× / ${whole("limited").toFixed(2)}× SQLite`,
      target: "report",
      pass: undefined,
    });

    const perRoundFigures = (name: string, pick: (round: CpuRound) => number) => (results[name] ?? []).map((round) => us(pick(round))).join(", ");
    const pairs = (kind: KeyKind) =>
      (results[`postgres ${kind}`] ?? []).map((round, i) => round.cpuUs / ((results[`sqlite ${kind}`] ?? [])[i] as CpuRound).cpuUs);
    notes.push(
      `Scenario 9 (${fmtNum((performance.now() - started) / 1000)} s): PostgreSQL ${db.version} started for the run (fsync off, as the test servers), ` +
        `the compiled keyward twice (SQLite; \`--database-url\`), the same keys on each: unlimited, and budget_usd ${LIMITED.budget_usd} with rpm ${fmtNum(LIMITED.rpm)}; ` +
        `the ${TYPICAL_CHAT_BODY.length}-byte chat body of scenario 7. Latency: ${latencyRounds} rounds of ${perRound} requests one at a time per target, order rotating. ` +
        `CPU: after a ${warmSeconds} s warm-up per instance and key, ${rounds} rounds per instance and key of \`wrk -t1 -c${CPU_CONNECTIONS} -d1s\`, ` +
        `the instances' order alternating; keyward's serving process (every thread) and PostgreSQL (every server process, backends that exited included) from /proc, ` +
        `over keyward's own count of answers (${fmtNum(median(Object.values(results).flatMap((list) => list.map((round) => round.requests))))} a round, median).`,
    );
    for (const kind of KINDS) {
      notes.push(
        `Scenario 9, ${kind} key, µs per request by round: SQLite ${perRoundFigures(`sqlite ${kind}`, (round) => round.cpuUs)}; ` +
          `PostgreSQL ${perRoundFigures(`postgres ${kind}`, (round) => round.cpuUs)} (+ its server ${perRoundFigures(`postgres ${kind}`, (round) => round.othersUs)}); ` +
          `pair ratios ${pairs(kind)
            .map((x) => x.toFixed(3))
            .join(", ")} (median ${median(pairs(kind)).toFixed(3)}); ` +
          `serving thread ${us(m(`sqlite ${kind}`, (round) => round.threadUs))} → ${us(m(`postgres ${kind}`, (round) => round.threadUs))}; ` +
          `req/s ${fmtNum(m(`sqlite ${kind}`, (round) => round.rps))} → ${fmtNum(m(`postgres ${kind}`, (round) => round.rps))}.`,
      );
    }
    notes.push(
      `Scenario 9: bare forwarder's p50/p99 added +${fmtMs(added(p50, "bare"))} / +${fmtMs(added(p99, "bare"))}; ` +
        `the PostgreSQL instance's limited key ended with ${lease}; ${cutShort} requests were cut short by wrk stopping (499, counted).`,
    );
    if (problems.length > 0) {
      const message = `Scenario 9 is INVALID, not every answer was a metered 200: ${problems.join("; ")}`;
      console.error(`\n!!! ${message}\n`);
      notes.push(message);
      process.exitCode = 1;
    }
    return { rows, notes };
  } finally {
    for (const instance of instances) await instance.stop();
    for (const child of children) await child.stop();
    await db.server.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}
