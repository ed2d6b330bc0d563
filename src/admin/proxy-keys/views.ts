import type { Clock } from "../../clock.ts";
import type { ProviderKeyRow, ProxyKeyRow, Store } from "../../db/store.ts";
import type { BudgetLedger } from "../../limits/budget.ts";
import { storedSpend } from "../../limits/balance.ts";
import type { Budgeted } from "../../limits/budget-book.ts";
import { proxyKeyViewOf } from "./view.ts";

/**
 * Response bodies for proxy keys: `view` for listings and reads, `createdView`
 * for the one response that carries the key. Shared by the proxy-key routes
 * and the OIDC exchange. `many()` gives the same two for a page or a batch,
 * reading each provider key once rather than once per key: a page of 200
 * keys read its provider key 200 times on the serving thread.
 */
export function proxyKeyViews(store: Store, clock: Clock, ledger: BudgetLedger) {
  const viewOf = (row: ProxyKeyRow, providerKey: ProviderKeyRow | undefined) => {
    const now = clock.now();
    return proxyKeyViewOf(row, providerKey, ledger.view(row, now), now);
  };
  const bind = (providerKeyOf: (id: string) => ProviderKeyRow | undefined) => {
    const view = (row: ProxyKeyRow) => viewOf(row, providerKeyOf(row.providerKeyId));
    const createdView = (row: ProxyKeyRow, key: string) => ({ ...view(row), key });
    return { view, createdView };
  };
  const many = () => {
    const read = new Map<string, ProviderKeyRow | undefined>();
    return bind((id) => {
      if (!read.has(id)) read.set(id, store.providerKeys.byId(id));
      return read.get(id);
    });
  };
  /** With several instances: spend then includes what the others reported (see BudgetLedger.refreshShared). */
  const refresh = (rows: ProxyKeyRow[]) => ledger.refreshShared("key", rows, clock.now());
  /** Whether pages made from the keys' stored spend can be right at all: not when other instances share the budgets. */
  const storedPagesUsable = () => !ledger.leased;
  /** Whether views made from the keys' stored spend (a page the read worker made) show what the ledger would. */
  const storedSpendHolds = (budgets: Budgeted[], now: number) =>
    storedPagesUsable() &&
    budgets.every((row) => {
      const live = ledger.view(row, now);
      const stored = storedSpend(row, now);
      return live.spendMicros === stored.spendMicros && live.reservedMicros === 0 && live.periodStartedAt === stored.periodStartedAt;
    });
  return { ...bind((id) => store.providerKeys.byId(id)), many, refresh, storedPagesUsable, storedSpendHolds };
}
