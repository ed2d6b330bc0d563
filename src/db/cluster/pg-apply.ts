/**
 * Applies captured row changes to PostgreSQL inside the writer's transaction:
 * upserts by primary key (never delete-and-insert, which would cascade) and
 * deletes by key. Columns an instance keeps for itself are written when a row
 * is created and never overwritten.
 */
import type { TransactionSql } from "postgres";
import type { RowChange } from "./capture.ts";
import { PG_CAST, toPgParam } from "./codec.ts";
import { mirroredTable, type MirroredTable } from "./tables.ts";

function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

const statements = new Map<string, string>();

function upsertSql(table: MirroredTable): string {
  const cached = statements.get(`upsert:${table.name}`);
  if (cached) return cached;
  const columns = table.columns.map((column) => quote(column.name)).join(", ");
  const values = table.columns.map((column, i) => `$${i + 1}::${PG_CAST[column.kind]}`).join(", ");
  const updatable = table.columns.filter((column) => !table.key.includes(column.name) && !table.localOnly.includes(column.name));
  const onConflict =
    updatable.length === 0 ? "DO NOTHING" : `DO UPDATE SET ${updatable.map((column) => `${quote(column.name)} = EXCLUDED.${quote(column.name)}`).join(", ")}`;
  const text = `INSERT INTO ${quote(table.name)} (${columns}) VALUES (${values}) ON CONFLICT (${table.key.map(quote).join(", ")}) ${onConflict}`;
  statements.set(`upsert:${table.name}`, text);
  return text;
}

function deleteSql(table: MirroredTable): string {
  const cached = statements.get(`delete:${table.name}`);
  if (cached) return cached;
  const kinds = new Map(table.columns.map((column) => [column.name, column.kind]));
  const where = table.key.map((name, i) => `${quote(name)} = $${i + 1}::${PG_CAST[kinds.get(name) ?? "text"]}`).join(" AND ");
  const text = `DELETE FROM ${quote(table.name)} WHERE ${where}`;
  statements.set(`delete:${table.name}`, text);
  return text;
}

/** Sends every statement at once: they run in order on the transaction's connection, in one round trip's time. */
export async function applyToPostgres(tx: TransactionSql, changes: RowChange[]): Promise<void> {
  const pending = changes.map((change) => {
    const table = mirroredTable(change.table);
    if (change.op === "delete") {
      const kinds = new Map(table.columns.map((column) => [column.name, column.kind]));
      return tx.unsafe(
        deleteSql(table),
        table.key.map((name) => toPgParam(kinds.get(name) ?? "text", change.row[name]) as never),
      );
    }
    return tx.unsafe(
      upsertSql(table),
      table.columns.map((column) => toPgParam(column.kind, change.row[column.name]) as never),
    );
  });
  await Promise.all(pending);
}
