/**
 * Applies row changes to this instance's mirror: changes another instance
 * committed (read from the change log), or this instance's own once they are
 * committed in PostgreSQL. Reports each row's image before and after, so the
 * caller can tell the proxy's caches what changed.
 */
import type { SqliteClient, SqliteStatement } from "../../runtime/types.ts";
import type { AppliedRow } from "../store.ts";
import type { RowChange } from "./capture.ts";
import { toSqliteParam } from "./codec.ts";
import { mirroredTable, type MirroredTable } from "./tables.ts";

/** One row as it was and as it is now (absent: it did not exist, or was deleted). */
export type AppliedChange = AppliedRow;

function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

interface TableStatements {
  select: SqliteStatement;
  upsert: SqliteStatement;
  delete: SqliteStatement;
}

export class MirrorWriter {
  private readonly prepared = new Map<string, TableStatements>();

  constructor(private readonly client: SqliteClient) {}

  private statementsFor(table: MirroredTable): TableStatements {
    let statements = this.prepared.get(table.name);
    if (statements) return statements;
    const where = table.key.map((name) => `${quote(name)} = ?`).join(" AND ");
    const columns = table.columns.map((column) => quote(column.name));
    const updatable = table.columns.filter((column) => !table.key.includes(column.name) && !table.localOnly.includes(column.name));
    const onConflict =
      updatable.length === 0 ? "DO NOTHING" : `DO UPDATE SET ${updatable.map((column) => `${quote(column.name)} = excluded.${quote(column.name)}`).join(", ")}`;
    statements = {
      select: this.client.prepare(`SELECT ${columns.join(", ")} FROM ${quote(table.name)} WHERE ${where}`),
      upsert: this.client.prepare(
        `INSERT INTO ${quote(table.name)} (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")}) ON CONFLICT (${table.key.map(quote).join(", ")}) ${onConflict}`,
      ),
      delete: this.client.prepare(`DELETE FROM ${quote(table.name)} WHERE ${where}`),
    };
    this.prepared.set(table.name, statements);
    return statements;
  }

  /** Applies `changes` in order, in one transaction. */
  apply(changes: RowChange[]): AppliedChange[] {
    const applied: AppliedChange[] = [];
    this.client
      .transaction(() => {
        for (const change of changes) applied.push(this.applyOne(change));
      })
      .immediate();
    return applied;
  }

  private applyOne(change: RowChange): AppliedChange {
    const table = mirroredTable(change.table);
    const statements = this.statementsFor(table);
    const kinds = new Map(table.columns.map((column) => [column.name, column.kind]));
    const keyParams = table.key.map((name) => toSqliteParam(kinds.get(name) ?? "text", change.row[name]));
    const key = Object.fromEntries(table.key.map((name) => [name, change.row[name]]));
    const before = statements.select.get(...keyParams) as Record<string, unknown> | null;
    if (change.op === "delete") {
      statements.delete.run(...keyParams);
      return { table: table.name, key, before: before ?? undefined };
    }
    statements.upsert.run(...table.columns.map((column) => toSqliteParam(column.kind, change.row[column.name])));
    const after = statements.select.get(...keyParams) as Record<string, unknown> | null;
    return { table: table.name, key, before: before ?? undefined, after: after ?? undefined };
  }
}
