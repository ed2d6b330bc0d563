/**
 * The PostgreSQL twin of src/db/schema.ts: the same tables, column names,
 * keys, indexes and foreign keys, so one set of queries and row types serves
 * both backends. What each column means is documented there; only what differs
 * is said here. Times stay integer milliseconds (bigint, read as numbers), JSON
 * is jsonb, blobs are bytea. `test/unit/pg-schema-types.test.ts` fails when the
 * two drift apart. The request log's tables are in
 * ./log-schema.ts, the cluster's own in ./cluster-schema.ts; both are
 * re-exported here, so this file is the whole schema.
 */
import { sql } from "drizzle-orm";
import { boolean, index, jsonb, pgTable, primaryKey, text } from "drizzle-orm/pg-core";
import { bytea, int, serialId } from "./columns.ts";

export { budgetLeases, changeLog, clusterInstances, clusterState } from "./cluster-schema.ts";
export { requestLog, requestLogHours, usageRollups } from "./log-schema.ts";

type BudgetPeriod = "total" | "daily" | "weekly" | "monthly";

export const providerKeys = pgTable("provider_keys", {
  id: text("id").primaryKey(),
  name: text("name").notNull().unique(),
  provider: text("provider").notNull(),
  baseUrl: text("base_url").notNull(),
  keyVersion: int("key_version").notNull(),
  nonce: bytea("nonce").notNull(),
  ciphertext: bytea("ciphertext").notNull(),
  keyHint: text("key_hint").notNull(),
  disabled: boolean("disabled").notNull().default(false),
  injectStreamUsage: boolean("inject_stream_usage").notNull().default(true),
  deployments: jsonb("deployments").$type<Record<string, string>>(),
  openaiOrganization: text("openai_organization"),
  openaiProject: text("openai_project"),
  createdAt: int("created_at").notNull(),
  updatedAt: int("updated_at").notNull(),
});

export const teams = pgTable(
  "teams",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull().unique(),
    allowedModels: jsonb("allowed_models").$type<string[]>(),
    rpm: int("rpm"),
    tpm: int("tpm"),
    maxConcurrency: int("max_concurrency"),
    budgetMicros: int("budget_micros"),
    budgetPeriod: text("budget_period").$type<BudgetPeriod>().notNull().default("total"),
    spendMicros: int("spend_micros").notNull().default(0),
    periodStartedAt: int("period_started_at").notNull().default(0),
    disabled: boolean("disabled").notNull().default(false),
    metadata: jsonb("metadata").$type<Record<string, unknown>>(),
    createdBy: text("created_by"),
    createdAt: int("created_at").notNull(),
    updatedAt: int("updated_at").notNull(),
  },
  (table) => [index("teams_created_idx").on(table.createdAt, table.id)],
);

export const teamBudgetCeilings = pgTable("team_budget_ceilings", {
  teamId: text("team_id")
    .primaryKey()
    .references(() => teams.id, { onDelete: "cascade" }),
  periodStartedAt: int("period_started_at").notNull(),
  ceilingMicros: int("ceiling_micros").notNull(),
});

export const webhooks = pgTable(
  "webhooks",
  {
    id: text("id").primaryKey(),
    url: text("url").notNull(),
    events: jsonb("events").$type<string[]>().notNull(),
    keyVersion: int("key_version").notNull(),
    nonce: bytea("nonce").notNull(),
    ciphertext: bytea("ciphertext").notNull(),
    secretHint: text("secret_hint").notNull(),
    createdBy: text("created_by"),
    createdAt: int("created_at").notNull(),
  },
  (table) => [index("webhooks_created_idx").on(table.createdAt, table.id)],
);

