CREATE TABLE "contacts" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"campaign_id" uuid NOT NULL,
	"number_hash" text COLLATE "C" NOT NULL,
	"number_sealed" text NOT NULL,
	"reference" text,
	"timezone" text,
	"status" text DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_outcome" text,
	"next_attempt_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "contacts_status_check" CHECK ("contacts"."status" in ('pending', 'scheduled', 'dialling', 'completed', 'exhausted', 'suppressed'))
);
--> statement-breakpoint
ALTER TABLE "campaigns" ADD COLUMN "dialler" jsonb;--> statement-breakpoint
ALTER TABLE "campaigns" ADD COLUMN "dialler_state" text DEFAULT 'idle' NOT NULL;--> statement-breakpoint
ALTER TABLE "campaigns" ADD COLUMN "dialler_reason" text;--> statement-breakpoint
ALTER TABLE "contacts" ADD CONSTRAINT "contacts_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "contacts" ADD CONSTRAINT "contacts_campaign_id_campaigns_id_fk" FOREIGN KEY ("campaign_id") REFERENCES "public"."campaigns"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "contacts_campaign_hash_idx" ON "contacts" USING btree ("campaign_id","number_hash");--> statement-breakpoint
CREATE INDEX "contacts_campaign_status_idx" ON "contacts" USING btree ("campaign_id","status","next_attempt_at");--> statement-breakpoint
CREATE INDEX "contacts_tenant_hash_idx" ON "contacts" USING btree ("tenant_id","number_hash");