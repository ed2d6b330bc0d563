/**
 * Tables only a PostgreSQL database has: what lets several keyward instances
 * share it. Every vault write bumps `cluster_state.version` (under
 * `SELECT … FOR UPDATE`, so version order is commit order) and appends what it
 * changed to `change_log` in the same transaction; instances poll the log past
 * the version they hold and say how far they got in `cluster_instances`.
 */
import { sql } from "drizzle-orm";
import { bigint, check, index, integer, jsonb, pgTable, primaryKey, text } from "drizzle-orm/pg-core";

/** The one-row counter. The migrator inserts its row; the check keeps it the only one. */
export const clusterState = pgTable(
  "cluster_state",
  {
    id: integer("id").primaryKey(),
    version: bigint("version", { mode: "number" }).notNull().default(0),
  },
  (table) => [check("cluster_state_one_row", sql`${table.id} = 1`)],
);

/** What each version changed, for instances catching up; pruned by age. */
export const changeLog = pgTable(
  "change_log",
  {
    version: bigint("version", { mode: "number" }).primaryKey(),
    instanceId: text("instance_id").notNull(),
    changes: jsonb("changes").notNull(),
    createdAt: bigint("created_at", { mode: "number" }).notNull(),
  },
  (table) => [index("change_log_created_idx").on(table.createdAt)],
);

/** Instances alive (by `seen_at`) and the newest version each has applied. */
export const clusterInstances = pgTable("cluster_instances", {
  id: text("id").primaryKey(),
  startedAt: bigint("started_at", { mode: "number" }).notNull(),
  seenAt: bigint("seen_at", { mode: "number" }).notNull(),
  ackedVersion: bigint("acked_version", { mode: "number" }).notNull().default(0),
});

/**
 * Each instance's slice of a budget (a proxy key's or a team's) in one period.
 * Granted under a lock on the key's or team's row, keeping its `spend_micros`
 * (the closed spend) plus every slice (the larger of granted and used) within
 * the budget. Closing a slice adds its use to the closed spend; the slice of
 * an instance presumed dead is closed whole.
 */
export const budgetLeases = pgTable(
  "budget_leases",
  {
    holder: text("holder").$type<"key" | "team">().notNull(),
    subjectId: text("subject_id").notNull(),
    instanceId: text("instance_id").notNull(),
    periodStartedAt: bigint("period_started_at", { mode: "number" }).notNull(),
    grantedMicros: bigint("granted_micros", { mode: "number" }).notNull(),
    usedMicros: bigint("used_micros", { mode: "number" }).notNull().default(0),
    updatedAt: bigint("updated_at", { mode: "number" }).notNull(),
  },
  (table) => [primaryKey({ columns: [table.holder, table.subjectId, table.instanceId] }), index("budget_leases_instance_idx").on(table.instanceId)],
);
