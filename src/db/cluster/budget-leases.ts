/**
 * Budget slices granted by PostgreSQL. A grant locks the key's or team's row
 * (`SELECT … FOR UPDATE`), so grants for one budget are serialised across
 * instances, and keeps: closed spend + Σ max(granted, used) over the open
 * slices ≤ budget. Slices of instances no longer live (no heartbeat within
 * the dead-after bound) are closed whole first: what such an instance may
 * have spent is taken as spent, so a crash underspends, never overspends.
 */
import type { Sql, TransactionSql } from "postgres";
import type { BudgetLeases, LeaseAnswer, LeaseRequest, LeaseSubject, LeaseUsage } from "../leases.ts";
import { PG_NOW_MS } from "./sync.ts";

const TABLE = { key: "proxy_keys", team: "teams" } as const;

interface SubjectRow {
  budget_micros: number | null;
  spend_micros: number;
  period_started_at: number;
}

interface LeaseRow {
  instance_id: string;
  granted_micros: number;
  used_micros: number;
}

export interface PgBudgetLeasesOptions {
  instanceId: string;
  /** An instance silent this long is presumed dead, and its slices are taken as spent. */
  deadAfterMs: number;
}

export class PgBudgetLeases implements BudgetLeases {
  constructor(
    private readonly sql: Sql,
    private readonly options: PgBudgetLeasesOptions,
  ) {}

  grant(request: LeaseRequest): Promise<LeaseAnswer> {
    return this.sql.begin(async (tx) => {
      const subject = await this.lockSubject(tx, request);
      if (!subject) return { grantedMicros: 0, outsideMicros: 0, spentOutsideMicros: 0, budgetMicros: 0 };
      await this.burnDead(tx, request);
      const leases = await tx<LeaseRow[]>`
        SELECT instance_id, granted_micros, used_micros FROM budget_leases
        WHERE holder = ${request.holder} AND subject_id = ${request.id} AND period_started_at = ${request.periodStartedAt}`;
      let outside = subject.spend_micros;
      let spentOutside = subject.spend_micros;
      let mine: LeaseRow | undefined;
      for (const lease of leases) {
        if (lease.instance_id === this.options.instanceId) mine = lease;
        else {
          outside += Math.max(lease.granted_micros, lease.used_micros);
          spentOutside += lease.used_micros;
        }
      }
      const used = Math.max(request.usedMicros, mine?.used_micros ?? 0);
      const budget = subject.budget_micros;
      // No budget (removed meanwhile): the whole wish, which nothing counts against.
      const room = budget === null ? request.wantMicros : Math.max(0, budget - outside);
      // Never more than the room, even below this instance's earlier grant: the budget may have been lowered
      // since (what is in flight here was admitted before, and counts through `used` when it settles).
      const granted = Math.max(0, Math.min(request.wantMicros, room));
      await tx.unsafe(
        `INSERT INTO budget_leases (holder, subject_id, instance_id, period_started_at, granted_micros, used_micros, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, ${PG_NOW_MS})
         ON CONFLICT (holder, subject_id, instance_id) DO UPDATE SET
           period_started_at = EXCLUDED.period_started_at, granted_micros = EXCLUDED.granted_micros,
           used_micros = EXCLUDED.used_micros, updated_at = EXCLUDED.updated_at`,
        [request.holder, request.id, this.options.instanceId, request.periodStartedAt, granted, used],
      );
      return { grantedMicros: granted, outsideMicros: outside, spentOutsideMicros: spentOutside, budgetMicros: budget };
    });
  }

  /**
   * The subject's row, locked, in the request's period: a newer period starts
   * from nothing and drops the old period's slices; a request for an older
   * period than the row's (a clock behind the others) gets no grant.
   */
  private async lockSubject(tx: TransactionSql, request: LeaseRequest): Promise<SubjectRow | undefined> {
    const table = TABLE[request.holder];
    const [row] = await tx.unsafe<SubjectRow[]>(`SELECT budget_micros, spend_micros, period_started_at FROM ${table} WHERE id = $1 FOR UPDATE`, [request.id]);
    if (!row || row.period_started_at > request.periodStartedAt) return undefined;
    if (row.period_started_at < request.periodStartedAt) {
      await tx.unsafe(`UPDATE ${table} SET spend_micros = 0, period_started_at = $2 WHERE id = $1`, [request.id, request.periodStartedAt]);
      await tx`DELETE FROM budget_leases WHERE holder = ${request.holder} AND subject_id = ${request.id} AND period_started_at < ${request.periodStartedAt}`;
      return { ...row, spend_micros: 0, period_started_at: request.periodStartedAt };
    }
    return row;
  }

