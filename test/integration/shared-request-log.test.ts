/**
 * The request log of instances sharing PostgreSQL, written to a real server,
 * from the serving thread and from the log worker (as `keyward serve` runs
 * it): rows reach it at a flush and at stop, rows a stopped server refused
 * are kept and written once it is back (the failure logged once), and
 * retention prunes old rows from two instances at once, leaving the usage
 * rollups. A log worker that dies or cannot open its connection loses no
 * row: the serving thread writes them.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { Sql } from "postgres";
import { openPostgres } from "../../src/db/pg/connect.ts";
import { migratePostgres } from "../../src/db/pg/migrate.ts";
import { createPgRequestLog } from "../../src/db/pg/request-log.ts";
import { LOG_DELETE_BATCH_ROWS } from "../../src/db/request-log-sql.ts";
import type { SharedRequestLog } from "../../src/db/store.ts";
import type { Logger } from "../../src/telemetry/logger.ts";
import type { LoggedRequest } from "../../src/usage/error-codes.ts";
import { DAY, type RequestLogSink } from "../../src/usage/request-log.ts";
import { SharedRequestLogWriter, type SharedRequestLogOptions } from "../../src/usage/shared-request-log.ts";
import { ThreadedSharedRequestLog, type ThreadedSharedRequestLogOptions } from "../../src/usage/threaded-shared-log.ts";
import { createDatabase, databaseUrl, startPostgresServer, usePostgres, type PostgresServer } from "../helpers/postgres.ts";

type Line = { level: string; msg: string } & Record<string, unknown>;

function recording(): { logger: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) => void lines.push({ level, msg, ...fields });
  return { lines, logger: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") } };
}

const NOW = Date.UTC(2026, 2, 10, 12, 30);
const clock = { now: () => NOW };

function row(id: string, at = NOW - 60_000): LoggedRequest {
  return { at, requestId: id, proxyKeyId: "kwp_a", model: "gpt-4o-mini", method: "POST", path: "/chat/completions", status: 200, latencyMs: 3, costMicros: 10 };
}

type Mode = "serving thread" | "log worker";
type Writer = RequestLogSink & { sweep(): Promise<void> };
const MODES: Mode[] = ["serving thread", "log worker"];

/** The log on this thread, for a writer that must do everything through its worker. */
const notHere: SharedRequestLog = {
  appendMany: () => Promise.reject(new Error("written on the serving thread")),
  page: () => Promise.reject(new Error("read on the serving thread")),
  usage: () => Promise.reject(new Error("read on the serving thread")),
  pruneBatch: () => Promise.reject(new Error("pruned on the serving thread")),
};

const running: RequestLogSink[] = [];
afterEach(async () => {
  for (const sink of running.splice(0)) await sink.stop();
});

/** The log worker's writer, started, with the server thread's log `here` (by default one that fails the test if used). */
function threaded(url: string, logger: Logger, options: Partial<ThreadedSharedRequestLogOptions> = {}, here = notHere): ThreadedSharedRequestLog {
  const w = new ThreadedSharedRequestLog(here, clock, logger, { flushIntervalMs: 60_000, retentionDays: 0, postgres: { url }, ...options });
  w.start();
  running.push(w);
  return w;
}

/** A writer to the database of `url` (`sql` is a pool on it), on the serving thread or through the log worker. */
function writer(mode: Mode, sql: Sql, url: string, logger: Logger, options: Partial<SharedRequestLogOptions> = {}): Writer {
  if (mode === "log worker") return threaded(url, logger, options);
  return new SharedRequestLogWriter(createPgRequestLog(sql), clock, logger, { flushIntervalMs: 60_000, retentionDays: 0, ...options });
}

async function requestIds(sql: Sql, prefix: string): Promise<string[]> {
  const rows = await sql.unsafe<{ request_id: string }[]>("SELECT request_id FROM request_log WHERE request_id LIKE $1 ORDER BY id", [`${prefix}%`]);
  return rows.map((r) => r.request_id);
}

