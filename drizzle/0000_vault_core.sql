CREATE TABLE `admin_tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`scopes` text NOT NULL,
	`secret_hash` text NOT NULL,
	`key_hint` text NOT NULL,
	`expires_at` integer,
	`revoked_at` integer,
	`policy` text,
	`created_by` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `audit_log` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` integer NOT NULL,
	`actor_id` text,
	`action` text NOT NULL,
	`target_type` text NOT NULL,
	`target_id` text,
	`details` text
);
--> statement-breakpoint
CREATE INDEX `audit_log_at_idx` ON `audit_log` (`at`);--> statement-breakpoint
CREATE TABLE `meta` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL,
	`updated_at` integer DEFAULT (unixepoch() * 1000) NOT NULL
);
--> statement-breakpoint
CREATE TABLE `provider_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`provider` text NOT NULL,
	`base_url` text NOT NULL,
	`key_version` integer NOT NULL,
	`nonce` blob NOT NULL,
	`ciphertext` blob NOT NULL,
	`key_hint` text NOT NULL,
	`disabled` integer DEFAULT false NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `provider_keys_name_unique` ON `provider_keys` (`name`);--> statement-breakpoint
CREATE TABLE `proxy_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`provider_key_id` text NOT NULL,
	`secret_hash` text NOT NULL,
	`key_hint` text NOT NULL,
	`expires_at` integer,
	`revoked_at` integer,
	`metadata` text,
	`created_by` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`provider_key_id`) REFERENCES `provider_keys`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `proxy_keys_provider_key_idx` ON `proxy_keys` (`provider_key_id`);--> statement-breakpoint
CREATE INDEX `proxy_keys_created_idx` ON `proxy_keys` (`created_at`,`id`);