ALTER TABLE "call_attempts" ALTER COLUMN "number_hash" SET DATA TYPE text COLLATE "C";--> statement-breakpoint
ALTER TABLE "calls" ALTER COLUMN "call_sid" SET DATA TYPE text COLLATE "C";--> statement-breakpoint
ALTER TABLE "calls" ALTER COLUMN "remote_hash" SET DATA TYPE text COLLATE "C";--> statement-breakpoint
ALTER TABLE "consents" ALTER COLUMN "call_sid" SET DATA TYPE text COLLATE "C";--> statement-breakpoint
ALTER TABLE "consents" ALTER COLUMN "remote_hash" SET DATA TYPE text COLLATE "C";--> statement-breakpoint
ALTER TABLE "dsr_requests" ALTER COLUMN "number_hash" SET DATA TYPE text COLLATE "C";--> statement-breakpoint
ALTER TABLE "numbers" ALTER COLUMN "number" SET DATA TYPE text COLLATE "C";--> statement-breakpoint
ALTER TABLE "recordings" ALTER COLUMN "call_sid" SET DATA TYPE text COLLATE "C";--> statement-breakpoint
ALTER TABLE "stream_tokens" ALTER COLUMN "token_hash" SET DATA TYPE text COLLATE "C";--> statement-breakpoint
ALTER TABLE "stream_tokens" ALTER COLUMN "call_sid" SET DATA TYPE text COLLATE "C";--> statement-breakpoint
ALTER TABLE "suppressions" ALTER COLUMN "number_hash" SET DATA TYPE text COLLATE "C";--> statement-breakpoint
ALTER TABLE "suppressions" ALTER COLUMN "call_sid" SET DATA TYPE text COLLATE "C";--> statement-breakpoint
ALTER TABLE "users" ALTER COLUMN "key_hash" SET DATA TYPE text COLLATE "C";