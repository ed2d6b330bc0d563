/**
 * Synchronous change notifications from the vault services, emitted after a
 * write commits. The proxy's in-memory key cache listens, so a revoke or a
 * provider-key rotation is visible to the very next request (write-through).
 */
export type VaultEvent =
  | { kind: "provider-key"; id: string }
  /**
   * `budgetChanged`: the key's budget or budget period changed (the budget ledger re-grants its ceiling).
   * `secretChanged`: the key was rotated (the proxy's verifier forgets the tokens it had verified for it).
   */
  | { kind: "proxy-key"; id: string; budgetChanged?: boolean; secretChanged?: boolean }
  | { kind: "admin-token"; id: string }
  /** `budgetChanged`: the team's budget or budget period changed (the budget ledger re-grants its ceiling). */
  | { kind: "team"; id: string; budgetChanged?: boolean };

export type VaultListener = (event: VaultEvent) => void;

export class VaultEvents {
  private readonly listeners = new Set<VaultListener>();

  on(listener: VaultListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: VaultEvent): void {
    for (const listener of this.listeners) listener(event);
  }
}
