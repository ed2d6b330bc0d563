/**
 * The storage interface the services use. Narrow on purpose: a PostgreSQL
 * backend for several replicas implements these methods and nothing in
 * `src/admin` or `src/vault` changes. All methods are synchronous because
 * bun:sqlite transactions are; a networked backend would run the same
 * callbacks inside its own connection-pinned transaction.
 */
import type { BudgetLeases } from "./leases.ts";
import type {
  adminTokens,
  auditLog,
  batchCharges,
  checkedBatchFiles,
  oidcTrustPolicies,
  prices,
  providerKeys,
  proxyKeys,
  requestLog,
  storedObjects,
  teams,
  webhookOutbox,
  webhooks,
} from "./schema.ts";

export type ProviderKeyRow = typeof providerKeys.$inferSelect;
export type ProxyKeyRow = typeof proxyKeys.$inferSelect;
export type AdminTokenRow = typeof adminTokens.$inferSelect;
export type AuditRow = typeof auditLog.$inferSelect;
export type NewAuditRow = typeof auditLog.$inferInsert;
export type PriceRow = typeof prices.$inferSelect;
export type RequestLogRow = typeof requestLog.$inferSelect;
export type TrustPolicyRow = typeof oidcTrustPolicies.$inferSelect;
export type NewRequestLogRow = typeof requestLog.$inferInsert;
export type TeamRow = typeof teams.$inferSelect;

export interface SpendUpdate {
  id: string;
  spendMicros: number;
  periodStartedAt: number;
  /** A team's spend (`teams`), not a proxy key's: the two share the flush and its transaction. */
  team?: true;
}

export interface RequestLogFilter {
  proxyKeyId?: string;
  providerKeyId?: string;
  model?: string;
  status?: number;
  from?: number;
  to?: number;
}

export const USAGE_GROUPS = ["proxy_key", "provider_key", "model", "day", "team"] as const;
export type UsageGroup = (typeof USAGE_GROUPS)[number];

export interface UsageRow {
  group: string | null;
  /** Requests, not rows: a row of folded refusals stands for `count` of them. */
  requests: number;
  /** Of those, requests with an error code: refused by keyward, failed upstream, or left by the client. */
  errors: number;
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  costMicros: number;
  overrunMicros: number;
}

/** Keyset pagination position: newest first, ties broken by id. */
export interface PageCursor {
  createdAt: number;
  id: string;
}

export interface PageQuery {
  limit: number;
  after?: PageCursor;
}

/** A page of a list ordered by autoincrement id, newest first; `beforeId` continues a listing. */
export interface IdPageQuery {
  limit: number;
  beforeId?: number;
}

/** Milliseconds; `from` inclusive, `to` exclusive; an absent end is unbounded. */
export interface TimeWindow {
  from?: number;
  to?: number;
}

/** Request-log rows newest first; `resumeBelow` when the read stopped before the page was full (see src/db/log-query.ts). */
export interface LogPage {
  rows: RequestLogRow[];
  resumeBelow?: number;
}

export interface ProxyKeyFilter {
  providerKeyId?: string;
  /** Derived statuses need the clock; the store filters on the stored facts. */
  revoked?: boolean;
  expiredBefore?: number;
  activeAt?: number;
  /** Keys whose provider key is (or is not) disabled. */
  providerDisabled?: boolean;
}

export interface ProviderKeyRepo {
  insert(row: ProviderKeyRow): void;
  update(id: string, patch: Partial<Omit<ProviderKeyRow, "id">>): void;
  delete(id: string): void;
  byId(id: string): ProviderKeyRow | undefined;
  byName(name: string): ProviderKeyRow | undefined;
  page(query: PageQuery): ProviderKeyRow[];
  all(): ProviderKeyRow[];
}

/** Keys created by one actor at or after `since`. */
export interface IssuedQuery {
  since: number;
  /** Count those created after this (≥ `since`). */
  countSince: number;
  /** Sum the budgets of those neither revoked nor expired at this time. */
  now: number;
}

export interface IssuedSummary {
  /** Keys created after `countSince`. */
  minted: number;
  /** Summed budgets (µ$; none counts 0) of keys neither revoked nor expired at `now`. */
  liveBudgetMicros: number;
}

