CREATE TABLE `oidc_trust_policies` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`issuer` text NOT NULL,
	`audience` text NOT NULL,
	`claims` text NOT NULL,
	`provider_key_id` text NOT NULL,
	`ttl_seconds` integer NOT NULL,
	`budget_micros` integer NOT NULL,
	`allowed_models` text,
	`created_by` text,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`provider_key_id`) REFERENCES `provider_keys`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `oidc_trust_policies_name_unique` ON `oidc_trust_policies` (`name`);--> statement-breakpoint
CREATE INDEX `oidc_trust_policies_issuer_idx` ON `oidc_trust_policies` (`issuer`,`audience`);--> statement-breakpoint
CREATE INDEX `oidc_trust_policies_provider_key_idx` ON `oidc_trust_policies` (`provider_key_id`);--> statement-breakpoint
CREATE INDEX `oidc_trust_policies_created_idx` ON `oidc_trust_policies` (`created_at`,`id`);