export const webhookOutbox = pgTable(
  "webhook_outbox",
  {
    id: serialId("id"),
    webhookId: text("webhook_id")
      .notNull()
      .references(() => webhooks.id, { onDelete: "cascade" }),
    eventId: text("event_id").notNull(),
    eventType: text("event_type").notNull(),
    payload: text("payload").notNull(),
    createdAt: int("created_at").notNull(),
    attempts: int("attempts").notNull().default(0),
    nextAttemptAt: int("next_attempt_at").notNull(),
    deliveredAt: int("delivered_at"),
    droppedAt: int("dropped_at"),
    lastStatus: int("last_status"),
    lastError: text("last_error"),
  },
  (table) => [
    index("webhook_outbox_due_idx")
      .on(table.nextAttemptAt)
      .where(sql`${table.deliveredAt} is null and ${table.droppedAt} is null`),
    index("webhook_outbox_hook_idx").on(table.webhookId, table.id),
  ],
);

export const alertsSent = pgTable(
  "alerts_sent",
  {
    kind: text("kind").notNull(),
    subjectId: text("subject_id").notNull(),
    marker: text("marker").notNull(),
    at: int("at").notNull(),
  },
  (table) => [primaryKey({ columns: [table.kind, table.subjectId, table.marker] })],
);

export const proxyKeys = pgTable(
  "proxy_keys",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    providerKeyId: text("provider_key_id")
      .notNull()
      .references(() => providerKeys.id),
    secretHash: text("secret_hash").notNull(),
    keyHint: text("key_hint").notNull(),
    expiresAt: int("expires_at"),
    revokedAt: int("revoked_at"),
    metadata: jsonb("metadata").$type<Record<string, unknown>>(),
    createdBy: text("created_by"),
    createdAt: int("created_at").notNull(),
    updatedAt: int("updated_at").notNull(),
    allowedModels: jsonb("allowed_models").$type<string[]>(),
    rpm: int("rpm"),
    tpm: int("tpm"),
    maxConcurrency: int("max_concurrency"),
    budgetMicros: int("budget_micros"),
    budgetPeriod: text("budget_period").$type<BudgetPeriod>().notNull().default("total"),
    spendMicros: int("spend_micros").notNull().default(0),
    periodStartedAt: int("period_started_at").notNull().default(0),
    unboundedReservationMicros: int("unbounded_reservation_micros"),
    teamId: text("team_id").references(() => teams.id),
    previousSecretHash: text("previous_secret_hash"),
    previousSecretExpiresAt: int("previous_secret_expires_at"),
  },
  (table) => [
    index("proxy_keys_team_idx").on(table.teamId, table.createdAt, table.id),
    index("proxy_keys_provider_key_idx").on(table.providerKeyId, table.createdAt, table.id),
    index("proxy_keys_created_idx").on(table.createdAt, table.id),
    index("proxy_keys_revoked_idx")
      .on(table.createdAt, table.id)
      .where(sql`${table.revokedAt} is not null`),
    index("proxy_keys_unpurged_revoked_idx")
      .on(table.revokedAt)
      .where(sql`${table.secretHash} <> ''`),
    index("proxy_keys_unpurged_expiry_idx")
      .on(table.expiresAt)
      .where(sql`${table.secretHash} <> ''`),
  ],
);

export const adminTokens = pgTable("admin_tokens", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  scopes: jsonb("scopes").$type<string[]>().notNull(),
  secretHash: text("secret_hash").notNull(),
  keyHint: text("key_hint").notNull(),
  expiresAt: int("expires_at"),
  revokedAt: int("revoked_at"),
  policy: jsonb("policy").$type<Record<string, unknown>>(),
  createdBy: text("created_by"),
  createdAt: int("created_at").notNull(),
});

export const auditLog = pgTable(
  "audit_log",
  {
    id: serialId("id"),
    at: int("at").notNull(),
    actorId: text("actor_id"),
    action: text("action").notNull(),
    targetType: text("target_type").notNull(),
    targetId: text("target_id"),
    details: jsonb("details").$type<Record<string, unknown>>(),
  },
  (table) => [index("audit_log_at_idx").on(table.at)],
);

