/**
 * The database schema. Times are integer milliseconds since the epoch (UTC);
 * the API turns them into ISO strings. Secrets only ever appear here sealed
 * (provider keys) or as argon2id PHC strings (proxy keys, admin tokens).
 */
import { sql } from "drizzle-orm";
import { blob, index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const providerKeys = sqliteTable("provider_keys", {
  id: text("id").primaryKey(),
  name: text("name").notNull().unique(),
  provider: text("provider").notNull(),
  baseUrl: text("base_url").notNull(),
  keyVersion: integer("key_version").notNull(),
  nonce: blob("nonce", { mode: "buffer" }).notNull(),
  ciphertext: blob("ciphertext", { mode: "buffer" }).notNull(),
  keyHint: text("key_hint").notNull(),
  disabled: integer("disabled", { mode: "boolean" }).notNull().default(false),
  /** Ask OpenAI-style streams for usage (`stream_options.include_usage`); off for servers that reject it. */
  injectStreamUsage: integer("inject_stream_usage", { mode: "boolean" }).notNull().default(true),
  /** Azure OpenAI: deployment name → the model it runs, for allow-lists and prices. */
  deployments: text("deployments", { mode: "json" }).$type<Record<string, string>>(),
  /** OpenAI: the organisation and project every request is sent with (`openai-organization`, `openai-project`); clients cannot choose others. */
  openaiOrganization: text("openai_organization"),
  openaiProject: text("openai_project"),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

/**
 * A department's or an event's shared limits: every key of the team must fit
 * its own limits and the team's. The team's budget is spent by all its keys.
 */
export const teams = sqliteTable(
  "teams",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull().unique(),
    allowedModels: text("allowed_models", { mode: "json" }).$type<string[]>(),
    rpm: integer("rpm"),
    tpm: integer("tpm"),
    maxConcurrency: integer("max_concurrency"),
    /** Integer micro-dollars. */
    budgetMicros: integer("budget_micros"),
    budgetPeriod: text("budget_period").$type<"total" | "daily" | "weekly" | "monthly">().notNull().default("total"),
    /** Settled spend of all the team's keys in the period that started at `periodStartedAt`. */
    spendMicros: integer("spend_micros").notNull().default(0),
    periodStartedAt: integer("period_started_at").notNull().default(0),
    disabled: integer("disabled", { mode: "boolean" }).notNull().default(false),
    metadata: text("metadata", { mode: "json" }).$type<Record<string, unknown>>(),
    createdBy: text("created_by"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (table) => [index("teams_created_idx").on(table.createdAt, table.id)],
);

/** A team budget's durable ceiling, as `budget_ceilings` is a key's. */
export const teamBudgetCeilings = sqliteTable("team_budget_ceilings", {
  teamId: text("team_id")
    .primaryKey()
    .references(() => teams.id, { onDelete: "cascade" }),
  periodStartedAt: integer("period_started_at").notNull(),
  ceilingMicros: integer("ceiling_micros").notNull(),
});

/** Where keyward posts alerts (budget thresholds, expiring keys, provider keys refused upstream, revocations). */
export const webhooks = sqliteTable(
  "webhooks",
  {
    id: text("id").primaryKey(),
    url: text("url").notNull(),
    events: text("events", { mode: "json" }).$type<string[]>().notNull(),
    /** The signing secret, sealed under the master key like provider keys: signing needs it back. */
    keyVersion: integer("key_version").notNull(),
    nonce: blob("nonce", { mode: "buffer" }).notNull(),
    ciphertext: blob("ciphertext", { mode: "buffer" }).notNull(),
    secretHint: text("secret_hint").notNull(),
    createdBy: text("created_by"),
    createdAt: integer("created_at").notNull(),
  },
  (table) => [index("webhooks_created_idx").on(table.createdAt, table.id)],
);

/**
 * Events waiting to be delivered, and the record of attempts: written in the
 * same transaction as what caused them (or by the alert checks), delivered
 * at least once by a background loop, never by the proxy's hot path.
 */
export const webhookOutbox = sqliteTable(
  "webhook_outbox",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    webhookId: text("webhook_id")
      .notNull()
      .references(() => webhooks.id, { onDelete: "cascade" }),
    /** The Standard Webhooks `webhook-id`: the same on every retry, so receivers can drop duplicates. */
    eventId: text("event_id").notNull(),
    eventType: text("event_type").notNull(),
    payload: text("payload").notNull(),
    createdAt: integer("created_at").notNull(),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: integer("next_attempt_at").notNull(),
    deliveredAt: integer("delivered_at"),
    /** Given up: too old or refused for good. */
    droppedAt: integer("dropped_at"),
    lastStatus: integer("last_status"),
    lastError: text("last_error"),
  },
  (table) => [
    index("webhook_outbox_due_idx")
      .on(table.nextAttemptAt)
      .where(sql`${table.deliveredAt} is null and ${table.droppedAt} is null`),
    index("webhook_outbox_hook_idx").on(table.webhookId, table.id),
  ],
);

/** Alerts sent once per subject and marker (a budget period and threshold, a key's expiry), so a restart never repeats them. */
export const alertsSent = sqliteTable(
  "alerts_sent",
  {
    kind: text("kind").notNull(),
    subjectId: text("subject_id").notNull(),
    marker: text("marker").notNull(),
    at: integer("at").notNull(),
  },
  (table) => [primaryKey({ columns: [table.kind, table.subjectId, table.marker] })],
);

export const proxyKeys = sqliteTable(
  "proxy_keys",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    providerKeyId: text("provider_key_id")
      .notNull()
      .references(() => providerKeys.id),
    secretHash: text("secret_hash").notNull(),
    keyHint: text("key_hint").notNull(),
    expiresAt: integer("expires_at"),
    revokedAt: integer("revoked_at"),
    metadata: text("metadata", { mode: "json" }).$type<Record<string, unknown>>(),
    createdBy: text("created_by"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    allowedModels: text("allowed_models", { mode: "json" }).$type<string[]>(),
    rpm: integer("rpm"),
    tpm: integer("tpm"),
    maxConcurrency: integer("max_concurrency"),
    /** Integer micro-dollars; money is never a float. */
    budgetMicros: integer("budget_micros"),
    budgetPeriod: text("budget_period").$type<"total" | "daily" | "weekly" | "monthly">().notNull().default("total"),
    /** Settled spend in the period that started at `periodStartedAt`. */
    spendMicros: integer("spend_micros").notNull().default(0),
    periodStartedAt: integer("period_started_at").notNull().default(0),
    /**
     * What a budgeted key reserves for a request whose cost keyward cannot bound
     * (stored responses, uploaded files, background runs); null refuses them.
     */
    unboundedReservationMicros: integer("unbounded_reservation_micros"),
    /** The team whose limits apply too (a key belongs to at most one). */
    teamId: text("team_id").references(() => teams.id),
    /** The secret before the last rotation, still accepted until `previousSecretExpiresAt`. */
    previousSecretHash: text("previous_secret_hash"),
    previousSecretExpiresAt: integer("previous_secret_expires_at"),
  },
  (table) => [
    index("proxy_keys_team_idx").on(table.teamId, table.createdAt, table.id),
    // Provider key first, then the list's order: a page of one provider key's keys reads no more rows than it shows.
    index("proxy_keys_provider_key_idx").on(table.providerKeyId, table.createdAt, table.id),
    index("proxy_keys_created_idx").on(table.createdAt, table.id),
    // Revoked keys newest first, without walking the active ones (`?status=revoked`).
    index("proxy_keys_revoked_idx")
      .on(table.createdAt, table.id)
      .where(sql`${table.revokedAt} is not null`),
    // The key sweeper's two questions, over keys whose secret is not purged yet only: with 100k
    // expired CI keys, an hourly sweep reads the few new ones, not all of them.
    index("proxy_keys_unpurged_revoked_idx")
      .on(table.revokedAt)
      .where(sql`${table.secretHash} <> ''`),
    index("proxy_keys_unpurged_expiry_idx")
      .on(table.expiresAt)
      .where(sql`${table.secretHash} <> ''`),
  ],
);

export const adminTokens = sqliteTable("admin_tokens", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  scopes: text("scopes", { mode: "json" }).$type<string[]>().notNull(),
  secretHash: text("secret_hash").notNull(),
  keyHint: text("key_hint").notNull(),
  expiresAt: integer("expires_at"),
  revokedAt: integer("revoked_at"),
  policy: text("policy", { mode: "json" }).$type<Record<string, unknown>>(),
  createdBy: text("created_by"),
  createdAt: integer("created_at").notNull(),
});

export const auditLog = sqliteTable(
  "audit_log",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    at: integer("at").notNull(),
    actorId: text("actor_id"),
    action: text("action").notNull(),
    targetType: text("target_type").notNull(),
    targetId: text("target_id"),
    details: text("details", { mode: "json" }).$type<Record<string, unknown>>(),
  },
  (table) => [index("audit_log_at_idx").on(table.at)],
);

/** Small key/value facts about the database itself: the master key check value, schema notes. */
export const meta = sqliteTable("meta", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
  updatedAt: integer("updated_at")
    .notNull()
    .default(sql`(unixepoch() * 1000)`),
});

