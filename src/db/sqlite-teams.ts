/**
 * The SQLite repository of teams; sqlite-store.ts puts it into a Store.
 */
import { and, count, desc, eq, lt, or } from "drizzle-orm";
import type { Db } from "./client.ts";
import { proxyKeys, teams } from "./schema.ts";
import type { TeamRepo } from "./store.ts";

export function teamRepo(db: Db): TeamRepo {
  return {
    insert: (row) => void db.insert(teams).values(row).run(),
    update: (id, patch) => void db.update(teams).set(patch).where(eq(teams.id, id)).run(),
    delete: (id) => void db.delete(teams).where(eq(teams.id, id)).run(),
    byId: (id) => db.select().from(teams).where(eq(teams.id, id)).get(),
    byName: (name) => db.select().from(teams).where(eq(teams.name, name)).get(),
    page: (query) =>
      db
        .select()
        .from(teams)
        .where(
          query.after
            ? or(lt(teams.createdAt, query.after.createdAt), and(eq(teams.createdAt, query.after.createdAt), lt(teams.id, query.after.id)))
            : undefined,
        )
        .orderBy(desc(teams.createdAt), desc(teams.id))
        .limit(query.limit)
        .all(),
    // Reads the (team_id, created_at, id) index.
    countKeys: (teamId) => db.select({ n: count() }).from(proxyKeys).where(eq(proxyKeys.teamId, teamId)).get()?.n ?? 0,
    setSpend: (update) =>
      void db.update(teams).set({ spendMicros: update.spendMicros, periodStartedAt: update.periodStartedAt }).where(eq(teams.id, update.id)).run(),
  };
}
