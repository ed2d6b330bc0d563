import { pageOf } from "../db/cursor.ts";
import type { PageCursor, ProxyKeyFilter, ProxyKeyRow, Store } from "../db/store.ts";
import { fail, ok, type Result } from "../errors.ts";
import type { Clock } from "../clock.ts";
import { usdToMicros } from "../limits/money.ts";
import { periodStart } from "../limits/period.ts";
import { recordAudit, type ActorId } from "../changes/audit.ts";
import type { VaultEvents } from "../changes/events.ts";
import { keyRevokedEvent, queueWebhookEvent } from "../changes/webhook-events.ts";
import { hashSecret, PURGED_SECRET_HASH } from "./hashing.ts";
import { generateKey, keyHint } from "./key-format.ts";
import { budgetTermsChanged, sharedLimitsPatch, type SharedLimitsInput } from "./limits-patch.ts";
import { rotateProxyKey } from "./proxy-key-rotation.ts";

export { PROXY_KEY_STATUSES, proxyKeyStatus, type ProxyKeyStatus } from "./proxy-key-status.ts";

export interface ExpiryInput {
  expires_at?: string | null;
  ttl_seconds?: number;
}

/** Per-key limits; `null` on update removes a limit. */
export interface LimitsInput extends SharedLimitsInput {
  /** What a budgeted request keyward cannot bound reserves; null refuses such requests. */
  unbounded_reservation_usd?: number | null;
}

export interface CreateProxyKeyInput extends ExpiryInput, LimitsInput {
  name: string;
  provider_key_id: string;
  metadata?: Record<string, unknown>;
  /** The team whose limits apply too. */
  team_id?: string;
}

export interface UpdateProxyKeyInput extends ExpiryInput, LimitsInput {
  name?: string;
  metadata?: Record<string, unknown> | null;
  /** Moves the key to another team (null: to none). Its own spend stays; the new team counts its spend from now on. */
  team_id?: string | null;
}

const noTeam = <T>(action: string, teamId: string) => fail<T>("not_found", `Cannot ${action}: team ${teamId} does not exist`, "team_id");

type LimitFields = Pick<ProxyKeyRow, "allowedModels" | "rpm" | "tpm" | "maxConcurrency" | "budgetMicros" | "budgetPeriod" | "unboundedReservationMicros">;

/** Only the fields the input mentions, so an update leaves the others alone: the limits a team has too, and the key's own. */
function limitsPatch(input: LimitsInput): Partial<LimitFields> {
  const patch: Partial<LimitFields> = sharedLimitsPatch(input);
  if (input.unbounded_reservation_usd !== undefined) {
    patch.unboundedReservationMicros = input.unbounded_reservation_usd === null ? null : usdToMicros(input.unbounded_reservation_usd);
  }
  return patch;
}

export interface ProxyKeyServiceDeps {
  store: Store;
  clock: Clock;
  events: VaultEvents;
  /** argon2id of a new secret; the server passes its low-priority argon2 threads (`Argon2Workers.hash`). */
  hash?: (secret: string) => Promise<string>;
}

/** The audit row's mention of the team keys were minted into, if any. */
const teamDetail = (teamId: string | undefined) => (teamId === undefined ? {} : { team_id: teamId });

/** Keys whose events are emitted in one turn of the event loop after a batch is minted (each re-reads its row for the key cache). */
const EVENT_SLICE = 25;

/** Ten years: far enough for "never", near enough to stay a valid date everywhere. */
export const MAX_TTL_SECONDS = 10 * 365 * 24 * 3600;

/** `undefined` leaves the expiry alone, `null` clears it. */
function resolveExpiry(input: ExpiryInput, now: number): Result<number | null | undefined> {
  if (input.expires_at !== undefined && input.ttl_seconds !== undefined) {
    return fail("validation_failed", "Cannot set expiry: give expires_at or ttl_seconds, not both", "ttl_seconds");
  }
  if (input.ttl_seconds !== undefined) {
    if (!Number.isInteger(input.ttl_seconds) || input.ttl_seconds < 1 || input.ttl_seconds > MAX_TTL_SECONDS) {
      return fail("validation_failed", `Cannot set expiry: ttl_seconds must be an integer from 1 to ${MAX_TTL_SECONDS}`, "ttl_seconds");
    }
    return ok(now + input.ttl_seconds * 1000);
  }
  if (input.expires_at === null) return ok(null);
  if (input.expires_at === undefined) return ok(undefined);
  const at = Date.parse(input.expires_at);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(input.expires_at) || Number.isNaN(at)) {
    return fail("validation_failed", "Cannot set expiry: expires_at must be an ISO 8601 date-time", "expires_at");
  }
  if (at <= now) return fail("validation_failed", "Cannot set expiry: expires_at is in the past", "expires_at");
  if (at > now + MAX_TTL_SECONDS * 1000) {
    return fail("validation_failed", "Cannot set expiry: expires_at is more than ten years away", "expires_at");
  }
  return ok(at);
}

/**
 * A bound on minting checked inside the transaction that inserts the keys (a
 * keys:issue token's aggregate bounds); `now` is the new keys' `createdAt`.
 * It reads `tx` only: the write may run it again.
 */