export interface ProxyKeyRepo {
  insert(row: ProxyKeyRow): void;
  /** Many rows in a few statements: a batch of 1,000 keys inserted one statement each held the serving thread for tens of ms. */
  insertMany(rows: ProxyKeyRow[]): void;
  update(id: string, patch: Partial<Omit<ProxyKeyRow, "id">>): void;
  delete(id: string): void;
  byId(id: string): ProxyKeyRow | undefined;
  page(query: PageQuery, filter: ProxyKeyFilter): ProxyKeyRow[];
  /** Ids of keys of a provider key that are neither revoked nor expired at `now`. */
  activeIdsForProviderKey(providerKeyId: string, now: number): string[];
  /** What one actor (a keys:issue token) minted: for its policy's aggregate bounds, read in the minting transaction. */
  issuedBy(createdBy: string, query: IssuedQuery): IssuedSummary;
  countForProviderKey(providerKeyId: string): number;
  revokeForProviderKey(providerKeyId: string, now: number): string[];
  deleteForProviderKey(providerKeyId: string): void;
  /** Absolute values: the in-memory ledger is authoritative while the server runs. */
  setSpend(update: SpendUpdate): void;
  /**
   * Replaces the secret hash with `marker` on keys revoked or expired at or
   * before `before` that still have one; returns their ids. Rows stay.
   */
  purgeSecrets(before: number, marker: string): string[];
}

/**
 * Budget ceilings: how far each key's spend may go in a period before the
 * server must write again (see `budgetCeilings` in schema.ts). Spend reaches
 * the database in batches; a ceiling is written before the spend it allows.
 */
export interface BudgetCeilingRepo {
  /** Sets the key's ceiling for the period (replacing any other); committed when it returns. */
  raise(keyId: string, periodStartedAt: number, ceilingMicros: number): void;
  /** Drops the key's ceiling: nothing of it is left to protect. */
  close(keyId: string): void;
  /**
   * After an unclean stop, takes every open ceiling as spent, in one
   * transaction: a ceiling of the key's stored period raises its spend to
   * the ceiling; one of a newer period (the period rolled over and its spend
   * was never written) becomes the stored period and spend; an older one is
   * ignored. Then every ceiling is deleted. Returns how many keys' spend rose.
   */
  burnOpen(): number;
  /** A team's ceiling, as `raise` is a key's (`team_budget_ceilings`). */
  raiseTeam(teamId: string, periodStartedAt: number, ceilingMicros: number): void;
  closeTeam(teamId: string): void;
  /** `burnOpen` for teams' ceilings, in a transaction of its own; returns how many teams' spend rose. */
  burnOpenTeams(): number;
  /** After a clean stop whose spend is all written: deletes every ceiling, keys' and teams', so nothing is burnt at the next start. */
  closeAll(): void;
}

/** Teams: shared limits over their keys (see `teams` in schema.ts). */
export interface TeamRepo {
  insert(row: TeamRow): void;
  update(id: string, patch: Partial<Omit<TeamRow, "id">>): void;
  delete(id: string): void;
  byId(id: string): TeamRow | undefined;
  byName(name: string): TeamRow | undefined;
  page(query: PageQuery): TeamRow[];
  /** Proxy keys of the team, revoked and expired ones included: each still references it. */
  countKeys(teamId: string): number;
  /** Absolute values, as for keys: the in-memory ledger is authoritative while the server runs. */
  setSpend(update: SpendUpdate): void;
}

export interface TrustPolicyRepo {
  insert(row: TrustPolicyRow): void;
  delete(id: string): void;
  byId(id: string): TrustPolicyRow | undefined;
  byName(name: string): TrustPolicyRow | undefined;
  page(query: PageQuery): TrustPolicyRow[];
  /** Policies for one issuer, oldest first (the order an exchange tries them in). */
  forIssuer(issuer: string): TrustPolicyRow[];
  countForProviderKey(providerKeyId: string): number;
}

export interface PriceRepo {
  all(): PriceRow[];
  upsert(row: PriceRow): void;
  delete(model: string): void;
}

export interface RequestLogRepo {
  /** Also adds the rows to the usage rollups; call inside a transaction, which the two commit in together. */
  appendMany(rows: NewRequestLogRow[]): void;
  page(filter: RequestLogFilter, query: IdPageQuery): LogPage;
  /** From the rollups, and from rows for the parts of hours at the window's ends. */
  usage(group: UsageGroup, window: TimeWindow): UsageRow[];
  /** Deletes one small batch of rows older than `at` (the rollups stay); returns how many, fewer than a batch once none are left. */
  pruneBatch(at: number): number;
}

export interface AdminTokenRepo {
  insert(row: AdminTokenRow): void;
  update(id: string, patch: Partial<Omit<AdminTokenRow, "id">>): void;
  byId(id: string): AdminTokenRow | undefined;
  page(query: PageQuery): AdminTokenRow[];
  count(): number;
}

export interface AuditRepo {
  append(row: NewAuditRow): void;
  page(query: IdPageQuery): AuditRow[];
}

