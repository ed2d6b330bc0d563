/**
 * The SQLite repository of budget ceilings; sqlite-store.ts puts it into a
 * Store. Its writes run on the connection they are given: the serving
 * thread's, whose `synchronous=FULL` makes a ceiling durable, power cut
 * included, before the request that needed it is admitted.
 */
import { eq } from "drizzle-orm";
import type { Db } from "./client.ts";
import { budgetCeilings, proxyKeys, teamBudgetCeilings, teams } from "./schema.ts";
import type { BudgetCeilingRepo } from "./store.ts";

interface OpenCeiling {
  id: string;
  spendMicros: number;
  periodStartedAt: number;
  ceilingPeriod: number;
  ceilingMicros: number;
}

/**
 * Takes each open ceiling as spent (see `BudgetCeilingRepo.burnOpen`), writing
 * through `write`; returns how many budgets' spend rose. The same rule for
 * keys and teams.
 */
function burnEach(open: OpenCeiling[], write: (id: string, patch: { spendMicros: number; periodStartedAt?: number }) => void): number {
  let raised = 0;
  for (const budget of open) {
    if (budget.ceilingPeriod === budget.periodStartedAt) {
      if (budget.ceilingMicros <= budget.spendMicros) continue;
      write(budget.id, { spendMicros: budget.ceilingMicros });
      raised++;
    } else if (budget.ceilingPeriod > budget.periodStartedAt) {
      // The period rolled over in memory and the new one's spend never reached the file:
      // the stored spend belongs to the old period, the ceiling bounds the new one.
      write(budget.id, { periodStartedAt: budget.ceilingPeriod, spendMicros: budget.ceilingMicros });
      if (budget.ceilingMicros > 0) raised++;
    }
    // An older ceiling belongs to a period whose successor's spend is already stored: nothing to take.
  }
  return raised;
}

function burnKeys(db: Db): number {
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
  const raised = burnEach(open, (id, patch) => void db.update(proxyKeys).set(patch).where(eq(proxyKeys.id, id)).run());
  db.delete(budgetCeilings).run();
  return raised;
}

function burnTeams(db: Db): number {
  const open = db
    .select({
      id: teams.id,
      spendMicros: teams.spendMicros,
      periodStartedAt: teams.periodStartedAt,
      ceilingPeriod: teamBudgetCeilings.periodStartedAt,
      ceilingMicros: teamBudgetCeilings.ceilingMicros,
    })
    .from(teamBudgetCeilings)
    .innerJoin(teams, eq(teams.id, teamBudgetCeilings.teamId))
    .all();
  const raised = burnEach(open, (id, patch) => void db.update(teams).set(patch).where(eq(teams.id, id)).run());
  db.delete(teamBudgetCeilings).run();
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
    burnOpen: () => db.transaction((tx) => burnKeys(tx as unknown as Db), { behavior: "immediate" }),
    raiseTeam: (teamId, periodStartedAt, ceilingMicros) =>
      void db
        .insert(teamBudgetCeilings)
        .values({ teamId, periodStartedAt, ceilingMicros })
        .onConflictDoUpdate({ target: teamBudgetCeilings.teamId, set: { periodStartedAt, ceilingMicros } })
        .run(),
    closeTeam: (teamId) => void db.delete(teamBudgetCeilings).where(eq(teamBudgetCeilings.teamId, teamId)).run(),
    burnOpenTeams: () => db.transaction((tx) => burnTeams(tx as unknown as Db), { behavior: "immediate" }),
    // Both tables in one transaction: either both are closed or the next start burns both.
    closeAll: () =>
      db.transaction(
        (tx) => {
          tx.delete(budgetCeilings).run();
          tx.delete(teamBudgetCeilings).run();
        },
        { behavior: "immediate" },
      ),
  };
}
