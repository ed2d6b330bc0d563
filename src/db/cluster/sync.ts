/**
 * Keeps the mirror current with the change log and says how current it is.
 *
 * Every vault write bumps a one-row version inside its transaction, so
 * version order is commit order, and appends its row images to the change
 * log. This instance reads the log from its own version on (every `pollMs`,
 * and at once when a NOTIFY says there is more; a lost NOTIFY only delays to
 * the next poll), then acknowledges the version it holds in its instance row.
 *
 * Freshness: a read of the log that started at time t and succeeded shows
 * every write committed before t, so the instance is current as of t. It
 * counts as fresh until t + `freshnessMs`; past that, it must not answer for
 * limited keys (it may have missed a revocation) and it is not ready. A
 * writer waits for every live instance's acknowledgement, or for
 * `freshnessMs` after its commit, whichever is first: by then every instance
 * has either applied the write or stopped serving.
 */
import type { Sql } from "postgres";
import type { SqliteClient } from "../../runtime/types.ts";
import { clearCapture, type RowChange } from "./capture.ts";
import { MirrorWriter, type AppliedChange } from "./local-apply.ts";

/** PostgreSQL's own clock in ms, so instances with skewed clocks still agree on who is live. */
export const PG_NOW_MS = "(extract(epoch from clock_timestamp()) * 1000)::int8";
export const CHANGES_CHANNEL = "keyward_vault_changes";

export interface SyncOptions {
  sql: Sql;
  mirror: SqliteClient;
  instanceId: string;
  /** How long a successful read of the change log vouches for this instance's state. */
  freshnessMs: number;
  /** How often the change log is read when no NOTIFY arrives. */
  pollMs: number;
  /** Called after each successful read of the log (leadership rides on the same beat). */
  onRead?: () => Promise<void>;
  /** Told about every change applied from elsewhere, after it is applied. */
  onApplied: (changes: AppliedChange[]) => void;
  onError: (err: unknown) => void;
}

/** Instances alive as of the last read of the log, by PostgreSQL's clock. */
interface Membership {
  members: { id: string; startedAt: number }[];
  /** PostgreSQL's time when it was read, and this process's monotonic time then. */
  pgNow: number;
  readAt: number;
}

export class ChangeSync {
  private versionHeld = 0;
  private membership: Membership | undefined;
  private freshUntil = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private unlisten: (() => Promise<void>) | undefined;
  private readonly writer: MirrorWriter;

  constructor(private readonly options: SyncOptions) {
    this.writer = new MirrorWriter(options.mirror);
  }

  get version(): number {
    return this.versionHeld;
  }

  isFresh(now = performance.now()): boolean {
    return now < this.freshUntil;
  }

  /** Registers this instance and starts following the log from `version` (the loaded snapshot's). */
  async start(version: number): Promise<void> {
    this.versionHeld = version;
    const { sql, instanceId } = this.options;
    const startedAt = performance.now();
    await sql.unsafe(
      `INSERT INTO cluster_instances (id, started_at, seen_at, acked_version) VALUES ($1, ${PG_NOW_MS}, ${PG_NOW_MS}, $2)
       ON CONFLICT (id) DO UPDATE SET seen_at = EXCLUDED.seen_at, acked_version = EXCLUDED.acked_version`,
      [instanceId, version],
    );
    const listening = await sql.listen(CHANGES_CHANNEL, () => void this.poke());
    this.unlisten = () => listening.unlisten();
    this.freshUntil = startedAt + this.options.freshnessMs;
    await this.poke();
  }

