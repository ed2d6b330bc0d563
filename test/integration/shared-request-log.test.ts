/**
 * The request log of instances sharing PostgreSQL, written to a real server:
 * rows reach it at a flush and at stop, rows a stopped server refused are
 * kept and written once it is back (the failure logged once), and retention
 * prunes old rows from two instances at once, leaving the usage rollups.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Sql } from "postgres";
import { openPostgres } from "../../src/db/pg/connect.ts";
import { migratePostgres } from "../../src/db/pg/migrate.ts";
import { createPgRequestLog } from "../../src/db/pg/request-log.ts";
import { LOG_DELETE_BATCH_ROWS } from "../../src/db/request-log-sql.ts";
import type { Logger } from "../../src/telemetry/logger.ts";
import type { LoggedRequest } from "../../src/usage/error-codes.ts";
import { DAY } from "../../src/usage/request-log.ts";
import { SharedRequestLogWriter, type SharedRequestLogOptions } from "../../src/usage/shared-request-log.ts";
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

function writer(sql: Sql, logger: Logger, options: Partial<SharedRequestLogOptions> = {}): SharedRequestLogWriter {
  return new SharedRequestLogWriter(createPgRequestLog(sql), clock, logger, { flushIntervalMs: 60_000, retentionDays: 0, ...options });
}

async function requestIds(sql: Sql, prefix: string): Promise<string[]> {
  const rows = await sql.unsafe<{ request_id: string }[]>("SELECT request_id FROM request_log WHERE request_id LIKE $1 ORDER BY id", [`${prefix}%`]);
  return rows.map((r) => r.request_id);
}

describe("on a running PostgreSQL", () => {
  const pg = usePostgres();
  const pools: Sql[] = [];
  const pool = () => {
    const sql = openPostgres({ url: pg.url, max: 2 });
    pools.push(sql);
    return sql;
  };

  beforeAll(async () => {
    await migratePostgres(pool());
  });
  afterAll(async () => {
    for (const sql of pools.splice(0)) await sql.end();
  });

  test("rows appended reach PostgreSQL at a flush, in batches, and are counted in usage", async () => {
    const sql = pool();
    const w = writer(sql, recording().logger, { batchRows: 40 });
    for (let i = 0; i < 100; i++) w.append(row(`flush-${i}`));
    expect(w.depth).toBe(100);
    await w.flush();
    expect(w.depth).toBe(0);
    expect(await requestIds(sql, "flush-")).toEqual(Array.from({ length: 100 }, (_, i) => `flush-${i}`));
    const usage = await createPgRequestLog(sql).usage("proxy_key", { from: NOW - DAY, to: NOW });
    expect(usage).toMatchObject([{ group: "kwp_a", requests: 100, costMicros: 1_000 }]);
  });

  test("stop writes what is left", async () => {
    const sql = pool();
    const w = writer(sql, recording().logger);
    w.start();
    for (let i = 0; i < 5; i++) w.append(row(`stop-${i}`));
    await w.stop();
    expect(await requestIds(sql, "stop-")).toHaveLength(5);
  });

  test("two instances prune rows past retention together, in batches, and the rollups stay", async () => {
    const sql = pool();
    const seed = writer(sql, recording().logger);
    const old = LOG_DELETE_BATCH_ROWS * 2 + 37;
    for (let i = 0; i < old; i++) seed.append(row(`old-${i}`, NOW - 3 * DAY - i * 1_000));
    for (let i = 0; i < 20; i++) seed.append(row(`new-${i}`));
    await seed.flush();
    const rollups = await sql.unsafe("SELECT * FROM usage_rollups ORDER BY 1, 2, 3, 4, 5, 6");

    const a = recording();
    const b = recording();
    const [first, second] = [writer(pool(), a.logger, { retentionDays: 1 }), writer(pool(), b.logger, { retentionDays: 1 })];
    await Promise.all([first.sweep(), second.sweep()]);
    expect(await requestIds(sql, "old-")).toEqual([]);
    expect(await requestIds(sql, "new-")).toHaveLength(20);
    expect(await sql.unsafe("SELECT * FROM usage_rollups ORDER BY 1, 2, 3, 4, 5, 6")).toEqual(rollups);
    const removed = [...a.lines, ...b.lines].filter((l) => l.msg === "Request log retention applied").map((l) => l.removed as number);
    expect(removed.reduce((x, y) => x + y, 0)).toBe(old);
    expect([...a.lines, ...b.lines].filter((l) => l.level !== "info")).toEqual([]);
  });
});

describe("when PostgreSQL stops", () => {
  let server: PostgresServer;
  let sql: Sql;

  beforeAll(async () => {
    server = await startPostgresServer();
    sql = openPostgres({ url: databaseUrl(server.url, await createDatabase(server.url)), max: 2 });
    await migratePostgres(sql);
  });
  afterAll(async () => {
    await sql?.end({ timeout: 1 });
    await server?.close();
  });

  test("rows it refused are kept, the failure logged once, and written once it is back", async () => {
    const { logger, lines } = recording();
    const w = writer(sql, logger, { batchRows: 4 });
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
    const w = writer(sql, logger, { stopTimeoutMs: 800 });
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
