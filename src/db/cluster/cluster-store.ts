/**
 * The store of an instance that shares its vault with others through
 * PostgreSQL. Reads never leave the process: they run on a local SQLite
 * mirror of the vault, kept current from the change log (sync.ts), so the
 * proxy makes no database round trip per request. A vault write runs the
 * caller's synchronous function on the mirror, captures the rows it changed
 * and rolls it back; then, in one PostgreSQL transaction that holds the
 * vault's version row, checks that the mirror was current, applies the rows,
 * bumps the version and appends them to the change log. Only after that
 * commit does the mirror take the rows. When another instance wrote first,
 * the mirror catches up and the function runs again: writes are serialised
 * across the cluster, and each was decided on the state it commits onto.
 */
import type { Sql } from "postgres";
import type { SqliteClient } from "../../runtime/types.ts";
import { StorageUnavailableError } from "../errors.ts";
import { createPgRequestLog } from "../pg/request-log.ts";
import type { SharedState, Store } from "../store.ts";
import { clearCapture, installCapture, peekChanges, type RowChange } from "./capture.ts";
import type { AppliedChange } from "./local-apply.ts";
import { Leadership } from "./leader.ts";
import { loadMirror } from "./load.ts";
import { PgBudgetLeases } from "./budget-leases.ts";
import { applyToPostgres } from "./pg-apply.ts";
import { CHANGES_CHANNEL, ChangeSync, PG_NOW_MS } from "./sync.ts";
import { MIRRORED_TABLES } from "./tables.ts";

export interface ClusterOptions {
  sql: Sql;
  /** The mirror: an empty, migrated SQLite database of this instance's own. */
  mirror: SqliteClient;
  /** A store over `mirror` (reads, and the writes the caller's functions make). */
  local: Store;
  instanceId: string;
  freshnessMs: number;
  pollMs: number;
  onError: (err: unknown) => void;
}

/** What a cluster store adds to `Store`'s shared state. */
export interface ClusterState extends SharedState {
  version(): number;
  /** Stops following the log and leaves the cluster (the instance row is deleted). */
  stop(): Promise<void>;
}

export type ClusterStore = Store & { shared: ClusterState };

/** Thrown to end the dry run's transaction: drizzle rolls back on any error. */
class Rollback extends Error {}
const MAX_ATTEMPTS = 8;

/** A synchronous function's result and the rows it changed, with the mirror left as it was. */
function dryRun<T>(local: Store, mirror: SqliteClient, fn: (store: Store) => T): { result: T; changes: RowChange[] } {
  let outcome: { result: T; changes: RowChange[] } | undefined;
  try {
    local.transaction((tx) => {
      const result = fn(tx);
      outcome = { result, changes: peekChanges(mirror) };
      throw new Rollback();
    });
  } catch (err) {
    if (!(err instanceof Rollback)) throw err;
  } finally {
    clearCapture(mirror);
  }
  if (!outcome) throw new Error("Cannot write: the transaction ended without a result");
  return outcome;
}

export async function openClusterStore(options: ClusterOptions): Promise<ClusterStore> {
  const { sql, mirror, local, instanceId } = options;
  installCapture(mirror, MIRRORED_TABLES);
  const listeners = new Set<(changes: AppliedChange[]) => void>();
  const leadership = new Leadership(sql, options.onError);
  const sync = new ChangeSync({
    onRead: () => leadership.refresh(),
    sql,
    mirror,
    instanceId,
    freshnessMs: options.freshnessMs,
    pollMs: options.pollMs,
    onError: options.onError,
    onApplied: (changes) => {
      for (const listener of listeners) listener(changes);
    },
  });
  const version = await loadMirror(sql, mirror);
  await sync.start(version);

  let queue: Promise<unknown> = Promise.resolve();

  async function commit<T>(fn: (store: Store) => T): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      await sync.poke();
      const base = sync.version;
      const { result, changes } = dryRun(local, mirror, fn);
      if (changes.length === 0) return result;
      const next = base + 1;
      let committed: boolean;
      try {
        committed = await sql.begin(async (tx) => {
          const [state] = await tx<{ version: string | number }[]>`SELECT version FROM cluster_state WHERE id = 1 FOR UPDATE`;
          if (Number(state?.version) !== base) return false;
          await applyToPostgres(tx, changes);
          await tx`UPDATE cluster_state SET version = ${next} WHERE id = 1`;
          await tx`INSERT INTO change_log (version, instance_id, changes, created_at)
                   VALUES (${next}, ${instanceId}, ${tx.json(changes)}, ${tx.unsafe(PG_NOW_MS)})`;
          await tx`SELECT pg_notify(${CHANGES_CHANNEL}, ${String(next)})`;
          return true;
        });
      } catch (err) {
        throw new StorageUnavailableError("Cannot write to the shared database: PostgreSQL did not commit the change", { cause: err });
      }
      if (committed) {
        const committedAt = performance.now();
        sync.applyCommitted(next, changes);
        await sync.waitForAcks(next, committedAt);
        return result;
      }
      if (attempt >= MAX_ATTEMPTS) throw new StorageUnavailableError(`Cannot write to the shared database: ${attempt} attempts met newer writes`);
    }
  }

  const store: ClusterStore = {
    ...local,
    // One write at a time per instance: each is decided on the mirror it will commit onto.
    write: <T>(fn: (tx: Store) => T): Promise<T> => {
      const run = queue.then(() => commit(fn));
      queue = run.catch(() => {});
      return run;
    },
    ping: () => local.ping() && sync.isFresh(),
    close: () => {
      void sync
        .stop()
        .then(() => leadership.stop())
        .finally(() => local.close());
    },
    shared: {
      instanceId,
      log: createPgRequestLog(sql),
      // Past three freshness bounds silent, an instance has refused every key for two of them: its slices can be taken as spent.
      leases: new PgBudgetLeases(sql, { instanceId, deadAfterMs: sync.deadAfterMs }),
      rateShare: (limit) => sync.rateShare(limit),
      isLeader: () => leadership.isLeader() && sync.isFresh(),
      isFresh: () => sync.isFresh(),
      version: () => sync.version,
      onRemoteChange: (listener) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      stop: async () => {
        await sync.stop();
        await leadership.stop();
      },
    },
  };
  return store;
}
