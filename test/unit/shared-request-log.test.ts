/**
 * The shared request log's writers against a scripted log: one write at a
 * time however often it is asked, the oldest rows dropped past the cap (and
 * said so once), and a shutdown that waits a bounded time for a database
 * that hangs. Each holds for the writer on the serving thread and for the
 * one whose writes go through the log worker (a scripted worker here, in
 * this thread, writing to the same scripted log). What PostgreSQL and the
 * real worker do is in test/integration/shared-request-log.test.ts.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { rowFromValues, type LogRowValues } from "../../src/db/request-log-sql.ts";
import type { NewRequestLogRow, SharedRequestLog } from "../../src/db/store.ts";
import type { LoggedRequest } from "../../src/usage/error-codes.ts";
import type { FromPostgresLogWorker, ToPostgresLogWorker } from "../../src/usage/log-worker-protocol.ts";
import type { Logger } from "../../src/telemetry/logger.ts";
import type { RequestLogSink } from "../../src/usage/request-log.ts";
import { SharedRequestLogWriter, type SharedRequestLogOptions } from "../../src/usage/shared-request-log.ts";
import { ThreadedSharedRequestLog } from "../../src/usage/threaded-shared-log.ts";

type Line = { level: string; msg: string } & Record<string, unknown>;

function recording(): { logger: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) => void lines.push({ level, msg, ...fields });
  return { lines, logger: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") } };
}

const row = (i: number): LoggedRequest => ({ at: 1_000 + i, requestId: `req-${i}`, method: "POST", path: "/chat/completions", status: 200, latencyMs: 1 });

/** A log whose writes take `delayMs`, fail while `down`, and never end while `hang`. */
class ScriptedLog implements SharedRequestLog {
  written: string[] = [];
  down = false;
  hang = false;
  delayMs = 0;
  running = 0;
  maxRunning = 0;
  calls = 0;

  async appendMany(rows: NewRequestLogRow[]): Promise<void> {
    this.calls++;
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      if (this.hang) await new Promise(() => {});
      await Bun.sleep(this.delayMs);
      if (this.down) throw new Error("connect ECONNREFUSED");
      this.written.push(...rows.map((r) => r.requestId));
    } finally {
      this.running--;
    }
  }
  page(): never {
    throw new Error("not used");
  }
  usage(): never {
    throw new Error("not used");
  }
  pruneBatch(): Promise<number> {
    return Promise.resolve(0);
  }
}

/** The log worker's PostgreSQL mode, played in this thread against a scripted log. */
class ScriptedWorker {
  onmessage: ((event: MessageEvent<FromPostgresLogWorker>) => void) | null = null;
  onerror: ((event: ErrorEvent) => void) | null = null;
  terminated = false;
  /** Dies, as a thread whose code threw, instead of answering the next append. */
  crashOnAppend = false;

  constructor(private readonly log: SharedRequestLog) {}

  postMessage(message: ToPostgresLogWorker): void {
    // Answered later, as a thread would.
    setTimeout(() => void this.handle(message), 0);
  }

  terminate(): void {
    this.terminated = true;
  }

  private reply(data: FromPostgresLogWorker): void {
    if (!this.terminated) this.onmessage?.({ data } as MessageEvent<FromPostgresLogWorker>);
  }

  private async handle(message: ToPostgresLogWorker): Promise<void> {
    switch (message.type) {
      case "open-postgres":
        return this.reply({ type: "opened" });
      case "append":
        if (this.crashOnAppend) return this.onerror?.({ message: "log worker crashed", preventDefault: () => {} } as ErrorEvent);
        try {
          await this.log.appendMany(message.rows.split("\n").map((line) => rowFromValues(JSON.parse(line) as LogRowValues)));
          return this.reply({ type: "appended", id: message.id });
        } catch (err) {
          return this.reply({ type: "failed", id: message.id, error: (err as Error).message });
        }
      case "prune":
        return this.reply({ type: "pruned", id: message.id, removed: await this.log.pruneBatch(message.before) });
      case "close":
        return this.reply({ type: "closed", id: message.id });
    }
  }
}