describe("on a running PostgreSQL", () => {
  const pg = usePostgres();
  const pools: Sql[] = [];
  const pool = (url: string) => {
    const sql = openPostgres({ url, max: 2 });
    pools.push(sql);
    return sql;
  };
  afterAll(async () => {
    for (const sql of pools.splice(0)) await sql.end();
  });

  for (const mode of MODES) {
    describe(`from the ${mode}`, () => {
      // A database of the mode's own: usage counts every row in it.
      let url = "";
      beforeAll(async () => {
        url = await pg.newDatabase();
        await migratePostgres(pool(url));
      });
      const writerOn = (sql: Sql, logger: Logger, options: Partial<SharedRequestLogOptions> = {}) => writer(mode, sql, url, logger, options);

      test("rows appended reach PostgreSQL at a flush, in batches, and are counted in usage", async () => {
        const sql = pool(url);
        const w = writerOn(sql, recording().logger, { batchRows: 40 });
        for (let i = 0; i < 100; i++) w.append(row(`flush-${i}`));
        expect(w.depth).toBe(100);
        await w.flush();
        expect(w.depth).toBe(0);
        expect(await requestIds(sql, "flush-")).toEqual(Array.from({ length: 100 }, (_, i) => `flush-${i}`));
        const usage = await createPgRequestLog(sql).usage("proxy_key", { from: NOW - DAY, to: NOW });
        expect(usage).toMatchObject([{ group: "kwp_a", requests: 100, costMicros: 1_000 }]);
      });

      test("stop writes what is left", async () => {
        const sql = pool(url);
        const w = writerOn(sql, recording().logger);
        w.start();
        for (let i = 0; i < 5; i++) w.append(row(`stop-${i}`));
        await w.stop();
        expect(await requestIds(sql, "stop-")).toHaveLength(5);
      });

      test("two instances prune rows past retention together, in batches, and the rollups stay", async () => {
        const sql = pool(url);
        const seed = writerOn(sql, recording().logger);
        const old = LOG_DELETE_BATCH_ROWS * 2 + 37;
        for (let i = 0; i < old; i++) seed.append(row(`old-${i}`, NOW - 3 * DAY - i * 1_000));
        for (let i = 0; i < 20; i++) seed.append(row(`new-${i}`));
        await seed.flush();
        const rollups = await sql.unsafe("SELECT * FROM usage_rollups ORDER BY 1, 2, 3, 4, 5, 6");

        const a = recording();
        const b = recording();
        const [first, second] = [writerOn(pool(url), a.logger, { retentionDays: 1 }), writerOn(pool(url), b.logger, { retentionDays: 1 })];
        await Promise.all([first.sweep(), second.sweep()]);
        expect(await requestIds(sql, "old-")).toEqual([]);
        expect(await requestIds(sql, "new-")).toHaveLength(20);
        expect(await sql.unsafe("SELECT * FROM usage_rollups ORDER BY 1, 2, 3, 4, 5, 6")).toEqual(rollups);
        const removed = [...a.lines, ...b.lines].filter((l) => l.msg === "Request log retention applied").map((l) => l.removed as number);
        expect(removed.reduce((x, y) => x + y, 0)).toBe(old);
        expect([...a.lines, ...b.lines].filter((l) => l.level !== "info")).toEqual([]);
      });
    });
  }

  describe("from a log worker that fails", () => {
    let url = "";
    beforeAll(async () => {
      url = await pg.newDatabase();
      await migratePostgres(pool(url));
    });

    test("a worker that dies loses nothing: what it had not written reaches PostgreSQL from the serving thread", async () => {
      const sql = pool(url);
      const { logger, lines } = recording();
      const crashing = join(import.meta.dir, "../helpers/crashing-log-worker.ts");
      const w = threaded(url, logger, { batchRows: 40, worker: () => new Worker(crashing, { type: "module" }) }, createPgRequestLog(sql));
      for (let i = 0; i < 70; i++) w.append(row(`crash-${i}`));
      await w.flush();
      w.append(row("crash-70"));
      await w.flush();
      expect(w.depth).toBe(0);
      expect(await requestIds(sql, "crash-")).toEqual(Array.from({ length: 71 }, (_, i) => `crash-${i}`));
      expect(lines.filter((l) => l.level !== "info")).toEqual([
        { level: "error", msg: "Request log moves to the server thread", reason: expect.stringContaining("log worker crashed") },
      ]);
    });

    test("a worker that cannot open its connection hands every row to the serving thread, and no line shows the password", async () => {
      const sql = pool(url);
      const { logger, lines } = recording();
      const withPassword = new URL(url);
      withPassword.password = "hunter2-do-not-log";
      // A password file that cannot be read: the worker's `open-postgres` fails.
      const w = threaded(withPassword.href, logger, { postgres: { url: withPassword.href, passwordFile: "/nonexistent/keyward-pw" } }, createPgRequestLog(sql));
      for (let i = 0; i < 12; i++) w.append(row(`unopened-${i}`));
      await w.flush();
      for (let i = 0; i < 100 && !lines.some((l) => l.level === "error"); i++) await Bun.sleep(10);
      await w.flush();
      expect(await requestIds(sql, "unopened-")).toHaveLength(12);
      expect(lines.find((l) => l.level === "error")).toMatchObject({
        msg: "Request log moves to the server thread",
        reason: expect.stringContaining("password file /nonexistent/keyward-pw"),
      });
      expect(JSON.stringify(lines)).not.toContain("hunter2");
    });
  });
});

