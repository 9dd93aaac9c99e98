CREATE TABLE "tenant_keys" (
	"tenant_id" uuid PRIMARY KEY NOT NULL,
	"wrapped" text NOT NULL,
	"wrapped_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "tenant_offboardings" (
	"tenant_id" uuid PRIMARY KEY NOT NULL,
	"actor" text NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"rows_deleted_at" timestamp with time zone NOT NULL,
	"export_file" text NOT NULL,
	"export_sha256" text NOT NULL,
	"export_bytes" bigint NOT NULL,
	"counts" jsonb NOT NULL,
	"audit_head_seq" bigint NOT NULL,
	"audit_head_hash" text NOT NULL,
	"kms_key_id" text,
	"kms_deletion_date" timestamp with time zone,
	"objects_deleted" integer,
	"completed_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "tenants" ADD COLUMN "kms_key_id" text;--> statement-breakpoint
ALTER TABLE "tenants" ADD COLUMN "offboarding_since" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "tenant_keys" ADD CONSTRAINT "tenant_keys_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;