/**
 * The database schema. Times are integer milliseconds since the epoch (UTC);
 * the API turns them into ISO strings. Secrets only ever appear here sealed
 * (provider keys) or as argon2id PHC strings (proxy keys, admin tokens).
 */
import { sql } from "drizzle-orm";
import { blob, index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

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
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

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
  },
  (table) => [
    index("proxy_keys_provider_key_idx").on(table.providerKeyId),
    index("proxy_keys_created_idx").on(table.createdAt, table.id),
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