/** Admin overrides and additions to the built-in price table (micro-dollars per million tokens). */
export const prices = sqliteTable("prices", {
  model: text("model").primaryKey(),
  inputMicros: integer("input_micros").notNull(),
  cachedInputMicros: integer("cached_input_micros"),
  outputMicros: integer("output_micros").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

/** One row per proxied request; no bodies, no secrets. */
export const requestLog = sqliteTable(
  "request_log",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    at: integer("at").notNull(),
    requestId: text("request_id").notNull(),
    proxyKeyId: text("proxy_key_id"),
    providerKeyId: text("provider_key_id"),
    provider: text("provider"),
    model: text("model"),
    method: text("method").notNull(),
    path: text("path").notNull(),
    status: integer("status").notNull(),
    streamed: integer("streamed", { mode: "boolean" }).notNull().default(false),
    inputTokens: integer("input_tokens").notNull().default(0),
    outputTokens: integer("output_tokens").notNull().default(0),
    cachedTokens: integer("cached_tokens").notNull().default(0),
    costMicros: integer("cost_micros").notNull().default(0),
    latencyMs: integer("latency_ms").notNull(),
    ttfbMs: integer("ttfb_ms"),
    errorCode: text("error_code"),
    /** Requests this row stands for: refusals by limits are folded into one row per key, code and minute. */
    count: integer("count").notNull().default(1),
    /** Cost the upstream billed beyond the request's reservation (it ignored a cap); charged all the same. */
    overrunMicros: integer("overrun_micros").notNull().default(0),
  },
  (table) => [
    // Retention pruning, and the sub-hour edges of a usage window.
    index("request_log_at_idx").on(table.at),
    // One per filter of GET /api/logs. SQLite ends every index with the rowid, so each lists its
    // value's rows in id order: a filtered page newest first reads no more entries than it shows.
    index("request_log_proxy_key_idx").on(table.proxyKeyId),
    index("request_log_provider_key_idx").on(table.providerKeyId),
    index("request_log_model_idx").on(table.model),
    index("request_log_status_idx").on(table.status),
  ],
);

/**
 * Which request-log ids each UTC hour's rows have: ids follow the order rows
 * were written, not their `at`, so a time window becomes an id range here
 * (every row of the window lies between its hours' first and last id) and a
 * filtered log page newest first never walks the rows after the window.
 * Written with the rows, in the same transaction.
 */
export const requestLogHours = sqliteTable("request_log_hours", {
  /** Start of the UTC hour, ms. */
  hour: integer("hour").primaryKey(),
  firstId: integer("first_id").notNull(),
  lastId: integer("last_id").notNull(),
});

/**
 * The request log summed over time buckets, written in the same transaction
 * as the rows (src/db/request-log-sql.ts), so it always equals a full scan of
 * the rows written. Kept when retention prunes the rows: usage history
 * outlives the log.
 *
 * Each row is summed over one bucket of `span` ms starting at `start` (UTC,
 * aligned to the span since the epoch): an hour, a day, or eight days. A
 * usage window is answered from the fewest buckets that tile it, so 90 days
 * read about 25 buckets per group instead of 2,160 hours or 90 days.
 *
 * `grain` says which ids a row is per (`ROLLUP_GRAINS` in request-log-sql.ts,
 * with the spans each is kept in): per proxy key, provider key and model
 * together (by day), or per proxy key, per provider key, per model, or
 * everything together. The single-id grains exist so that `group_by=model`
 * reads one row per model and bucket, not one per key and model; an id
 * column a grain does not use holds `''`. `''` also stands for a missing id
 * or model (never a real value: ids and models are non-empty), because
 * SQLite's primary keys treat NULLs as distinct and an upsert would never
 * find the row to add to. Declared WITHOUT ROWID in the migration (drizzle
 * cannot say so): the counters sit in the primary key's b-tree, which halves
 * what a summary reads.
 */
export const usageRollups = sqliteTable(
  "usage_rollups",
  {
    grain: integer("grain").notNull(),
    span: integer("span").notNull(),
    start: integer("start").notNull(),
    proxyKeyId: text("proxy_key_id").notNull(),
    providerKeyId: text("provider_key_id").notNull(),
    model: text("model").notNull(),
    /** Requests, not rows: the sum of the rows' `count`. */
    requests: integer("requests").notNull(),
    /** Requests with an error code, by `count` as well. */
    errors: integer("errors").notNull(),
    inputTokens: integer("input_tokens").notNull(),
    outputTokens: integer("output_tokens").notNull(),
    cachedTokens: integer("cached_tokens").notNull(),
    costMicros: integer("cost_micros").notNull(),
    overrunMicros: integer("overrun_micros").notNull(),
  },
  (table) => [primaryKey({ columns: [table.grain, table.span, table.start, table.proxyKeyId, table.providerKeyId, table.model] })],
);

/**
 * How far a key's budget may be spent in a period before this process must
 * write again. The ceiling is raised (a grant, committed before the request
 * that needs it is admitted) and spend is written later in batches, so after
 * a crash the key's spend is taken to be its ceiling: what was granted and
 * not yet spent is lost (underspend), never spent twice (overspend).
 */
export const budgetCeilings = sqliteTable("budget_ceilings", {
  proxyKeyId: text("proxy_key_id")
    .primaryKey()
    .references(() => proxyKeys.id, { onDelete: "cascade" }),
  periodStartedAt: integer("period_started_at").notNull(),
  ceilingMicros: integer("ceiling_micros").notNull(),
});

/**
 * Which proxy key created each object a provider stores (files, batches,
 * stored responses, vector stores…), read from the provider's answer: other
 * proxy keys on the same provider key get 404 for it, and lists are filtered.
 */
export const storedObjects = sqliteTable(
  "stored_objects",
  {
    providerKeyId: text("provider_key_id")
      .notNull()
      .references(() => providerKeys.id, { onDelete: "cascade" }),
    objectId: text("object_id").notNull(),
    kind: text("kind").notNull(),
    proxyKeyId: text("proxy_key_id").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (table) => [primaryKey({ columns: [table.providerKeyId, table.objectId] }), index("stored_objects_proxy_key_idx").on(table.proxyKeyId, table.createdAt)],
);

/**
 * Who may exchange a CI's OIDC ID token for a short-lived proxy key: tokens
 * from `issuer` for `audience` whose claims all match `claims` (exact string
 * comparison, any of the listed values) get a key on `providerKeyId` with
 * this TTL, budget and model list.
 */
export const oidcTrustPolicies = sqliteTable(
  "oidc_trust_policies",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull().unique(),
    issuer: text("issuer").notNull(),
    audience: text("audience").notNull(),
    /** Claim name → allowed values, all stored as strings. */
    claims: text("claims", { mode: "json" }).$type<Record<string, string[]>>().notNull(),
    providerKeyId: text("provider_key_id")
      .notNull()
      .references(() => providerKeys.id),
    ttlSeconds: integer("ttl_seconds").notNull(),
    /** Integer micro-dollars. */
    budgetMicros: integer("budget_micros").notNull(),
    allowedModels: text("allowed_models", { mode: "json" }).$type<string[]>(),
    createdBy: text("created_by"),
    createdAt: integer("created_at").notNull(),
  },
  (table) => [
    index("oidc_trust_policies_issuer_idx").on(table.issuer, table.audience),
    index("oidc_trust_policies_provider_key_idx").on(table.providerKeyId),
    index("oidc_trust_policies_created_idx").on(table.createdAt, table.id),
  ],
);

/**
 * Batch input files a key with limits uploaded through keyward, read line by
 * line as they streamed through: what a batch made from one runs (its
 * endpoint, model and requests) and may cost at most. A key with limits
 * creates batches only from its own checked files.
 */
export const checkedBatchFiles = sqliteTable(
  "checked_batch_files",
  {
    providerKeyId: text("provider_key_id")
      .notNull()
      .references(() => providerKeys.id, { onDelete: "cascade" }),
    fileId: text("file_id").notNull(),
    proxyKeyId: text("proxy_key_id").notNull(),
    /** The `url` every line calls, as the lines wrote it (`/v1/chat/completions`): a batch's `endpoint` must name it. */
    url: text("url").notNull(),
    model: text("model").notNull(),
    lines: integer("lines").notNull(),
    /** Integer micro-dollars at the batch price; null when no budget applied at upload, so nothing was priced. */
    worstMicros: integer("worst_micros"),
    /** The share of the standard price the provider bills the batch's requests. */
    pricePercent: integer("price_percent").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (table) => [primaryKey({ columns: [table.providerKeyId, table.fileId] })],
);

/**
 * What creating a batch charged a key and its team: the input file's worst
 * case, added to spend once the provider accepted the batch (not held in
 * memory: a batch runs up to a day, past restarts). Open until the batch ends
 * and its output settles spend to the real cost; closed exactly once, by the
 * write that sets `settledAt`.
 */
export const batchCharges = sqliteTable(
  "batch_charges",
  {
    providerKeyId: text("provider_key_id")
      .notNull()
      .references(() => providerKeys.id, { onDelete: "cascade" }),
    batchId: text("batch_id").notNull(),
    proxyKeyId: text("proxy_key_id").notNull(),
    /** The team charged with the key, as admitted; null when the key had none. */
    teamId: text("team_id"),
    model: text("model").notNull(),
    pricePercent: integer("price_percent").notNull(),
    /** Integer micro-dollars added to spend at creation. */
    chargedMicros: integer("charged_micros").notNull(),
    /** The periods the charge went to: a refund is given back only within them. */
    periodStartedAt: integer("period_started_at").notNull(),
    teamPeriodStartedAt: integer("team_period_started_at"),
    createdAt: integer("created_at").notNull(),
    settledAt: integer("settled_at"),
    /** The real cost the batch settled at (micro-dollars, batch price). */
    costMicros: integer("cost_micros"),
  },
  (table) => [
    primaryKey({ columns: [table.providerKeyId, table.batchId] }),
    // What the background check walks: open charges, oldest first.
    index("batch_charges_open_idx")
      .on(table.createdAt)
      .where(sql`${table.settledAt} is null`),
  ],
);
