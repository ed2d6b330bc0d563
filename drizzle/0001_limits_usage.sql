CREATE TABLE `prices` (
	`model` text PRIMARY KEY NOT NULL,
	`input_micros` integer NOT NULL,
	`cached_input_micros` integer,
	`output_micros` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `request_log` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` integer NOT NULL,
	`request_id` text NOT NULL,
	`proxy_key_id` text,
	`provider_key_id` text,
	`provider` text,
	`model` text,
	`method` text NOT NULL,
	`path` text NOT NULL,
	`status` integer NOT NULL,
	`streamed` integer DEFAULT false NOT NULL,
	`input_tokens` integer DEFAULT 0 NOT NULL,
	`output_tokens` integer DEFAULT 0 NOT NULL,
	`cached_tokens` integer DEFAULT 0 NOT NULL,
	`cost_micros` integer DEFAULT 0 NOT NULL,
	`latency_ms` integer NOT NULL,
	`ttfb_ms` integer,
	`error_code` text
);
--> statement-breakpoint
CREATE INDEX `request_log_at_idx` ON `request_log` (`at`);--> statement-breakpoint
CREATE INDEX `request_log_proxy_key_idx` ON `request_log` (`proxy_key_id`,`at`);--> statement-breakpoint
CREATE INDEX `request_log_provider_key_idx` ON `request_log` (`provider_key_id`,`at`);--> statement-breakpoint
ALTER TABLE `provider_keys` ADD `inject_stream_usage` integer DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE `proxy_keys` ADD `allowed_models` text;--> statement-breakpoint
ALTER TABLE `proxy_keys` ADD `rpm` integer;--> statement-breakpoint
ALTER TABLE `proxy_keys` ADD `tpm` integer;--> statement-breakpoint
ALTER TABLE `proxy_keys` ADD `max_concurrency` integer;--> statement-breakpoint
ALTER TABLE `proxy_keys` ADD `budget_micros` integer;--> statement-breakpoint
ALTER TABLE `proxy_keys` ADD `budget_period` text DEFAULT 'total' NOT NULL;--> statement-breakpoint
ALTER TABLE `proxy_keys` ADD `spend_micros` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `proxy_keys` ADD `period_started_at` integer DEFAULT 0 NOT NULL;