  /** Closes, whole, the subject's slices held by instances that stopped answering. */
  private async burnDead(tx: TransactionSql, request: LeaseRequest): Promise<void> {
    const dead = await tx.unsafe<LeaseRow[]>(
      `DELETE FROM budget_leases l
       WHERE l.holder = $1 AND l.subject_id = $2 AND l.period_started_at = $3 AND l.instance_id <> $4
         AND NOT EXISTS (SELECT 1 FROM cluster_instances i WHERE i.id = l.instance_id AND i.seen_at > ${PG_NOW_MS} - $5)
       RETURNING l.instance_id, l.granted_micros, l.used_micros`,
      [request.holder, request.id, request.periodStartedAt, this.options.instanceId, this.options.deadAfterMs],
    );
    const burnt = dead.reduce((sum, lease) => sum + Math.max(lease.granted_micros, lease.used_micros), 0);
    if (burnt > 0) await tx.unsafe(`UPDATE ${TABLE[request.holder]} SET spend_micros = spend_micros + $2 WHERE id = $1`, [request.id, burnt]);
  }

  async report(usage: LeaseUsage[]): Promise<void> {
    if (usage.length === 0) return;
    await this.sql.begin(async (tx) => {
      for (const entry of usage) {
        await tx`UPDATE budget_leases SET used_micros = GREATEST(used_micros, ${entry.usedMicros}), updated_at = ${tx.unsafe(PG_NOW_MS)}
                 WHERE holder = ${entry.holder} AND subject_id = ${entry.id} AND instance_id = ${this.options.instanceId}
                   AND period_started_at = ${entry.periodStartedAt}`;
      }
    });
  }

  async spentElsewhere(subjects: LeaseSubject[]): Promise<Map<string, number>> {
    const spent = new Map<string, number>();
    for (const holder of ["key", "team"] as const) {
      const mine = subjects.filter((subject) => subject.holder === holder);
      if (mine.length === 0) continue;
      const rows = await this.sql.unsafe<{ id: string; spent: number }[]>(
        `SELECT s.id, (CASE WHEN s.period_started_at = w.period THEN s.spend_micros ELSE 0 END)
                  + coalesce((SELECT sum(l.used_micros) FROM budget_leases l
                              WHERE l.holder = $1 AND l.subject_id = s.id AND l.period_started_at = w.period AND l.instance_id <> $2), 0)::int8 AS spent
         FROM unnest($3::text[], $4::int8[]) AS w(id, period) JOIN ${TABLE[holder]} s ON s.id = w.id`,
        [holder, this.options.instanceId, mine.map((subject) => subject.id), mine.map((subject) => subject.periodStartedAt)],
      );
      for (const row of rows) spent.set(row.id, row.spent);
    }
    return spent;
  }

  async close(usage: LeaseUsage[]): Promise<void> {
    for (const entry of usage) {
      // One transaction per slice, locking the subject first like a grant: no lock-order cycle with grants.
      await this.sql.begin(async (tx) => {
        const table = TABLE[entry.holder];
        await tx.unsafe(`SELECT 1 FROM ${table} WHERE id = $1 FOR UPDATE`, [entry.id]);
        const [lease] = await tx<LeaseRow[]>`
          DELETE FROM budget_leases WHERE holder = ${entry.holder} AND subject_id = ${entry.id} AND instance_id = ${this.options.instanceId}
            AND period_started_at = ${entry.periodStartedAt}
          RETURNING instance_id, granted_micros, used_micros`;
        if (!lease) return;
        const used = Math.max(entry.usedMicros, lease.used_micros);
        await tx.unsafe(`UPDATE ${table} SET spend_micros = spend_micros + $2 WHERE id = $1 AND period_started_at = $3`, [
          entry.id,
          used,
          entry.periodStartedAt,
        ]);
      });
    }
  }
}
