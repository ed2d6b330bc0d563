/**
 * One column value in its three forms: as the mirror's capture writes it (a
 * row image: SQLite's own values, blobs as hex text), as a PostgreSQL
 * parameter, and back from a PostgreSQL row. Row images travel in the change
 * log as JSON, so every instance applies exactly what the writer's SQLite had.
 */
import { Buffer } from "node:buffer";
import type { ColumnKind, MirroredTable } from "./tables.ts";

/** A row image's blob: the hex text SQLite's `hex()` wrote. */
function fromHex(value: unknown): Buffer {
  if (typeof value !== "string") throw new Error("Cannot read a mirrored blob: it is not hex text");
  return Buffer.from(value, "hex");
}

/** The PostgreSQL type a parameter is cast to, so the server never guesses one. */
export const PG_CAST: Record<ColumnKind, string> = {
  text: "text",
  integer: "int8",
  boolean: "bool",
  json: "jsonb",
  blob: "bytea",
  real: "float8",
};

export function toPgParam(kind: ColumnKind, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  switch (kind) {
    case "boolean":
      return value === 1 || value === true;
    case "blob":
      return fromHex(value);
    case "integer":
    case "real":
      return Number(value);
    case "json":
    case "text":
      return value;
  }
}

/** A PostgreSQL value as the mirror's capture would have written it. */
export function fromPgValue(kind: ColumnKind, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  switch (kind) {
    case "boolean":
      return value === true ? 1 : 0;
    case "blob":
      return Buffer.from(value as Uint8Array).toString("hex");
    case "integer":
    case "real":
      return Number(value);
    case "json":
      return typeof value === "string" ? value : JSON.stringify(value);
    case "text":
      return value;
  }
}

/** A row image's value bound to a SQLite statement. */
export function toSqliteParam(kind: ColumnKind, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  return kind === "blob" ? new Uint8Array(fromHex(value)) : value;
}

/** A PostgreSQL row (column name → value) as a row image. */
export function imageFromPg(table: MirroredTable, row: Record<string, unknown>): Record<string, unknown> {
  const image: Record<string, unknown> = {};
  for (const column of table.columns) image[column.name] = fromPgValue(column.kind, row[column.name]);
  return image;
}
