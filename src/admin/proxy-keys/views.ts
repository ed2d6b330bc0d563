import type { Clock } from "../../clock.ts";
import type { ProxyKeyRow, Store } from "../../db/store.ts";
import type { BudgetLedger } from "../../limits/budget.ts";
import { proxyKeyStatus } from "../../vault/proxy-keys.ts";
import { proxyKeyView } from "./model.ts";

/**
 * Response bodies for proxy keys: `view` for listings and reads, `createdView`
 * for the one response that carries the key. Shared by the proxy-key routes
 * and the OIDC exchange.
 */
export function proxyKeyViews(store: Store, clock: Clock, ledger: BudgetLedger) {
  const view = (row: ProxyKeyRow) => {
    const now = clock.now();
    const providerKey = store.providerKeys.byId(row.providerKeyId);
    const status = proxyKeyStatus(row, providerKey?.disabled ?? false, now);
    return proxyKeyView(row, status, ledger.view(row, now), providerKey?.provider ?? "unknown");
  };
  const createdView = (row: ProxyKeyRow, key: string) => ({ ...view(row), key });
  return { view, createdView };
}
