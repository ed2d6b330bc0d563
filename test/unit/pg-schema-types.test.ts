/**
 * The PostgreSQL schema is the SQLite one's twin: the same tables, columns,
 * keys, indexes and foreign keys, and row types that are the same TypeScript
 * types, so one store's code and callers' types serve both backends. The
 * type half fails `tsc`; the runtime half fails here.
 */
import { describe, expect, test } from "bun:test";
import { getTableConfig as pgConfig, PgTable } from "drizzle-orm/pg-core";
import { getTableConfig as sqliteConfig, SQLiteTable } from "drizzle-orm/sqlite-core";
import * as pg from "../../src/db/pg/schema.ts";
import * as sqlite from "../../src/db/schema.ts";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

type SharedTable = keyof typeof sqlite;

/** For each SQLite table: are the row types of the two schemas the same type? */
type RowsAgree = { [K in SharedTable]: Equal<(typeof sqlite)[K]["$inferSelect"], (typeof pg)[K]["$inferSelect"]> };

// A `false` here names the table whose rows differ; a table missing here (or from pg) fails too.
const rowsAgree: RowsAgree = {
  providerKeys: true,
  teams: true,
  teamBudgetCeilings: true,
  webhooks: true,
  webhookOutbox: true,
  alertsSent: true,
  proxyKeys: true,
  adminTokens: true,
  auditLog: true,
  meta: true,
  prices: true,
  requestLog: true,
  requestLogHours: true,
  usageRollups: true,
  budgetCeilings: true,
  storedObjects: true,
  oidcTrustPolicies: true,
  checkedBatchFiles: true,
  batchCharges: true,
};

const sqliteTables: [string, SQLiteTable][] = Object.entries(sqlite).flatMap(([name, table]) => (table instanceof SQLiteTable ? [[name, table]] : []));
const pgTables = new Map<string, PgTable>(Object.entries(pg).flatMap(([name, table]) => (table instanceof PgTable ? [[name, table]] : [])));

function pgTwin(exportName: string): PgTable {
  const table = pgTables.get(exportName);
  if (!table) throw new Error(`src/db/pg/schema.ts has no ${exportName}`);
  return table;
}

// A request-log filter index ends with the id in PostgreSQL: SQLite's ends with it implicitly (the rowid).
const IMPLICIT_ROWID_INDEXES = new Set(["request_log_proxy_key_idx", "request_log_provider_key_idx", "request_log_model_idx", "request_log_status_idx"]);

/**
 * SQLite fills an integer primary key nobody gave (it is the rowid), so drizzle says it has a default;
 * keyward always gives one (`request_log_hours.hour`), and PostgreSQL has no such default.
 */
const isRowidAlias = (c: object) => "primary" in c && c.primary === true && "autoIncrement" in c && c.autoIncrement === false;

const columnName = (c: unknown) => (c && typeof c === "object" && "name" in c ? String(c.name) : "(expression)");

describe("the PostgreSQL schema", () => {
  test("the row types of every shared table agree (checked by tsc)", () => {
    expect(Object.keys(rowsAgree).sort()).toEqual(sqliteTables.map(([name]) => name).sort());
    expect(Object.values(rowsAgree).every((v) => v === true)).toBe(true);
  });

  test("every SQLite table has a PostgreSQL twin of the same name, and PostgreSQL adds only the cluster's tables", () => {
    for (const [exportName, table] of sqliteTables) expect(getTableName(pgTwin(exportName))).toBe(sqliteConfig(table).name);
    const extra = [...pgTables.keys()].filter((k) => !(k in sqlite)).sort();
    expect(extra).toEqual(["budgetLeases", "changeLog", "clusterInstances", "clusterState"]);
  });

  for (const [exportName, table] of sqliteTables) {
    const lite = sqliteConfig(table);
    test(`${lite.name}: columns, keys, indexes and foreign keys`, () => {
      const twin = pgConfig(pgTwin(exportName));
      const columns = (cs: readonly { name: string; notNull: boolean; primary: boolean; isUnique: boolean; hasDefault: boolean }[]) =>
        cs.map((c) => ({ name: c.name, notNull: c.notNull, primary: c.primary, unique: c.isUnique, hasDefault: c.hasDefault && !isRowidAlias(c) }));
      expect(columns(twin.columns)).toEqual(columns(lite.columns));
      expect(twin.primaryKeys.map((k) => k.columns.map((c) => c.name))).toEqual(lite.primaryKeys.map((k) => k.columns.map((c) => c.name)));
      expect(twin.uniqueConstraints.map((u) => u.columns.map((c) => c.name))).toEqual(lite.uniqueConstraints.map((u) => u.columns.map((c) => c.name)));

      const pgIndexes = twin.indexes.map((i) => {
        const cols = i.config.columns.map(columnName);
        return {
          name: i.config.name,
          columns: IMPLICIT_ROWID_INDEXES.has(i.config.name ?? "") ? cols.slice(0, -1) : cols,
          partial: i.config.where !== undefined,
        };
      });
      const liteIndexes = lite.indexes.map((i) => ({ name: i.config.name, columns: i.config.columns.map(columnName), partial: i.config.where !== undefined }));
      expect(pgIndexes).toEqual(liteIndexes);

      const keys = (
        fks: readonly { onDelete?: string; reference(): { columns: { name: string }[]; foreignColumns: { name: string }[]; foreignTable: unknown } }[],
      ) =>
        fks.map((fk) => {
          const ref = fk.reference();
          return {
            columns: ref.columns.map((c) => c.name),
            to: ref.foreignColumns.map((c) => `${tableNameOf(ref.foreignTable)}.${c.name}`),
            onDelete: fk.onDelete ?? "no action",
          };
        });
      expect(keys(twin.foreignKeys)).toEqual(keys(lite.foreignKeys));
    });
  }
});

function getTableName(table: PgTable): string {
  return pgConfig(table).name;
}

function tableNameOf(table: unknown): string {
  if (table instanceof PgTable) return pgConfig(table).name;
  if (table instanceof SQLiteTable) return sqliteConfig(table).name;
  return "(unknown)";
}
