/**
 * The tables an instance mirrors from PostgreSQL: everything that describes
 * the vault (keys, tokens, teams, policies, prices, webhooks, the alerts and
 * audit trail). Not mirrored: the request log and its rollups (written to
 * PostgreSQL in batches, read from there) and budget ceilings (leases replace
 * them). The shapes come from the SQLite schema, so a column added there is
 * mirrored without another list to keep.
 */
import { getTableConfig, type SQLiteTable } from "drizzle-orm/sqlite-core";
import * as schema from "../schema.ts";

/** How a column's SQLite value maps onto PostgreSQL and back. */
export type ColumnKind = "text" | "integer" | "boolean" | "json" | "blob" | "real";

export interface MirroredColumn {
  name: string;
  kind: ColumnKind;
}

export interface MirroredTable {
  name: string;
  columns: MirroredColumn[];
  /** Primary-key column names. */
  key: string[];
  /**
   * Columns each instance keeps for itself: spend, which the budget ledger of
   * every instance owns. A change from elsewhere never overwrites them, and
   * PostgreSQL keeps what the row was created with.
   */
  localOnly: string[];
}

function kindOf(columnType: string): ColumnKind {
  switch (columnType) {
    case "SQLiteText":
      return "text";
    case "SQLiteTextJson":
      return "json";
    case "SQLiteBoolean":
      return "boolean";
    case "SQLiteBlobBuffer":
      return "blob";
    case "SQLiteReal":
      return "real";
    case "SQLiteInteger":
      return "integer";
    default:
      throw new Error(`Cannot mirror column type ${columnType}: add it to src/db/cluster/tables.ts`);
  }
}

function shape(table: SQLiteTable, localOnly: string[] = []): MirroredTable {
  const config = getTableConfig(table);
  const compositeKey = config.primaryKeys[0]?.columns.map((column) => column.name);
  const key = compositeKey ?? config.columns.filter((column) => column.primary).map((column) => column.name);
  if (key.length === 0) throw new Error(`Cannot mirror table ${config.name}: it has no primary key`);
  return { name: config.name, columns: config.columns.map((column) => ({ name: column.name, kind: kindOf(column.columnType) })), key, localOnly };
}

const SPEND = ["spend_micros", "period_started_at"];

/** Parents before children: loading in this order satisfies every foreign key. */
export const MIRRORED_TABLES: MirroredTable[] = [
  shape(schema.providerKeys),
  shape(schema.teams, SPEND),
  shape(schema.webhooks),
  shape(schema.adminTokens),
  shape(schema.proxyKeys, SPEND),
  shape(schema.oidcTrustPolicies),
  shape(schema.storedObjects),
  shape(schema.checkedBatchFiles),
  shape(schema.batchCharges),
  shape(schema.webhookOutbox),
  shape(schema.alertsSent),
  shape(schema.auditLog),
  shape(schema.meta),
  shape(schema.prices),
];

export const MIRRORED_BY_NAME = new Map(MIRRORED_TABLES.map((table) => [table.name, table]));

export function mirroredTable(name: string): MirroredTable {
  const table = MIRRORED_BY_NAME.get(name);
  if (!table) throw new Error(`Cannot apply a change to table ${name}: it is not mirrored`);
  return table;
}
