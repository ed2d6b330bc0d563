import { Buffer } from "node:buffer";
import { pageOf } from "../db/cursor.ts";
import type { PageCursor, ProviderKeyRow, Store } from "../db/store.ts";
import { fail, ok, type Result } from "../errors.ts";
import type { Clock } from "../clock.ts";
import { isProviderId, PROVIDER_IDS, PROVIDERS, type ProviderId } from "../providers/index.ts";
import { recordAudit, type ActorId } from "../changes/audit.ts";
import { normalizeBaseUrl } from "./base-url.ts";
import type { VaultEvents } from "../changes/events.ts";
import { keyRevokedEvent, queueWebhookEvent } from "../changes/webhook-events.ts";
import { providerKeyHint, randomBase62 } from "./key-format.ts";
import type { Sealer } from "./sealing.ts";

export interface CreateProviderKeyInput {
  name: string;
  provider: string;
  key: string;
  base_url?: string;
  disabled?: boolean;
  inject_stream_usage?: boolean;
  deployments?: Record<string, string>;
  openai_organization?: string;
  openai_project?: string;
}

export interface UpdateProviderKeyInput {
  name?: string;
  key?: string;
  base_url?: string;
  disabled?: boolean;
  inject_stream_usage?: boolean;
  deployments?: Record<string, string> | null;
  openai_organization?: string | null;
  openai_project?: string | null;
}

export interface ProviderKeyServiceDeps {
  store: Store;
  sealer: Sealer;
  clock: Clock;
  events: VaultEvents;
  allowHttpUpstreams: boolean;
}

/** The associated-data context that binds a sealed key to its row. */
export function providerKeyContext(id: string): string {
  return `provider_keys:${id}`;
}

function cleanSecret(key: string): Result<string> {
  const trimmed = key.trim();
  if (!trimmed) return fail("validation_failed", "Cannot store provider key: key is empty", "key");
  // \p{Cs} with the `u` flag matches lone surrogates only, which would be sealed as U+FFFD.
  if (/[\s\p{Cc}\p{Cs}]/u.test(trimmed)) {
    return fail("validation_failed", "Cannot store provider key: key contains whitespace, control characters or lone surrogates", "key");
  }
  return ok(trimmed);
}

/**
 * Only OpenAI reads these headers: pinning them on another provider's key
 * would look like a guarantee and do nothing.
 */
function checkOpenaiPins(provider: string, input: { openai_organization?: string | null; openai_project?: string | null }): Result<void> {
  for (const field of ["openai_organization", "openai_project"] as const) {
    const value = input[field];
    if (value !== undefined && value !== null && provider !== "openai") {
      return fail("validation_failed", `Cannot store provider key: ${field} applies to provider openai only, not ${provider}`, field);
    }
  }
  return ok(undefined);
}

function resolveBaseUrl(provider: ProviderId, baseUrl: string | undefined, allowHttp: boolean): Result<string> {
  if (baseUrl === undefined) {
    const fallback = PROVIDERS[provider].defaultBaseUrl;
    if (fallback === undefined) {
      return fail("validation_failed", `Cannot store provider key: base_url is required for provider ${provider}`, "base_url");
    }
    return ok(fallback);
  }
  return normalizeBaseUrl(baseUrl, allowHttp);
}

/** Provider keys: sealed with the master key, never returned, replaceable in place. */
export class ProviderKeyService {
  constructor(private readonly deps: ProviderKeyServiceDeps) {}

  async create(actor: ActorId, input: CreateProviderKeyInput): Promise<Result<ProviderKeyRow>> {
    const { store, sealer, clock } = this.deps;
    if (!isProviderId(input.provider)) {
      return fail("validation_failed", `Cannot store provider key: provider must be one of ${PROVIDER_IDS.join(", ")}`, "provider");
    }
    const secret = cleanSecret(input.key);
    if (!secret.ok) return secret;
    const baseUrl = resolveBaseUrl(input.provider, input.base_url, this.deps.allowHttpUpstreams);
    if (!baseUrl.ok) return baseUrl;
    const pins = checkOpenaiPins(input.provider, input);
    if (!pins.ok) return pins;

    const id = `pk_${randomBase62(12)}`;
    const sealed = await sealer.seal(secret.value, providerKeyContext(id));
    const now = clock.now();
    const row: ProviderKeyRow = {
      id,
      name: input.name,
      provider: input.provider,
      baseUrl: baseUrl.value,
      keyVersion: sealed.keyVersion,
      nonce: Buffer.from(sealed.nonce),
      ciphertext: Buffer.from(sealed.ciphertext),
      keyHint: providerKeyHint(secret.value),
      disabled: input.disabled ?? false,
      injectStreamUsage: input.inject_stream_usage ?? true,
      deployments: input.deployments ?? null,
      openaiOrganization: input.openai_organization ?? null,
      openaiProject: input.openai_project ?? null,
      createdAt: now,
      updatedAt: now,
    };
    return store.write((tx) => {
      if (tx.providerKeys.byName(input.name)) {
        return fail<ProviderKeyRow>("conflict", `Cannot create provider key: name "${input.name}" is taken`, "name");
      }
      tx.providerKeys.insert(row);
      recordAudit(tx, actor, now, {
        action: "provider_key.create",
        targetType: "provider_key",
        targetId: id,
        details: { name: row.name, provider: row.provider },
      });
      return ok(row);
    });
  }

