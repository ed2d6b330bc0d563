/**
 * Opens an instance's side of a shared PostgreSQL vault: migrates PostgreSQL
 * (once across instances starting together), builds a fresh SQLite mirror
 * under `mirrorDir` (every start loads it anew, so nothing stale survives a
 * restart), and follows the change log from the snapshot it loaded.
 */
import { rmSync } from "node:fs";
import type { Sql } from "postgres";
import type { Runtime } from "../../runtime/index.ts";
import { openDatabase, type OpenedDatabase } from "../open.ts";
import { migratePostgres } from "../pg/migrate.ts";
import { createSqliteStore } from "../sqlite-store.ts";
import { openClusterStore, type ClusterStore } from "./cluster-store.ts";

export interface SharedDatabaseOptions {
  sql: Sql;
  /** A directory of this instance's own; its mirror file is replaced at every start. */
  mirrorDir: string;
  instanceId: string;
  freshnessMs: number;
  pollMs: number;
  onError: (err: unknown) => void;
}

export interface OpenedSharedDatabase {
  store: ClusterStore;
  /** The mirror: the request log's and the read worker's connections open this file. */
  mirror: OpenedDatabase;
  /** PostgreSQL migrations this start applied. */
  applied: number;
}

export async function openSharedDatabase(runtime: Runtime, options: SharedDatabaseOptions): Promise<OpenedSharedDatabase> {
  const applied = await migratePostgres(options.sql);
  for (const suffix of ["", "-wal", "-shm", "-journal"]) rmSync(`${options.mirrorDir}/keyward.db${suffix}`, { force: true });
  const mirror = openDatabase(runtime, options.mirrorDir);
  const local = createSqliteStore(mirror.db, () => mirror.client.close());
  try {
    const store = await openClusterStore({ ...options, mirror: mirror.client, local });
    return { store, mirror, applied };
  } catch (err) {
    local.close();
    throw err;
  }
}