const clock = { now: () => 1_000_000 };
const started: RequestLogSink[] = [];
afterEach(async () => {
  for (const sink of started.splice(0)) await sink.stop();
});

type Mode = "serving thread" | "log worker";
type Writer = RequestLogSink & { readonly dropped: number };

/** The writer of `mode`; the worker's is started, so its writes go through the worker rather than this thread's log. */
function writerOf(mode: Mode, log: SharedRequestLog, logger: Logger, options: Partial<SharedRequestLogOptions> = {}): Writer {
  const all = { flushIntervalMs: 60_000, retentionDays: 0, stopTimeoutMs: 1_000, ...options };
  if (mode === "serving thread") return new SharedRequestLogWriter(log, clock, logger, all);
  const unused: SharedRequestLog = {
    appendMany: () => Promise.reject(new Error("written on the serving thread")),
    page: () => Promise.reject(new Error("not used")),
    usage: () => Promise.reject(new Error("not used")),
    pruneBatch: () => Promise.reject(new Error("pruned on the serving thread")),
  };
  const threaded = new ThreadedSharedRequestLog(unused, clock, logger, {
    ...all,
    postgres: { url: "postgres://keyward@127.0.0.1/unused" },
    worker: () => new ScriptedWorker(log) as unknown as Worker,
  });
  threaded.start();
  started.push(threaded);
  return threaded;
}