  list(limit: number, after?: PageCursor): { rows: ProviderKeyRow[]; nextCursor: string | null } {
    return pageOf(this.deps.store.providerKeys.page({ limit: limit + 1, after }), limit);
  }

  get(id: string): Result<ProviderKeyRow> {
    const row = this.deps.store.providerKeys.byId(id);
    return row ? ok(row) : fail("not_found", `Cannot find provider key ${id}`);
  }

  async update(actor: ActorId, id: string, input: UpdateProviderKeyInput): Promise<Result<ProviderKeyRow>> {
    const { store, sealer, clock, events } = this.deps;
    const current = store.providerKeys.byId(id);
    if (!current) return fail("not_found", `Cannot find provider key ${id}`);
    const pins = checkOpenaiPins(current.provider, input);
    if (!pins.ok) return pins;
    const patch: Partial<ProviderKeyRow> = {};
    if (input.key !== undefined) {
      const secret = cleanSecret(input.key);
      if (!secret.ok) return secret;
      const sealed = await sealer.seal(secret.value, providerKeyContext(id));
      patch.keyVersion = sealed.keyVersion;
      patch.nonce = Buffer.from(sealed.nonce);
      patch.ciphertext = Buffer.from(sealed.ciphertext);
      patch.keyHint = providerKeyHint(secret.value);
    }
    if (input.base_url !== undefined) {
      const baseUrl = normalizeBaseUrl(input.base_url, this.deps.allowHttpUpstreams);
      if (!baseUrl.ok) return baseUrl;
      patch.baseUrl = baseUrl.value;
    }
    if (input.name !== undefined) patch.name = input.name;
    if (input.disabled !== undefined) patch.disabled = input.disabled;
    if (input.inject_stream_usage !== undefined) patch.injectStreamUsage = input.inject_stream_usage;
    if (input.deployments !== undefined) patch.deployments = input.deployments;
    if (input.openai_organization !== undefined) patch.openaiOrganization = input.openai_organization;
    if (input.openai_project !== undefined) patch.openaiProject = input.openai_project;
    const now = clock.now();
    patch.updatedAt = now;

    const result = await store.write((tx) => {
      if (!tx.providerKeys.byId(id)) return fail<ProviderKeyRow>("not_found", `Cannot find provider key ${id}`);
      if (input.name !== undefined) {
        const holder = tx.providerKeys.byName(input.name);
        if (holder && holder.id !== id) {
          return fail<ProviderKeyRow>("conflict", `Cannot rename provider key: name "${input.name}" is taken`, "name");
        }
      }
      tx.providerKeys.update(id, patch);
      recordAudit(tx, actor, now, {
        action: "provider_key.update",
        targetType: "provider_key",
        targetId: id,
        // Field names only: the key itself must never reach the audit log.
        details: { fields: Object.keys(input).filter((k) => input[k as keyof UpdateProviderKeyInput] !== undefined) },
      });
      return ok(tx.providerKeys.byId(id) as ProviderKeyRow);
    });
    if (result.ok) events.emit({ kind: "provider-key", id });
    return result;
  }

  /**
   * Deleting a provider key removes its proxy keys' rows too (they could never
   * work again); without `cascade`, keys still active block the delete.
   */
  async remove(actor: ActorId, id: string, options: { cascade: boolean }): Promise<Result<{ revokedProxyKeyIds: string[] }>> {
    const { store, clock, events } = this.deps;
    const { cascade } = options;
    const now = clock.now();
    const result = await store.write((tx) => {
      if (!tx.providerKeys.byId(id)) return fail<{ revokedProxyKeyIds: string[] }>("not_found", `Cannot find provider key ${id}`);
      const policies = tx.trustPolicies.countForProviderKey(id);
      if (policies > 0) {
        // Even with cascade: silently dropping who may exchange OIDC tokens would surprise whoever wrote the policies.
        return fail<{ revokedProxyKeyIds: string[] }>("conflict", `Cannot delete provider key: ${policies} OIDC trust policy(ies) use it; delete them first`);
      }
      const active = tx.proxyKeys.activeIdsForProviderKey(id, now);
      if (active.length > 0 && !cascade) {
        return fail<{ revokedProxyKeyIds: string[] }>(
          "conflict",
          `Cannot delete provider key: ${active.length} active proxy key(s) use it; revoke them first or pass cascade=true`,
        );
      }
      const revoked = cascade ? tx.proxyKeys.revokeForProviderKey(id, now) : [];
      for (const keyId of revoked) {
        const key = tx.proxyKeys.byId(keyId);
        if (key) queueWebhookEvent(tx, now, keyRevokedEvent(key, actor, now, "provider_key_deleted"));
      }
      tx.proxyKeys.deleteForProviderKey(id);
      tx.providerKeys.delete(id);
      recordAudit(tx, actor, now, {
        action: "provider_key.delete",
        targetType: "provider_key",
        targetId: id,
        details: { cascade, revoked_proxy_key_ids: revoked },
      });
      return ok({ revokedProxyKeyIds: revoked });
    });
    if (result.ok) {
      events.emit({ kind: "provider-key", id });
      for (const proxyKeyId of result.value.revokedProxyKeyIds) events.emit({ kind: "proxy-key", id: proxyKeyId });
    }
    return result;
  }

  /** The plaintext provider key, for the proxy only; never for an API response. */
  async reveal(row: ProviderKeyRow): Promise<string> {
    return this.deps.sealer.open({ keyVersion: row.keyVersion, nonce: row.nonce, ciphertext: row.ciphertext }, providerKeyContext(row.id));
  }
}