export interface MetaRepo {
  get(key: string): string | undefined;
  set(key: string, value: string, now: number): void;
}

export type StoredObjectRow = typeof storedObjects.$inferSelect;

export interface StoredObjectFilter {
  proxyKeyId?: string;
  providerKeyId?: string;
  kind?: string;
}

/** Which proxy key created each object a provider stores, so that others get 404 for it. */
export interface StoredObjectRepo {
  /** Records the creator; an object already recorded keeps its first owner. */
  record(row: StoredObjectRow): void;
  ownerOf(providerKeyId: string, objectId: string): string | undefined;
  /** Which of `objectIds` belong to the proxy key. */
  ownedAmong(providerKeyId: string, proxyKeyId: string, objectIds: string[]): Set<string>;
  remove(providerKeyId: string, objectId: string): void;
  /** Newest first; the cursor's `id` is the object id. */
  page(query: PageQuery, filter: StoredObjectFilter): StoredObjectRow[];
}

export type CheckedBatchFileRow = typeof checkedBatchFiles.$inferSelect;
export type BatchChargeRow = typeof batchCharges.$inferSelect;

/** Batch input files checked at upload, and what creating batches from them charged (see `checkedBatchFiles` and `batchCharges` in schema.ts). */
export interface BatchRepo {
  /** Records a checked file; a file recorded already keeps its first check. */
  recordFile(row: CheckedBatchFileRow): void;
  file(providerKeyId: string, fileId: string): CheckedBatchFileRow | undefined;
  /** Opens a batch's charge; one recorded already stays as it was. */
  openCharge(row: BatchChargeRow): void;
  charge(providerKeyId: string, batchId: string): BatchChargeRow | undefined;
  /** Open charges, oldest first. */
  openCharges(limit: number): BatchChargeRow[];
  /** Closes an open charge at its real cost; false when it was closed already (or never opened). */
  close(providerKeyId: string, batchId: string, costMicros: number, at: number): boolean;
}

export type WebhookRow = typeof webhooks.$inferSelect;
export type WebhookOutboxRow = typeof webhookOutbox.$inferSelect;
export type NewWebhookOutboxRow = typeof webhookOutbox.$inferInsert;

/** Where alerts are posted; the signing secret is sealed like a provider key's. */
export interface WebhookRepo {
  insert(row: WebhookRow): void;
  /** Its outbox rows go with it (foreign key, on delete cascade). */
  delete(id: string): void;
  byId(id: string): WebhookRow | undefined;
  page(query: PageQuery): WebhookRow[];
  all(): WebhookRow[];
  /** Ids of the webhooks whose `events` list `eventType`. */
  subscribers(eventType: string): string[];
  /** The sealed secret, replaced by a master key rotation. */
  reseal(id: string, sealed: Pick<WebhookRow, "keyVersion" | "nonce" | "ciphertext">): void;
}

/** An outbox row given up, for the log line and the metric. */
export interface DroppedWebhookEvent {
  id: number;
  webhookId: string;
  eventId: string;
  eventType: string;
  createdAt: number;
}

/** How one delivery attempt ended. */
export interface WebhookAttempt {
  attempts: number;
  status: number | null;
  error: string | null;
  /** Set when the receiver took it (2xx). */
  deliveredAt?: number;
  /** When to try again; ignored once delivered. */
  nextAttemptAt: number;
}

/** Events waiting for delivery and the record of attempts (see `webhookOutbox` in schema.ts). */
export interface WebhookOutboxRepo {
  append(rows: NewWebhookOutboxRow[]): void;
  /** Rows neither delivered nor dropped whose next attempt is due at `now`, the longest due first. */
  due(now: number, limit: number): WebhookOutboxRow[];
  /** Records an attempt on a row still waiting (a row delivered, dropped or deleted meanwhile is left alone). */
  recordAttempt(id: number, attempt: WebhookAttempt): void;
  /** Rows neither delivered nor dropped. */
  pending(): number;
  /** Gives up on the `count` oldest waiting rows. */
  dropOldest(count: number, now: number, reason: string): DroppedWebhookEvent[];
  /** Gives up on waiting rows created before `before`. */
  dropCreatedBefore(before: number, now: number, reason: string): DroppedWebhookEvent[];
  /** Deletes up to `limit` delivered or dropped rows created before `before`; returns how many. */
  prune(before: number, limit: number): number;
  /** One webhook's rows, newest first. */
  page(webhookId: string, query: IdPageQuery): WebhookOutboxRow[];
}

