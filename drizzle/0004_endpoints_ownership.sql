CREATE TABLE `stored_objects` (
	`provider_key_id` text NOT NULL,
	`object_id` text NOT NULL,
	`kind` text NOT NULL,
	`proxy_key_id` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`provider_key_id`, `object_id`),
	FOREIGN KEY (`provider_key_id`) REFERENCES `provider_keys`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `stored_objects_proxy_key_idx` ON `stored_objects` (`proxy_key_id`,`created_at`);--> statement-breakpoint
ALTER TABLE `provider_keys` ADD `deployments` text;