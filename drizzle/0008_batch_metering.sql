CREATE TABLE `batch_charges` (
	`provider_key_id` text NOT NULL,
	`batch_id` text NOT NULL,
	`proxy_key_id` text NOT NULL,
	`team_id` text,
	`model` text NOT NULL,
	`price_percent` integer NOT NULL,
	`charged_micros` integer NOT NULL,
	`period_started_at` integer NOT NULL,
	`team_period_started_at` integer,
	`created_at` integer NOT NULL,
	`settled_at` integer,
	`cost_micros` integer,
	PRIMARY KEY(`provider_key_id`, `batch_id`),
	FOREIGN KEY (`provider_key_id`) REFERENCES `provider_keys`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `batch_charges_open_idx` ON `batch_charges` (`created_at`) WHERE "batch_charges"."settled_at" is null;--> statement-breakpoint
CREATE TABLE `checked_batch_files` (
	`provider_key_id` text NOT NULL,
	`file_id` text NOT NULL,
	`proxy_key_id` text NOT NULL,
	`url` text NOT NULL,
	`model` text NOT NULL,
	`lines` integer NOT NULL,
	`worst_micros` integer,
	`price_percent` integer NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`provider_key_id`, `file_id`),
	FOREIGN KEY (`provider_key_id`) REFERENCES `provider_keys`(`id`) ON UPDATE no action ON DELETE cascade
);
