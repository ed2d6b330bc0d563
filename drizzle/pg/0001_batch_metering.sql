CREATE TABLE "batch_charges" (
	"provider_key_id" text NOT NULL,
	"batch_id" text NOT NULL,
	"proxy_key_id" text NOT NULL,
	"team_id" text,
	"model" text NOT NULL,
	"price_percent" bigint NOT NULL,
	"charged_micros" bigint NOT NULL,
	"period_started_at" bigint NOT NULL,
	"team_period_started_at" bigint,
	"created_at" bigint NOT NULL,
	"settled_at" bigint,
	"cost_micros" bigint,
	CONSTRAINT "batch_charges_provider_key_id_batch_id_pk" PRIMARY KEY("provider_key_id","batch_id")
);
--> statement-breakpoint
CREATE TABLE "checked_batch_files" (
	"provider_key_id" text NOT NULL,
	"file_id" text NOT NULL,
	"proxy_key_id" text NOT NULL,
	"url" text NOT NULL,
	"model" text NOT NULL,
	"lines" bigint NOT NULL,
	"worst_micros" bigint,
	"price_percent" bigint NOT NULL,
	"created_at" bigint NOT NULL,
	CONSTRAINT "checked_batch_files_provider_key_id_file_id_pk" PRIMARY KEY("provider_key_id","file_id")
);
--> statement-breakpoint
ALTER TABLE "batch_charges" ADD CONSTRAINT "batch_charges_provider_key_id_provider_keys_id_fk" FOREIGN KEY ("provider_key_id") REFERENCES "public"."provider_keys"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "checked_batch_files" ADD CONSTRAINT "checked_batch_files_provider_key_id_provider_keys_id_fk" FOREIGN KEY ("provider_key_id") REFERENCES "public"."provider_keys"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "batch_charges_open_idx" ON "batch_charges" USING btree ("created_at") WHERE "batch_charges"."settled_at" is null;