export const meta = pgTable("meta", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
  updatedAt: int("updated_at")
    .notNull()
    .default(sql`(extract(epoch from now()) * 1000)::bigint`),
});

export const prices = pgTable("prices", {
  model: text("model").primaryKey(),
  inputMicros: int("input_micros").notNull(),
  cachedInputMicros: int("cached_input_micros"),
  outputMicros: int("output_micros").notNull(),
  updatedAt: int("updated_at").notNull(),
});

export const budgetCeilings = pgTable("budget_ceilings", {
  proxyKeyId: text("proxy_key_id")
    .primaryKey()
    .references(() => proxyKeys.id, { onDelete: "cascade" }),
  periodStartedAt: int("period_started_at").notNull(),
  ceilingMicros: int("ceiling_micros").notNull(),
});

export const storedObjects = pgTable(
  "stored_objects",
  {
    providerKeyId: text("provider_key_id")
      .notNull()
      .references(() => providerKeys.id, { onDelete: "cascade" }),
    objectId: text("object_id").notNull(),
    kind: text("kind").notNull(),
    proxyKeyId: text("proxy_key_id").notNull(),
    createdAt: int("created_at").notNull(),
  },
  (table) => [primaryKey({ columns: [table.providerKeyId, table.objectId] }), index("stored_objects_proxy_key_idx").on(table.proxyKeyId, table.createdAt)],
);

export const oidcTrustPolicies = pgTable(
  "oidc_trust_policies",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull().unique(),
    issuer: text("issuer").notNull(),
    audience: text("audience").notNull(),
    claims: jsonb("claims").$type<Record<string, string[]>>().notNull(),
    providerKeyId: text("provider_key_id")
      .notNull()
      .references(() => providerKeys.id),
    ttlSeconds: int("ttl_seconds").notNull(),
    budgetMicros: int("budget_micros").notNull(),
    allowedModels: jsonb("allowed_models").$type<string[]>(),
    createdBy: text("created_by"),
    createdAt: int("created_at").notNull(),
  },
  (table) => [
    index("oidc_trust_policies_issuer_idx").on(table.issuer, table.audience),
    index("oidc_trust_policies_provider_key_idx").on(table.providerKeyId),
    index("oidc_trust_policies_created_idx").on(table.createdAt, table.id),
  ],
);

export const checkedBatchFiles = pgTable(
  "checked_batch_files",
  {
    providerKeyId: text("provider_key_id")
      .notNull()
      .references(() => providerKeys.id, { onDelete: "cascade" }),
    fileId: text("file_id").notNull(),
    proxyKeyId: text("proxy_key_id").notNull(),
    url: text("url").notNull(),
    model: text("model").notNull(),
    lines: int("lines").notNull(),
    worstMicros: int("worst_micros"),
    pricePercent: int("price_percent").notNull(),
    createdAt: int("created_at").notNull(),
  },
  (table) => [primaryKey({ columns: [table.providerKeyId, table.fileId] })],
);

export const batchCharges = pgTable(
  "batch_charges",
  {
    providerKeyId: text("provider_key_id")
      .notNull()
      .references(() => providerKeys.id, { onDelete: "cascade" }),
    batchId: text("batch_id").notNull(),
    proxyKeyId: text("proxy_key_id").notNull(),
    teamId: text("team_id"),
    model: text("model").notNull(),
    pricePercent: int("price_percent").notNull(),
    chargedMicros: int("charged_micros").notNull(),
    periodStartedAt: int("period_started_at").notNull(),
    teamPeriodStartedAt: int("team_period_started_at"),
    createdAt: int("created_at").notNull(),
    settledAt: int("settled_at"),
    costMicros: int("cost_micros"),
  },
  (table) => [
    primaryKey({ columns: [table.providerKeyId, table.batchId] }),
    index("batch_charges_open_idx")
      .on(table.createdAt)
      .where(sql`${table.settledAt} is null`),
  ],
);