describe("when PostgreSQL stops", () => {
  let server: PostgresServer;
  const pools: Sql[] = [];

  beforeAll(async () => {
    server = await startPostgresServer();
  });
  afterAll(async () => {
    for (const sql of pools.splice(0)) await sql.end({ timeout: 1 });
    await server?.close();
  });

  for (const mode of MODES) {
    describe(`from the ${mode}`, () => {
      let sql: Sql;
      let url = "";
      beforeAll(async () => {
        url = databaseUrl(server.url, await createDatabase(server.url));
        sql = openPostgres({ url, max: 2 });
        pools.push(sql);
        await migratePostgres(sql);
      });

      test("rows it refused are kept, the failure logged once, and written once it is back", async () => {
        const { logger, lines } = recording();
        const w = writer(mode, sql, url, logger, { batchRows: 4 });
        for (let i = 0; i < 3; i++) w.append(row(`before-${i}`));
        await w.flush();

        await server.stop();
        for (let i = 0; i < 10; i++) w.append(row(`during-${i}`));
        await w.flush();
        await w.flush();
        expect(w.depth).toBe(10);
        expect(lines.filter((l) => l.level === "warn").map((l) => l.msg)).toEqual(["Request log flush to PostgreSQL failed; keeping the rows and retrying"]);

        await server.start();
        // The pool reconnects on the next query; a connection cut by the restart may fail one more try.
        for (let i = 0; i < 50 && w.depth > 0; i++) {
          await w.flush();
          if (w.depth > 0) await Bun.sleep(100);
        }
        expect(w.depth).toBe(0);
        expect(await requestIds(sql, "before-")).toHaveLength(3);
        expect(await requestIds(sql, "during-")).toEqual(Array.from({ length: 10 }, (_, i) => `during-${i}`));
        expect(lines.filter((l) => l.level === "warn")).toHaveLength(1);
        expect(lines.filter((l) => l.level === "info").map((l) => l.msg)).toEqual(["Request log flush to PostgreSQL works again"]);
      });

      test("stop gives up after its bound on a database that does not come back", async () => {
        await server.stop();
        const { logger, lines } = recording();
        const w = writer(mode, sql, url, logger, { stopTimeoutMs: 800 });
        w.start();
        w.append(row("lost-0"));
        const started = performance.now();
        await w.stop();
        expect(performance.now() - started).toBeLessThan(3_000);
        expect(lines.find((l) => l.level === "error")).toMatchObject({
          msg: "Request log rows not written at shutdown: PostgreSQL did not take them in time",
          rows: 1,
        });
        await server.start();
      });
    });
  }
});
