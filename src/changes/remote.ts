/**
 * Vault changes made by another instance, turned into the events this
 * instance's own writes emit, so the proxy's caches and the budget ledger
 * follow them the same way: a key revoked on another instance is refused
 * here from the next request on.
 */
import type { AppliedRow } from "../db/store.ts";
import type { VaultEvent } from "./events.ts";

const BUDGET_COLUMNS = ["budget_micros", "budget_period"];
const SECRET_COLUMNS = ["secret_hash", "previous_secret_hash", "previous_secret_expires_at"];

function changed(row: AppliedRow, columns: string[]): boolean {
  return columns.some((column) => row.before?.[column] !== row.after?.[column]);
}

function idOf(row: AppliedRow): string {
  return String(row.key.id);
}

/** The events one applied row stands for; tables whose readers need no event give none. */
export function eventsForRemoteRow(row: AppliedRow): VaultEvent[] {
  switch (row.table) {
    case "provider_keys":
      return [{ kind: "provider-key", id: idOf(row) }];
    case "proxy_keys":
      return [{ kind: "proxy-key", id: idOf(row), budgetChanged: changed(row, BUDGET_COLUMNS), secretChanged: changed(row, SECRET_COLUMNS) }];
    case "admin_tokens":
      return [{ kind: "admin-token", id: idOf(row) }];
    case "teams":
      return [{ kind: "team", id: idOf(row), budgetChanged: changed(row, BUDGET_COLUMNS) }];
    default:
      return [];
  }
}
