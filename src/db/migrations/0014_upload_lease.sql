CREATE TABLE "object_deletions" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"bucket" text NOT NULL,
	"key" text NOT NULL,
	"reason" text NOT NULL,
	"requested_at" timestamp with time zone NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_error" text
);
--> statement-breakpoint
ALTER TABLE "recordings" ADD COLUMN "upload_lease_owner" text;--> statement-breakpoint
ALTER TABLE "recordings" ADD COLUMN "upload_lease_until" timestamp with time zone;