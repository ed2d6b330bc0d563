/**
 * Cluster stores without servers: instances of the shared store on one test
 * PostgreSQL database, each with a mirror of its own, closed after the file.
 * For tests of the storage layer itself (test/helpers/cluster.ts starts whole
 * servers).
 */
import { afterAll } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type postgres from "postgres";
import { openSharedDatabase, type OpenedSharedDatabase } from "../../src/db/cluster/open.ts";
import { openPostgres } from "../../src/db/pg/connect.ts";
import { detectRuntime } from "../../src/runtime/index.ts";
import { usePostgres } from "./postgres.ts";

/** Registers the file's database and cleanup; call `instance(name)` in tests for each instance. */
export function useClusterStores(): { instance: (name: string) => Promise<OpenedSharedDatabase>; instances: OpenedSharedDatabase[] } {
  const dir = mkdtempSync(join(tmpdir(), "kw-cluster-"));
  const pg = usePostgres();
  const clients: postgres.Sql[] = [];
  const instances: OpenedSharedDatabase[] = [];

  async function instance(name: string): Promise<OpenedSharedDatabase> {
    const sql = openPostgres({ url: pg.url, max: 4 });
    clients.push(sql);
    const opened = await openSharedDatabase(await detectRuntime(), {
      sql,
      mirrorDir: join(dir, name),
      instanceId: name,
      freshnessMs: 2000,
      pollMs: 200,
      onError: (err) => console.error(err),
    });
    instances.push(opened);
    return opened;
  }

  afterAll(async () => {
    for (const opened of instances) await opened.store.shared.stop();
    for (const opened of instances) opened.mirror.client.close();
    for (const sql of clients) await sql.end();
    rmSync(dir, { recursive: true, force: true });
  });
  return { instance, instances };
}
