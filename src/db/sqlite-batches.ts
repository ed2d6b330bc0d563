/**
 * The SQLite repository of batch input files checked at upload and of the
 * charges batches made from them; sqlite-store.ts puts it into a Store. Every
 * lookup is by primary key, and the open charges by a partial index.
 */
import { and, asc, eq, isNull } from "drizzle-orm";
import type { Db } from "./client.ts";
import { batchCharges, checkedBatchFiles } from "./schema.ts";
import type { BatchChargeRow, BatchRepo, CheckedBatchFileRow } from "./store.ts";

export function batchRepo(db: Db): BatchRepo {
  const chargeOf = (providerKeyId: string, batchId: string) => and(eq(batchCharges.providerKeyId, providerKeyId), eq(batchCharges.batchId, batchId));
  return {
    recordFile(row: CheckedBatchFileRow): void {
      db.insert(checkedBatchFiles).values(row).onConflictDoNothing().run();
    },
    file(providerKeyId: string, fileId: string): CheckedBatchFileRow | undefined {
      return db
        .select()
        .from(checkedBatchFiles)
        .where(and(eq(checkedBatchFiles.providerKeyId, providerKeyId), eq(checkedBatchFiles.fileId, fileId)))
        .get();
    },
    openCharge(row: BatchChargeRow): void {
      db.insert(batchCharges).values(row).onConflictDoNothing().run();
    },
    charge(providerKeyId: string, batchId: string): BatchChargeRow | undefined {
      return db.select().from(batchCharges).where(chargeOf(providerKeyId, batchId)).get();
    },
    openCharges(limit: number): BatchChargeRow[] {
      return db.select().from(batchCharges).where(isNull(batchCharges.settledAt)).orderBy(asc(batchCharges.createdAt)).limit(limit).all();
    },
    close(providerKeyId: string, batchId: string, costMicros: number, at: number): boolean {
      const closed = db
        .update(batchCharges)
        .set({ settledAt: at, costMicros })
        .where(and(chargeOf(providerKeyId, batchId), isNull(batchCharges.settledAt)))
        .returning({ batchId: batchCharges.batchId })
        .all();
      return closed.length > 0;
    },
  };
}
