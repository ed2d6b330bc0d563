/**
 * The SQLite repository of budget ceilings; sqlite-store.ts puts it into a
 * Store. Its writes run on the connection they are given: the serving
 * thread's, whose `synchronous=FULL` makes a ceiling durable, power cut
 * included, before the request that needed it is admitted.
 */
import { eq } from "drizzle-orm";
import type { Db } from "./client.ts";
import { budgetCeilings, proxyKeys } from "./schema.ts";
import type { BudgetCeilingRepo } from "./store.ts";

/** Takes each open ceiling as spent (see `BudgetCeilingRepo.burnOpen`); returns how many keys' spend rose. */
function burn(db: Db): number {
  const open = db
    .select({
      id: proxyKeys.id,
      spendMicros: proxyKeys.spendMicros,
      periodStartedAt: proxyKeys.periodStartedAt,
      ceilingPeriod: budgetCeilings.periodStartedAt,
      ceilingMicros: budgetCeilings.ceilingMicros,
    })
    .from(budgetCeilings)
    .innerJoin(proxyKeys, eq(proxyKeys.id, budgetCeilings.proxyKeyId))
    .all();
  let raised = 0;
  for (const key of open) {
    if (key.ceilingPeriod === key.periodStartedAt) {
      if (key.ceilingMicros <= key.spendMicros) continue;
      db.update(proxyKeys).set({ spendMicros: key.ceilingMicros }).where(eq(proxyKeys.id, key.id)).run();
      raised++;
    } else if (key.ceilingPeriod > key.periodStartedAt) {
      // The period rolled over in memory and the new one's spend never reached the file:
      // the stored spend belongs to the old period, the ceiling bounds the new one.
      db.update(proxyKeys).set({ periodStartedAt: key.ceilingPeriod, spendMicros: key.ceilingMicros }).where(eq(proxyKeys.id, key.id)).run();
      if (key.ceilingMicros > 0) raised++;
    }
    // An older ceiling belongs to a period whose successor's spend is already stored: nothing to take.
  }
  db.delete(budgetCeilings).run();
  return raised;
}

export function budgetCeilingRepo(db: Db): BudgetCeilingRepo {
  return {
    raise: (keyId, periodStartedAt, ceilingMicros) =>
      void db
        .insert(budgetCeilings)
        .values({ proxyKeyId: keyId, periodStartedAt, ceilingMicros })
        .onConflictDoUpdate({ target: budgetCeilings.proxyKeyId, set: { periodStartedAt, ceilingMicros } })
        .run(),
    close: (keyId) => void db.delete(budgetCeilings).where(eq(budgetCeilings.proxyKeyId, keyId)).run(),
    // One transaction: a crash halfway through must not leave ceilings deleted whose spend was not raised.
    burnOpen: () => db.transaction((tx) => burn(tx as unknown as Db), { behavior: "immediate" }),
    closeAll: () => void db.delete(budgetCeilings).run(),
  };
}
