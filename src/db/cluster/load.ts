/**
 * Fills an empty mirror from PostgreSQL: every mirrored table, read in one
 * repeatable-read snapshot together with the vault's version, so the mirror
 * starts at exactly that version and the change log continues from it.
 */
import type { Sql } from "postgres";
import type { SqliteClient } from "../../runtime/types.ts";
import { clearCapture } from "./capture.ts";
import { imageFromPg } from "./codec.ts";
import { MirrorWriter } from "./local-apply.ts";
import { MIRRORED_TABLES } from "./tables.ts";

const LOAD_BATCH = 2000;

/** Returns the version the mirror now holds. */
export async function loadMirror(sql: Sql, client: SqliteClient): Promise<number> {
  const writer = new MirrorWriter(client);
  const version = await sql.begin("isolation level repeatable read read only", async (tx) => {
    const [state] = await tx<{ version: string | number }[]>`SELECT version FROM cluster_state WHERE id = 1`;
    for (const table of MIRRORED_TABLES) {
      const keyOrder = table.key.map((name) => `"${name}"`).join(", ");
      const cursor = tx.unsafe<Record<string, unknown>[]>(`SELECT * FROM "${table.name}" ORDER BY ${keyOrder}`).cursor(LOAD_BATCH);
      for await (const rows of cursor) {
        writer.apply(rows.map((row) => ({ table: table.name, op: "upsert" as const, row: imageFromPg(table, row) })));
      }
    }
    return Number(state?.version ?? 0);
  });
  clearCapture(client);
  return version;
}
