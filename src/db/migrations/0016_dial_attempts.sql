ALTER TABLE "call_attempts" ADD COLUMN "contact_id" uuid;--> statement-breakpoint
ALTER TABLE "call_attempts" ADD COLUMN "call_sid" text COLLATE "C";--> statement-breakpoint
ALTER TABLE "call_attempts" ADD COLUMN "outcome" text;--> statement-breakpoint
ALTER TABLE "call_attempts" ADD COLUMN "settled_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "call_attempts" ADD CONSTRAINT "call_attempts_contact_id_contacts_id_fk" FOREIGN KEY ("contact_id") REFERENCES "public"."contacts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "call_attempts_campaign_at_idx" ON "call_attempts" USING btree ("campaign_id","at") WHERE "call_attempts"."contact_id" is not null;--> statement-breakpoint
CREATE INDEX "call_attempts_call_sid_idx" ON "call_attempts" USING btree ("call_sid") WHERE "call_attempts"."call_sid" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "call_attempts_in_flight_idx" ON "call_attempts" USING btree ("tenant_id","number_hash") WHERE "call_attempts"."contact_id" is not null and "call_attempts"."settled_at" is null;