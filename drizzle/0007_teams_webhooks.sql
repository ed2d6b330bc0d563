CREATE TABLE `alerts_sent` (
	`kind` text NOT NULL,
	`subject_id` text NOT NULL,
	`marker` text NOT NULL,
	`at` integer NOT NULL,
	PRIMARY KEY(`kind`, `subject_id`, `marker`)
);
--> statement-breakpoint
CREATE TABLE `team_budget_ceilings` (
	`team_id` text PRIMARY KEY NOT NULL,
	`period_started_at` integer NOT NULL,
	`ceiling_micros` integer NOT NULL,
	FOREIGN KEY (`team_id`) REFERENCES `teams`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `teams` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`allowed_models` text,
	`rpm` integer,
	`tpm` integer,
	`max_concurrency` integer,
	`budget_micros` integer,
	`budget_period` text DEFAULT 'total' NOT NULL,
	`spend_micros` integer DEFAULT 0 NOT NULL,
	`period_started_at` integer DEFAULT 0 NOT NULL,
	`disabled` integer DEFAULT false NOT NULL,
	`metadata` text,
	`created_by` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `teams_name_unique` ON `teams` (`name`);--> statement-breakpoint
CREATE INDEX `teams_created_idx` ON `teams` (`created_at`,`id`);--> statement-breakpoint
CREATE TABLE `webhook_outbox` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`webhook_id` text NOT NULL,
	`event_id` text NOT NULL,
	`event_type` text NOT NULL,
	`payload` text NOT NULL,
	`created_at` integer NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at` integer NOT NULL,
	`delivered_at` integer,
	`dropped_at` integer,
	`last_status` integer,
	`last_error` text,
	FOREIGN KEY (`webhook_id`) REFERENCES `webhooks`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `webhook_outbox_due_idx` ON `webhook_outbox` (`next_attempt_at`) WHERE "webhook_outbox"."delivered_at" is null and "webhook_outbox"."dropped_at" is null;--> statement-breakpoint
CREATE INDEX `webhook_outbox_hook_idx` ON `webhook_outbox` (`webhook_id`,`id`);--> statement-breakpoint
CREATE TABLE `webhooks` (
	`id` text PRIMARY KEY NOT NULL,
	`url` text NOT NULL,
	`events` text NOT NULL,
	`key_version` integer NOT NULL,
	`nonce` blob NOT NULL,
	`ciphertext` blob NOT NULL,
	`secret_hint` text NOT NULL,
	`created_by` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `webhooks_created_idx` ON `webhooks` (`created_at`,`id`);--> statement-breakpoint
ALTER TABLE `proxy_keys` ADD `team_id` text REFERENCES teams(id);--> statement-breakpoint
ALTER TABLE `proxy_keys` ADD `previous_secret_hash` text;--> statement-breakpoint
ALTER TABLE `proxy_keys` ADD `previous_secret_expires_at` integer;--> statement-breakpoint
CREATE INDEX `proxy_keys_team_idx` ON `proxy_keys` (`team_id`,`created_at`,`id`);