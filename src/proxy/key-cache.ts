import type { ProviderKeyRow, ProxyKeyRow, Store, TeamRow } from "../db/store.ts";
import type { VaultEvents } from "../changes/events.ts";
import { PROVIDERS, isProviderId, type ProviderAdapter } from "../providers/index.ts";
import type { SecretEcho } from "./echo.ts";

export interface CachedProviderKey {
  row: ProviderKeyRow;
  adapter: ProviderAdapter;
  /** Decrypted on first use, then held; dropped when an admin changes the key. */
  secret?: Promise<string>;
  /** The same once decrypted, so later requests need not await. */
  plain?: string;
  /** What replaces the key where an upstream echoes it, made on first use (`echoFor`). */
  echo?: SecretEcho | null;
}

/** Unknown ids are remembered (bounded) so a flood of made-up ids cannot turn into SQLite reads. */
const MAX_NEGATIVE = 10_000;

/**
 * In-memory key records for the hot path. Misses read SQLite once; admin
 * writes arrive as vault events and update the entry synchronously
 * (write-through), so a revoke or disable applies to the very next request
 * and steady-state traffic never reads the database.
 */
export class KeyCache {
  private readonly proxyKeys = new Map<string, ProxyKeyRow>();
  private readonly unknownProxyKeys = new Set<string>();
  private readonly providerKeys = new Map<string, CachedProviderKey>();
  /** Teams of keys seen, write-through like keys: a disable or a new budget applies to the next request. */
  private readonly teams = new Map<string, TeamRow>();

  constructor(
    private readonly store: Store,
    events: VaultEvents,
    private readonly reveal: (row: ProviderKeyRow) => Promise<string>,
    /** Makes the verifier forget a key's verified tokens: the key is gone, or a rotation replaced its secret. */
    private readonly forgetSecret: (id: string) => void = () => {},
  ) {
    events.on((event) => {
      if (event.kind === "proxy-key") this.refreshProxyKey(event.id, event.secretChanged === true);
      else if (event.kind === "provider-key") this.refreshProviderKey(event.id);
      else if (event.kind === "team") this.refreshTeam(event.id);
    });
  }

  proxyKey(id: string): ProxyKeyRow | undefined {
    const cached = this.proxyKeys.get(id);
    if (cached) return cached;
    if (this.unknownProxyKeys.has(id)) return undefined;
    const row = this.store.proxyKeys.byId(id);
    if (row) {
      this.proxyKeys.set(id, row);
      return row;
    }
    if (this.unknownProxyKeys.size >= MAX_NEGATIVE) this.unknownProxyKeys.clear();
    this.unknownProxyKeys.add(id);
    return undefined;
  }

  providerKey(id: string): CachedProviderKey | undefined {
    const cached = this.providerKeys.get(id);
    if (cached) return cached;
    const row = this.store.providerKeys.byId(id);
    if (!row || !isProviderId(row.provider)) return undefined;
    const entry: CachedProviderKey = { row, adapter: PROVIDERS[row.provider] };
    this.providerKeys.set(id, entry);
    return entry;
  }

  /** A key's team; SQLite is read on the first use only. Teams are few, so none is forgotten but a deleted one. */
  team(id: string): TeamRow | undefined {
    const cached = this.teams.get(id);
    if (cached) return cached;
    const row = this.store.teams.byId(id);
    if (row) this.teams.set(id, row);
    return row;
  }

  private refreshTeam(id: string): void {
    const row = this.store.teams.byId(id);
    if (row) this.teams.set(id, row);
    else this.teams.delete(id);
  }

  /** The plaintext provider key, decrypted once per process (or per admin change). */
  providerSecret(entry: CachedProviderKey): Promise<string> {
    if (!entry.secret) {
      const pending = this.reveal(entry.row);
      pending.then(
        (plain) => {
          if (entry.secret === pending) entry.plain = plain;
        },
        // A failed decrypt must not stick: the next request tries again.
        () => {
          if (entry.secret === pending) entry.secret = undefined;
        },
      );
      entry.secret = pending;
    }
    return entry.secret;
  }

  private refreshProxyKey(id: string, secretChanged: boolean): void {
    this.unknownProxyKeys.delete(id);
    // A key not cached is read on its first request anyway: minting a thousand keys reads no rows here.
    if (!this.proxyKeys.has(id)) {
      this.forgetSecret(id);
      return;
    }
    const row = this.store.proxyKeys.byId(id);
    if (row) {
      // A revoked key stays verified: its status check refuses it without another argon2 run.
      if (this.proxyKeys.has(id)) this.proxyKeys.set(id, row);
      // A rotated key's tokens are checked again, against the new secret and the old one's grace.
      if (secretChanged) this.forgetSecret(id);
    } else {
      this.proxyKeys.delete(id);
      this.forgetSecret(id);
    }
  }

  private refreshProviderKey(id: string): void {
    const row = this.store.providerKeys.byId(id);
    if (row && isProviderId(row.provider)) {
      this.providerKeys.set(id, { row, adapter: PROVIDERS[row.provider] });
      return;
    }
    this.providerKeys.delete(id);
    for (const [proxyId, proxyRow] of this.proxyKeys) {
      if (proxyRow.providerKeyId === id) {
        this.proxyKeys.delete(proxyId);
        this.forgetSecret(proxyId);
      }
    }
  }
}
