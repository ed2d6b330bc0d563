/**
 * The request log and what is written with it (src/db/request-log-sql.ts):
 * the PostgreSQL twins of the same tables in src/db/schema.ts, whose comments
 * say what each column means.
 */
import { boolean, index, pgTable, primaryKey, text } from "drizzle-orm/pg-core";
import { int, serialId } from "./columns.ts";

export const requestLog = pgTable(
  "request_log",
  {
    id: serialId("id"),
    at: int("at").notNull(),
    requestId: text("request_id").notNull(),
    proxyKeyId: text("proxy_key_id"),
    providerKeyId: text("provider_key_id"),
    provider: text("provider"),
    model: text("model"),
    method: text("method").notNull(),
    path: text("path").notNull(),
    status: int("status").notNull(),
    streamed: boolean("streamed").notNull().default(false),
    inputTokens: int("input_tokens").notNull().default(0),
    outputTokens: int("output_tokens").notNull().default(0),
    cachedTokens: int("cached_tokens").notNull().default(0),
    costMicros: int("cost_micros").notNull().default(0),
    latencyMs: int("latency_ms").notNull(),
    ttfbMs: int("ttfb_ms"),
    errorCode: text("error_code"),
    count: int("count").notNull().default(1),
    overrunMicros: int("overrun_micros").notNull().default(0),
  },
  (table) => [
    index("request_log_at_idx").on(table.at),
    // SQLite ends each of these with the rowid, which is `id`, and the log pages rely on it (a filtered page
    // newest first walks its value's entries in id order). PostgreSQL adds nothing, so the id is said here.
    index("request_log_proxy_key_idx").on(table.proxyKeyId, table.id),
    index("request_log_provider_key_idx").on(table.providerKeyId, table.id),
    index("request_log_model_idx").on(table.model, table.id),
    index("request_log_status_idx").on(table.status, table.id),
  ],
);

export const requestLogHours = pgTable("request_log_hours", {
  hour: int("hour").primaryKey(),
  firstId: int("first_id").notNull(),
  lastId: int("last_id").notNull(),
});

/** `''` still stands for a missing id or model: the primary key cannot hold NULL in PostgreSQL either. */
export const usageRollups = pgTable(
  "usage_rollups",
  {
    grain: int("grain").notNull(),
    span: int("span").notNull(),
    start: int("start").notNull(),
    proxyKeyId: text("proxy_key_id").notNull(),
    providerKeyId: text("provider_key_id").notNull(),
    model: text("model").notNull(),
    requests: int("requests").notNull(),
    errors: int("errors").notNull(),
    inputTokens: int("input_tokens").notNull(),
    outputTokens: int("output_tokens").notNull(),
    cachedTokens: int("cached_tokens").notNull(),
    costMicros: int("cost_micros").notNull(),
    overrunMicros: int("overrun_micros").notNull(),
  },
  (table) => [primaryKey({ columns: [table.grain, table.span, table.start, table.proxyKeyId, table.providerKeyId, table.model] })],
);
