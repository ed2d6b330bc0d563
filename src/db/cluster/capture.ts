/**
 * Captures every row a vault write changes on the mirror, as SQLite itself
 * saw it: temporary triggers (they fire only for the connection that made
 * them, so the log worker's and read worker's connections are not captured)
 * append each inserted or updated row's image, and each deleted row's key, to
 * a temporary table. Bulk statements and foreign-key cascades are captured
 * the same way, so no repository has to report what it changed.
 */
import type { SqliteClient } from "../../runtime/types.ts";
import type { MirroredTable } from "./tables.ts";

/** One row changed: its whole image for an upsert, its key columns for a delete. Blobs are hex text. */
export interface RowChange {
  table: string;
  op: "upsert" | "delete";
  row: Record<string, unknown>;
}

const CHANGES = "temp.kw_changes";

function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function imageOf(table: MirroredTable, columns: string[], alias: "NEW" | "OLD"): string {
  const kinds = new Map(table.columns.map((column) => [column.name, column.kind]));
  const pairs = columns.map((name) => {
    const value = `${alias}.${quote(name)}`;
    return `'${name}', ${kinds.get(name) === "blob" ? `hex(${value})` : value}`;
  });
  return `json_object(${pairs.join(", ")})`;
}

/** Creates the capture table and triggers on this connection; idempotent. */
export function installCapture(client: SqliteClient, tables: MirroredTable[]): void {
  client.exec(`CREATE TEMP TABLE IF NOT EXISTS kw_changes (seq INTEGER PRIMARY KEY, tbl TEXT NOT NULL, op TEXT NOT NULL, row TEXT NOT NULL)`);
  for (const table of tables) {
    const all = table.columns.map((column) => column.name);
    const upsert = (event: "INSERT" | "UPDATE") =>
      `CREATE TEMP TRIGGER IF NOT EXISTS ${quote(`kw_capture_${table.name}_${event.toLowerCase()}`)} AFTER ${event} ON main.${quote(table.name)} ` +
      `BEGIN INSERT INTO ${CHANGES} (tbl, op, row) VALUES ('${table.name}', 'upsert', ${imageOf(table, all, "NEW")}); END`;
    client.exec(upsert("INSERT"));
    client.exec(upsert("UPDATE"));
    client.exec(
      `CREATE TEMP TRIGGER IF NOT EXISTS ${quote(`kw_capture_${table.name}_delete`)} AFTER DELETE ON main.${quote(table.name)} ` +
        `BEGIN INSERT INTO ${CHANGES} (tbl, op, row) VALUES ('${table.name}', 'delete', ${imageOf(table, table.key, "OLD")}); END`,
    );
  }
}

/** Forgets what was captured: after applying changes that are already committed elsewhere. */
export function clearCapture(client: SqliteClient): void {
  client.exec(`DELETE FROM ${CHANGES}`);
}

/** Reads what was captured without forgetting it (inside a transaction about to be rolled back). */
export function peekChanges(client: SqliteClient): RowChange[] {
  const rows = client.prepare(`SELECT tbl, op, row FROM ${CHANGES} ORDER BY seq`).values() as [string, "upsert" | "delete", string][];
  return rows.map(([table, op, row]) => ({ table, op, row: JSON.parse(row) as Record<string, unknown> }));
}
