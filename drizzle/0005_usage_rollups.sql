CREATE TABLE `request_log_hours` (
	`hour` integer PRIMARY KEY NOT NULL,
	`first_id` integer NOT NULL,
	`last_id` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `usage_rollups` (
	`grain` integer NOT NULL,
	`span` integer NOT NULL,
	`start` integer NOT NULL,
	`proxy_key_id` text NOT NULL,
	`provider_key_id` text NOT NULL,
	`model` text NOT NULL,
	`requests` integer NOT NULL,
	`errors` integer NOT NULL,
	`input_tokens` integer NOT NULL,
	`output_tokens` integer NOT NULL,
	`cached_tokens` integer NOT NULL,
	`cost_micros` integer NOT NULL,
	`overrun_micros` integer NOT NULL,
	PRIMARY KEY(`grain`, `span`, `start`, `proxy_key_id`, `provider_key_id`, `model`)
) WITHOUT ROWID;
--> statement-breakpoint
DROP INDEX `proxy_keys_provider_key_idx`;--> statement-breakpoint
CREATE INDEX `proxy_keys_revoked_idx` ON `proxy_keys` (`created_at`,`id`) WHERE "proxy_keys"."revoked_at" is not null;--> statement-breakpoint
CREATE INDEX `proxy_keys_unpurged_revoked_idx` ON `proxy_keys` (`revoked_at`) WHERE "proxy_keys"."secret_hash" <> '';--> statement-breakpoint
CREATE INDEX `proxy_keys_unpurged_expiry_idx` ON `proxy_keys` (`expires_at`) WHERE "proxy_keys"."secret_hash" <> '';--> statement-breakpoint
CREATE INDEX `proxy_keys_provider_key_idx` ON `proxy_keys` (`provider_key_id`,`created_at`,`id`);--> statement-breakpoint
DROP INDEX `request_log_proxy_key_idx`;--> statement-breakpoint
DROP INDEX `request_log_provider_key_idx`;--> statement-breakpoint
CREATE INDEX `request_log_model_idx` ON `request_log` (`model`);--> statement-breakpoint
CREATE INDEX `request_log_status_idx` ON `request_log` (`status`);--> statement-breakpoint
CREATE INDEX `request_log_proxy_key_idx` ON `request_log` (`proxy_key_id`);--> statement-breakpoint
CREATE INDEX `request_log_provider_key_idx` ON `request_log` (`provider_key_id`);--> statement-breakpoint
-- The rollups and hour ranges of the rows logged before this migration: the same sums the writers keep (src/db/request-log-sql.ts).
INSERT INTO usage_rollups (grain, span, start, proxy_key_id, provider_key_id, model, requests, errors,
  input_tokens, output_tokens, cached_tokens, cost_micros, overrun_micros)
SELECT p.grain, p.span, r.at - r.at % p.span,
  iif(p.grain IN (0, 1), ifnull(r.proxy_key_id, ''), ''),
  iif(p.grain IN (0, 2), ifnull(r.provider_key_id, ''), ''),
  iif(p.grain IN (0, 3), ifnull(r.model, ''), ''),
  sum(r.count), sum(iif(r.error_code IS NULL, 0, r.count)), sum(r.input_tokens), sum(r.output_tokens), sum(r.cached_tokens),
  sum(r.cost_micros), sum(r.overrun_micros)
FROM request_log r
  CROSS JOIN (SELECT 0 AS grain, 86400000 AS span UNION ALL SELECT 1, 3600000 UNION ALL SELECT 1, 86400000 UNION ALL SELECT 1, 691200000 UNION ALL SELECT 2, 3600000 UNION ALL SELECT 2, 86400000 UNION ALL SELECT 2, 691200000 UNION ALL SELECT 3, 3600000 UNION ALL SELECT 3, 86400000 UNION ALL SELECT 3, 691200000 UNION ALL SELECT 4, 3600000 UNION ALL SELECT 4, 86400000) p
GROUP BY 1, 2, 3, 4, 5, 6;--> statement-breakpoint
INSERT INTO `request_log_hours` (`hour`, `first_id`, `last_id`) SELECT at - at % 3600000, min(id), max(id) FROM `request_log` GROUP BY 1;