  /** Reads the log now (coalescing calls that arrive while a read runs) and re-arms the timer. */
  poke(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.readOnce();
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.running = undefined;
      if (!this.stopped) {
        clearTimeout(this.timer);
        this.timer = setTimeout(() => void this.poke(), this.options.pollMs);
      }
    });
    return this.running;
  }

  private async readOnce(): Promise<void> {
    const { sql, instanceId } = this.options;
    const startedAt = performance.now();
    try {
      const rows = await sql<{ version: string | number; changes: RowChange[] }[]>`
        SELECT version, changes FROM change_log WHERE version > ${this.versionHeld} ORDER BY version`;
      for (const row of rows) this.applyCommitted(Number(row.version), row.changes);
      const members = await sql.unsafe<{ id: string; started_at: number; now: number }[]>(
        `WITH me AS (UPDATE cluster_instances SET seen_at = ${PG_NOW_MS}, acked_version = $2 WHERE id = $1)
         SELECT id, started_at, ${PG_NOW_MS} AS now FROM cluster_instances WHERE seen_at > ${PG_NOW_MS} - $3 OR id = $1 ORDER BY id`,
        [instanceId, this.versionHeld, this.deadAfterMs],
      );
      this.membership = {
        members: members.map((member) => ({ id: member.id, startedAt: member.started_at })),
        pgNow: members[0]?.now ?? 0,
        readAt: performance.now(),
      };
      this.freshUntil = Math.max(this.freshUntil, startedAt + this.options.freshnessMs);
      await this.options.onRead?.();
    } catch (err) {
      this.options.onError(err);
    }
  }

  /** An instance silent this long is presumed dead: its budget slices are taken as spent, its rate shares go to the others. */
  get deadAfterMs(): number {
    return 3 * this.options.freshnessMs;
  }

  /**
   * This instance's share of a rate or concurrency limit. Live instances split
   * each limit by rank, the shares summing to the limit. An instance counts
   * for the others once it has been up `freshnessMs` (each of them has read
   * the log since, or is stale and serves nothing), and takes its own share
   * only after `2 × freshnessMs`, when every other has lowered its own.
   * A departed instance's share goes to the others once it is presumed dead
   * (a clean stop deletes its row at once). Alone, an instance has the whole
   * limit at once: an instance joining later waits for it to make room.
   */
  rateShare(limit: number): number {
    const view = this.membership;
    if (!view) return 0;
    const { freshnessMs } = this.options;
    const pgNow = view.pgNow + (performance.now() - view.readAt);
    const me = view.members.find((member) => member.id === this.options.instanceId);
    if (!me) return 0;
    if (view.members.length === 1) return limit;
    if (me.startedAt > pgNow - 2 * freshnessMs) return 0;
    const counted = view.members.filter((member) => member.startedAt <= pgNow - freshnessMs);
    const rank = counted.indexOf(me);
    const n = counted.length;
    return Math.floor(limit / n) + (rank < limit % n ? 1 : 0);
  }

  /**
   * Applies one committed version's changes unless the mirror already holds
   * it (a writer's own change can arrive by both ways). Versions arrive in
   * order, so skipping what is held never skips a change.
   */
  applyCommitted(version: number, changes: RowChange[]): void {
    if (version <= this.versionHeld) return;
    if (version !== this.versionHeld + 1) throw new Error(`Cannot follow the change log: version ${version} follows ${this.versionHeld}`);
    const applied = this.writer.apply(changes);
    clearCapture(this.options.mirror);
    this.versionHeld = version;
    this.options.onApplied(applied);
  }

  /**
   * Resolves once every other live instance acknowledged `version`, or once
   * `freshnessMs` passed since `committedAt` (an instance that has not read
   * the log by then is no longer fresh, so it refuses what the write changed).
   */
  async waitForAcks(version: number, committedAt: number): Promise<void> {
    const { sql, instanceId, freshnessMs } = this.options;
    for (let pause = 2; performance.now() < committedAt + freshnessMs; pause = Math.min(pause * 2, 50)) {
      try {
        const [row] = await sql.unsafe<{ behind: string | number }[]>(
          `SELECT count(*) AS behind FROM cluster_instances WHERE id <> $1 AND acked_version < $2 AND seen_at > ${PG_NOW_MS} - $3`,
          [instanceId, version, freshnessMs],
        );
        if (Number(row?.behind ?? 0) === 0) return;
      } catch (err) {
        this.options.onError(err);
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    await this.unlisten?.().catch(() => {});
    await this.options.sql.unsafe(`DELETE FROM cluster_instances WHERE id = $1`, [this.options.instanceId]).catch(() => {});
  }
}