/** Proxy keys whose expiry is near, with what an alert about it says. */
export interface ExpiringKey {
  id: string;
  name: string;
  providerKeyId: string;
  expiresAt: number;
}

/** Alerts sent once per subject and marker (`alertsSent` in schema.ts), and what the periodic alert checks read. */
export interface AlertRepo {
  /** Records that the alert is sent; false when it already was. */
  claim(kind: string, subjectId: string, marker: string, at: number): boolean;
  /**
   * Keys neither revoked nor purged that expire after `from` and at or before
   * `to`, lived longer than `minLifetimeMs` in all, and have no `key.expiring`
   * alert for that expiry yet; at most `limit`, soonest first.
   */
  expiringKeys(from: number, to: number, minLifetimeMs: number, limit: number): ExpiringKey[];
  /** Forgets markers no check can meet again (periods and hours long past); returns how many. */
  prune(now: number): number;
}

/** A row another instance changed, as this instance's copy was before and is after (see src/db/cluster/). */
export interface AppliedRow {
  table: string;
  key: Record<string, unknown>;
  before?: Record<string, unknown>;
  after?: Record<string, unknown>;
}

/** The request log where every instance writes and reads it: the network makes each call asynchronous. */
export interface SharedRequestLog {
  /** Rows and their rollups, in one transaction. */
  appendMany(rows: NewRequestLogRow[]): Promise<void>;
  page(filter: RequestLogFilter, query: IdPageQuery): Promise<LogPage>;
  usage(group: UsageGroup, window: TimeWindow): Promise<UsageRow[]>;
  /** As `RequestLogRepo.pruneBatch`; instances pruning together take different rows. */
  pruneBatch(at: number): Promise<number>;
}

/** What a store shared by several instances adds (absent on a store of one process's own). */
export interface SharedState {
  instanceId: string;
  /** The one request log of every instance (the store's own `requestLog` is this instance's mirror, unused). */
  log: SharedRequestLog;
  /** Budget slices: budgets shared by every instance (the store's budget ceilings are then unused). */
  leases: BudgetLeases;
  /**
   * This instance's share of a rate or concurrency limit: the shares of the
   * instances sharing the database sum to the limit at most.
   */
  rateShare(limit: number): number;
  /** True on the one instance that does what must happen once (webhook deliveries). */
  isLeader(): boolean;
  /** False once this instance cannot vouch that it holds every committed vault change. */
  isFresh(): boolean;
  /** Rows changed by other instances, after this instance's copy applied them. */
  onRemoteChange(listener: (rows: AppliedRow[]) => void): () => void;
}

export interface Store {
  providerKeys: ProviderKeyRepo;
  proxyKeys: ProxyKeyRepo;
  adminTokens: AdminTokenRepo;
  audit: AuditRepo;
  meta: MetaRepo;
  prices: PriceRepo;
  requestLog: RequestLogRepo;
  trustPolicies: TrustPolicyRepo;
  budgetCeilings: BudgetCeilingRepo;
  storedObjects: StoredObjectRepo;
  batches: BatchRepo;
  teams: TeamRepo;
  webhooks: WebhookRepo;
  webhookOutbox: WebhookOutboxRepo;
  alerts: AlertRepo;
  /**
   * Runs `fn` atomically and resolves once its writes are committed where
   * every instance reads them. Every change to the vault (keys, tokens,
   * teams, policies, prices, webhooks and their outbox, stored objects,
   * batch checks and charges, alerts, audit, meta) goes through here: on
   * SQLite it is `transaction` and resolves at once; on PostgreSQL the
   * commit crosses the network, and
   * `fn` may run again when another instance wrote first, so it must not
   * have effects outside the store. `fn` itself stays synchronous.
   */
  write<T>(fn: (store: Store) => T): Promise<T>;
  /**
   * Runs `fn` atomically on this instance's own database, synchronously.
   * For what is local to an instance (the request log, budget ceilings) and
   * for reads that must see one state; never for vault changes (`write`).
   */
  transaction<T>(fn: (store: Store) => T): T;
  /**
   * Like `transaction`, but the commit need not reach the disk before it
   * returns (SQLite `synchronous=NORMAL` in WAL mode): it survives a process
   * crash, not a power cut, until the next durable commit or checkpoint. For
   * the request log, whose commits would otherwise stall the event loop on
   * an fsync several times a second.
   */
  relaxedTransaction<T>(fn: (store: Store) => T): T;
  /** Present when several instances share the store. */
  shared?: SharedState;
  /** True when the database answers a trivial query. */
  ping(): boolean;
  /** Gives one step's worth of freed pages back to the file system; true while more are left. */
  vacuumStep(): boolean;
  close(): void;
}
