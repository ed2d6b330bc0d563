/**
 * One instance among those sharing the database does the work that must
 * happen once, not once per instance: delivering webhooks (an event posted
 * by every instance would reach receivers several times) and pruning the
 * change log. Leadership is a session advisory lock held on one reserved
 * connection: it ends with that connection, so an instance that dies or
 * loses PostgreSQL gives it up, and another takes it at its next try.
 */
import type { ReservedSql, Sql } from "postgres";
import { PG_NOW_MS } from "./sync.ts";

/** "keyward\x02" as an int8: apart from the migrations' lock. */
const LEADER_LOCK_KEY = "7738725088349021186";
/** Change-log entries kept at least this long: an instance that fell further behind restarts and loads anew. */
const CHANGE_LOG_KEEP_MS = 24 * 3_600_000;
const PRUNE_EVERY_MS = 3_600_000;

export class Leadership {
  private connection: ReservedSql | undefined;
  private leading = false;
  private lastPrune = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly sql: Sql,
    private readonly onError: (err: unknown) => void,
  ) {}

  isLeader(): boolean {
    return this.leading;
  }

  /** Tries to become (or checks it still is) the leader; on a lost connection it is not, until a later try succeeds. */
  async refresh(): Promise<void> {
    try {
      this.connection ??= await this.sql.reserve();
      if (!this.leading) {
        const [row] = await this.connection<{ locked: boolean }[]>`SELECT pg_try_advisory_lock(${LEADER_LOCK_KEY}::int8) AS locked`;
        this.leading = row?.locked === true;
      } else {
        await this.connection`SELECT 1`;
      }
      if (this.leading && performance.now() - this.lastPrune > PRUNE_EVERY_MS) {
        this.lastPrune = performance.now();
        await this.pruneChangeLog();
      }
    } catch (err) {
      this.leading = false;
      this.connection?.release();
      this.connection = undefined;
      this.onError(err);
    }
  }

  /** Entries every live instance applied and older than a day: nobody reads them again. */
  private async pruneChangeLog(): Promise<void> {
    await this.sql.unsafe(
      `DELETE FROM change_log WHERE created_at < ${PG_NOW_MS} - $1
         AND version < (SELECT coalesce(min(acked_version), 0) FROM cluster_instances)`,
      [CHANGE_LOG_KEEP_MS],
    );
  }

  async stop(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    this.leading = false;
    if (!connection) return;
    await connection`SELECT pg_advisory_unlock_all()`.catch(() => {});
    connection.release();
  }
}