export type MintAdmission = (tx: Store, now: number) => Result<null>;

export interface CreatedProxyKey {
  row: ProxyKeyRow;
  /** The full key, returned once and never stored. */
  key: string;
}

/** Proxy keys: argon2id-hashed, shown once, many per provider key. */
export class ProxyKeyService {
  constructor(private readonly deps: ProxyKeyServiceDeps) {}

  /** A new row and its one-time key; hashing is the slow part, so it happens outside any transaction. */
  private async newKey(actor: ActorId, input: CreateProxyKeyInput, expiresAt: number | null, now: number): Promise<CreatedProxyKey> {
    const key = generateKey("proxy");
    const row: ProxyKeyRow = {
      id: key.id,
      name: input.name,
      providerKeyId: input.provider_key_id,
      secretHash: await (this.deps.hash ?? hashSecret)(key.secret),
      keyHint: keyHint(key),
      expiresAt,
      revokedAt: null,
      metadata: input.metadata ?? null,
      createdBy: actor,
      createdAt: now,
      updatedAt: now,
      allowedModels: null,
      rpm: null,
      tpm: null,
      maxConcurrency: null,
      budgetMicros: null,
      budgetPeriod: "total",
      spendMicros: 0,
      periodStartedAt: 0,
      unboundedReservationMicros: null,
      teamId: input.team_id ?? null,
      previousSecretHash: null,
      previousSecretExpiresAt: null,
      ...limitsPatch(input),
    };
    row.periodStartedAt = periodStart(row.budgetPeriod, now);
    return { row, key: key.token };
  }

  /**
   * `audit` adds facts to the audit row (who issued the key and on what grounds); never secrets.
   * `admit` is the caller's own bound on minting, checked in the inserting transaction.
   */
  async create(actor: ActorId, input: CreateProxyKeyInput, audit?: Record<string, unknown>, admit?: MintAdmission): Promise<Result<CreatedProxyKey>> {
    const batch = await this.createMany(actor, input, [input.name], "proxy_key.create", audit, admit);
    return batch.ok ? ok(batch.value[0] as CreatedProxyKey) : batch;
  }

  /**
   * Mints `count` keys named `<prefix>-001…` in one transaction: all or
   * nothing, so an event organiser never ends up with half a batch.
   */
  async createBatch(actor: ActorId, input: Omit<CreateProxyKeyInput, "name"> & { count: number; name_prefix: string }): Promise<Result<CreatedProxyKey[]>> {
    const width = Math.max(3, String(input.count).length);
    const names = Array.from({ length: input.count }, (_, i) => `${input.name_prefix}-${String(i + 1).padStart(width, "0")}`);
    return this.createMany(actor, { ...input, name: input.name_prefix }, names, "proxy_key.batch_create");
  }

  private async createMany(
    actor: ActorId,
    input: CreateProxyKeyInput,
    names: string[],
    action: string,
    audit?: Record<string, unknown>,
    admit?: MintAdmission,
  ): Promise<Result<CreatedProxyKey[]>> {
    const { store, clock } = this.deps;
    const expiry = resolveExpiry(input, clock.now());
    if (!expiry.ok) return expiry;
    const missing = () =>
      fail<CreatedProxyKey[]>("not_found", `Cannot create proxy key: provider key ${input.provider_key_id} does not exist`, "provider_key_id");
    if (!store.providerKeys.byId(input.provider_key_id)) return missing();
    const now = clock.now();
    const created: CreatedProxyKey[] = [];
    // argon2 runs on keyward's low-priority argon2 threads (or the runtime's); a few at a time, so a
    // new key's first verification waits behind a few hashes, not behind the whole batch.
    for (let i = 0; i < names.length; i += 4) {
      const slice = names.slice(i, i + 4);
      created.push(...(await Promise.all(slice.map((name) => this.newKey(actor, { ...input, name }, expiry.value ?? null, now)))));
    }
    const result = await store.write((tx) => {
      // Re-checked inside the transaction: the provider key may have gone while we hashed.
      if (!tx.providerKeys.byId(input.provider_key_id)) return missing();
      if (input.team_id !== undefined && !tx.teams.byId(input.team_id)) return noTeam<CreatedProxyKey[]>("create proxy key", input.team_id);
      // Read and written in this one transaction: two concurrent mints cannot both pass the bound.
      const admitted = admit?.(tx, now);
      if (admitted && !admitted.ok) return admitted;
      tx.proxyKeys.insertMany(created.map((c) => c.row));
      recordAudit(tx, actor, now, {
        action,
        targetType: "proxy_key",
        targetId: created.length === 1 ? created[0]?.row.id : undefined,
        details:
          created.length === 1
            ? { name: created[0]?.row.name, provider_key_id: input.provider_key_id, ...teamDetail(input.team_id), ...audit }
            : {
                count: created.length,
                name_prefix: input.name,
                ids: created.map((c) => c.row.id),
                provider_key_id: input.provider_key_id,
                ...teamDetail(input.team_id),
              },
      });
      return ok(created);
    });
    // Clears any "unknown id" memory the proxy may hold for these ids, before any key is handed out;
    // in slices with a turn of the event loop between them, so a batch of 1,000 never holds it long.
    if (result.ok) {
      for (let i = 0; i < created.length; i += EVENT_SLICE) {
        if (created.length > EVENT_SLICE) await new Promise((resolve) => setImmediate(resolve));
        for (const { row } of created.slice(i, i + EVENT_SLICE)) this.deps.events.emit({ kind: "proxy-key", id: row.id });
      }
    }
    return result;
  }

