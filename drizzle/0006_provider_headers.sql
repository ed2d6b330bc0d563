ALTER TABLE `provider_keys` ADD `openai_organization` text;--> statement-breakpoint
ALTER TABLE `provider_keys` ADD `openai_project` text;