for (const mode of ["serving thread", "log worker"] as const)
  describe(`writing from the ${mode}`, () => {
    const writer = (log: SharedRequestLog, logger: Logger, options: Partial<SharedRequestLogOptions> = {}) => writerOf(mode, log, logger, options);

    test("flushes asked for at once write one batch at a time, every row once, in order", async () => {
      const log = new ScriptedLog();
      log.delayMs = 5;
      const w = writer(log, recording().logger, { batchRows: 7 });
      for (let i = 0; i < 50; i++) w.append(row(i));
      const flushes = [w.flush(), w.flush()];
      for (let i = 50; i < 60; i++) w.append(row(i));
      flushes.push(w.flush());
      await Promise.all(flushes);
      expect(log.maxRunning).toBe(1);
      expect(log.written).toEqual(Array.from({ length: 60 }, (_, i) => `req-${i}`));
      expect(w.depth).toBe(0);
    });

    test("the timer starts no flush while one is running", async () => {
      const log = new ScriptedLog();
      log.delayMs = 100;
      const w = writer(log, recording().logger, { flushIntervalMs: 10 });
      w.start();
      w.append(row(0));
      await Bun.sleep(30);
      w.append(row(1));
      await Bun.sleep(150);
      await w.stop();
      expect(log.maxRunning).toBe(1);
      expect(log.written).toEqual(["req-0", "req-1"]);
    });

    test("a failed write keeps its rows in front, says so once, and says when writing works again", async () => {
      const log = new ScriptedLog();
      const { logger, lines } = recording();
      const w = writer(log, logger, { batchRows: 3 });
      for (let i = 0; i < 5; i++) w.append(row(i));
      log.down = true;
      await w.flush();
      w.append(row(5));
      await w.flush();
      await w.flush();
      expect(w.depth).toBe(6);
      expect(lines.filter((l) => l.level === "warn").map((l) => l.msg)).toEqual(["Request log flush to PostgreSQL failed; keeping the rows and retrying"]);
      log.down = false;
      await w.flush();
      expect(log.written).toEqual(["req-0", "req-1", "req-2", "req-3", "req-4", "req-5"]);
      expect(lines.filter((l) => l.level === "info").map((l) => l.msg)).toEqual(["Request log flush to PostgreSQL works again"]);
    });

    test("past the cap the oldest queued rows go, never those being written, counted and warned once per outage", async () => {
      const log = new ScriptedLog();
      const { logger, lines } = recording();
      const dropped: number[] = [];
      const w = writer(log, logger, { batchRows: 4, maxRows: 10, onDropped: (n) => dropped.push(n) });
      log.down = true;
      for (let i = 0; i < 25; i++) w.append(row(i));
      expect(w.depth).toBe(10);
      expect(w.dropped).toBe(15);
      expect(dropped.reduce((a, b) => a + b, 0)).toBe(15);
      await w.flush();
      // A write under way holds its batch: appends meanwhile drop from the rows queued behind it.
      log.down = false;
      log.delayMs = 20;
      const flushing = w.flush();
      await Bun.sleep(5);
      for (let i = 25; i < 28; i++) w.append(row(i));
      await flushing;
      await w.flush();
      expect(log.written).toEqual(["req-15", "req-16", "req-17", "req-18", ...Array.from({ length: 6 }, (_, i) => `req-${22 + i}`)]);
      const warned = lines.filter((l) => l.level === "warn").map((l) => l.msg);
      expect(warned.filter((m) => m.startsWith("Request log queue is full"))).toHaveLength(1);
      expect(lines.find((l) => l.msg === "Request log dropped rows while PostgreSQL did not take them")).toMatchObject({ dropped: 18, dropped_total: 18 });
    });

    test("stop writes what is left, and waits a bounded time for a database that hangs", async () => {
      const log = new ScriptedLog();
      const w = writer(log, recording().logger);
      w.start();
      for (let i = 0; i < 3; i++) w.append(row(i));
      await w.stop();
      expect(log.written).toEqual(["req-0", "req-1", "req-2"]);

      const hung = new ScriptedLog();
      hung.hang = true;
      const { logger, lines } = recording();
      const h = writer(hung, logger, { stopTimeoutMs: 200 });
      h.start();
      h.append(row(0));
      const started = performance.now();
      await h.stop();
      expect(performance.now() - started).toBeLessThan(1_000);
      expect(lines.find((l) => l.level === "error")).toMatchObject({ rows: 1 });
    });

    test("stop retries a database that fails, until the bound", async () => {
      const log = new ScriptedLog();
      log.down = true;
      const { logger, lines } = recording();
      const w = writer(log, logger, { stopTimeoutMs: 600 });
      w.append(row(0));
      setTimeout(() => (log.down = false), 300);
      await w.stop();
      expect(log.written).toEqual(["req-0"]);
      expect(log.calls).toBeGreaterThan(1);
      expect(lines.filter((l) => l.level === "error")).toEqual([]);
    });
  });

test("a worker that dies before answering loses nothing: that batch and every later one are written on the serving thread, once", async () => {
  const viaWorker = new ScriptedLog();
  const here = new ScriptedLog();
  const { logger, lines } = recording();
  const worker = new ScriptedWorker(viaWorker);
  const w = new ThreadedSharedRequestLog(here, clock, logger, {
    flushIntervalMs: 60_000,
    retentionDays: 0,
    batchRows: 3,
    postgres: { url: "postgres://keyward@127.0.0.1/unused" },
    worker: () => worker as unknown as Worker,
  });
  w.start();
  started.push(w);
  for (let i = 0; i < 3; i++) w.append(row(i));
  await w.flush();
  worker.crashOnAppend = true;
  for (let i = 3; i < 8; i++) w.append(row(i));
  await w.flush();
  w.append(row(8));
  await w.flush();
  expect(viaWorker.written).toEqual(["req-0", "req-1", "req-2"]);
  expect(here.written).toEqual(["req-3", "req-4", "req-5", "req-6", "req-7", "req-8"]);
  expect(worker.terminated).toBe(true);
  expect(w.depth).toBe(0);
  expect(lines.filter((l) => l.level === "error")).toEqual([
    { level: "error", msg: "Request log moves to the server thread", reason: "log worker failed: log worker crashed" },
  ]);
});