  list(limit: number, after: PageCursor | undefined, filter: ProxyKeyFilter): { rows: ProxyKeyRow[]; nextCursor: string | null } {
    return pageOf(this.deps.store.proxyKeys.page({ limit: limit + 1, after }, filter), limit);
  }

  get(id: string): Result<ProxyKeyRow> {
    const row = this.deps.store.proxyKeys.byId(id);
    return row ? ok(row) : fail("not_found", `Cannot find proxy key ${id}`);
  }

  async update(actor: ActorId, id: string, input: UpdateProxyKeyInput): Promise<Result<ProxyKeyRow>> {
    const { store, clock, events } = this.deps;
    const now = clock.now();
    const expiry = resolveExpiry(input, now);
    if (!expiry.ok) return expiry;
    const patch: Partial<ProxyKeyRow> = { updatedAt: now };
    if (input.name !== undefined) patch.name = input.name;
    if (input.metadata !== undefined) patch.metadata = input.metadata;
    if (expiry.value !== undefined) patch.expiresAt = expiry.value;
    if (input.team_id !== undefined) patch.teamId = input.team_id;
    Object.assign(patch, limitsPatch(input));
    let budgetChanged = false;
    const result = await store.write((tx) => {
      const current = tx.proxyKeys.byId(id);
      if (!current) return fail<ProxyKeyRow>("not_found", `Cannot find proxy key ${id}`);
      if (typeof input.team_id === "string" && !tx.teams.byId(input.team_id)) return noTeam<ProxyKeyRow>("move proxy key", input.team_id);
      if (current.revokedAt !== null && expiry.value !== undefined) {
        return fail<ProxyKeyRow>("conflict", `Cannot change expiry of proxy key ${id}: key is revoked`);
      }
      if (current.secretHash === PURGED_SECRET_HASH && expiry.value !== undefined) {
        return fail<ProxyKeyRow>("conflict", `Cannot change expiry of proxy key ${id}: its secret was purged after expiry; mint a new key`);
      }
      budgetChanged = budgetTermsChanged(patch, current);
      tx.proxyKeys.update(id, patch);
      recordAudit(tx, actor, now, {
        action: "proxy_key.update",
        targetType: "proxy_key",
        targetId: id,
        details: { fields: Object.keys(input).filter((k) => input[k as keyof UpdateProxyKeyInput] !== undefined) },
      });
      return ok(tx.proxyKeys.byId(id) as ProxyKeyRow);
    });
    // The budget ledger's ceiling was granted under the old terms; it re-grants under the new ones.
    if (result.ok) events.emit({ kind: "proxy-key", id, budgetChanged });
    return result;
  }

  /** Idempotent: revoking a revoked key returns it unchanged. */
  async revoke(actor: ActorId, id: string): Promise<Result<ProxyKeyRow>> {
    const { store, clock, events } = this.deps;
    const now = clock.now();
    const result = await store.write((tx) => {
      const current = tx.proxyKeys.byId(id);
      if (!current) return fail<ProxyKeyRow>("not_found", `Cannot find proxy key ${id}`);
      if (current.revokedAt !== null) return ok(current);
      tx.proxyKeys.update(id, { revokedAt: now, updatedAt: now });
      recordAudit(tx, actor, now, { action: "proxy_key.revoke", targetType: "proxy_key", targetId: id });
      queueWebhookEvent(tx, now, keyRevokedEvent(current, actor, now));
      return ok(tx.proxyKeys.byId(id) as ProxyKeyRow);
    });
    if (result.ok) events.emit({ kind: "proxy-key", id });
    return result;
  }

  /** A new secret for the same id, shown once; the old one works `graceSeconds` longer (see proxy-key-rotation.ts). */
  rotate(actor: ActorId, id: string, graceSeconds: number): Promise<Result<CreatedProxyKey>> {
    return rotateProxyKey(this.deps, actor, id, graceSeconds);
  }

  async remove(actor: ActorId, id: string): Promise<Result<null>> {
    const { store, clock, events } = this.deps;
    const now = clock.now();
    const result = await store.write((tx) => {
      const current = tx.proxyKeys.byId(id);
      if (!current) return fail<null>("not_found", `Cannot find proxy key ${id}`);
      tx.proxyKeys.delete(id);
      recordAudit(tx, actor, now, {
        action: "proxy_key.delete",
        targetType: "proxy_key",
        targetId: id,
        details: { name: current.name },
      });
      return ok(null);
    });
    if (result.ok) events.emit({ kind: "proxy-key", id });
    return result;
  }
}
