CREATE TABLE `budget_ceilings` (
	`proxy_key_id` text PRIMARY KEY NOT NULL,
	`period_started_at` integer NOT NULL,
	`ceiling_micros` integer NOT NULL,
	FOREIGN KEY (`proxy_key_id`) REFERENCES `proxy_keys`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
ALTER TABLE `proxy_keys` ADD `unbounded_reservation_micros` integer;--> statement-breakpoint
ALTER TABLE `request_log` ADD `count` integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE `request_log` ADD `overrun_micros` integer DEFAULT 0 NOT NULL;