CREATE TABLE "recording_links" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"recording_id" uuid NOT NULL,
	"issued_by" text NOT NULL,
	"pin" boolean NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"pin_failures" integer DEFAULT 0 NOT NULL,
	"locked_at" timestamp with time zone,
	"revoked_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "recording_links" ADD CONSTRAINT "recording_links_recording_id_recordings_id_fk" FOREIGN KEY ("recording_id") REFERENCES "public"."recordings"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "recording_links_recording_idx" ON "recording_links" USING btree ("recording_id");