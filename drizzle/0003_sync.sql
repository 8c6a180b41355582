CREATE TABLE "sync_heads" (
	"user_id" text PRIMARY KEY NOT NULL,
	"seq" bigint NOT NULL,
	"purged_seq" bigint DEFAULT 0 NOT NULL,
	"listened_until" timestamp (3) with time zone
);
--> statement-breakpoint
CREATE TABLE "sync_log" (
	"user_id" text NOT NULL,
	"object_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"seq" bigint NOT NULL,
	"deleted" boolean DEFAULT false NOT NULL,
	"changed_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "sync_log_user_id_object_id_pk" PRIMARY KEY("user_id","object_id")
);
--> statement-breakpoint
CREATE UNIQUE INDEX "sync_log_user_seq_idx" ON "sync_log" USING btree ("user_id","seq");--> statement-breakpoint
CREATE INDEX "sync_log_tombstones_idx" ON "sync_log" USING btree ("changed_at") WHERE "sync_log"."deleted";--> statement-breakpoint
-- Existing tasks and lists enter the feed as upserts, numbered per user in the order they last
-- changed, so a client's first snapshot holds everything written before the upgrade.
INSERT INTO "sync_log" ("user_id", "object_id", "kind", "seq", "deleted", "changed_at")
SELECT "user_id", "id", "kind", row_number() OVER (PARTITION BY "user_id" ORDER BY "updated_at", "id"), false, "updated_at"
FROM (SELECT "user_id", "id", 'task' AS "kind", "updated_at" FROM "tasks" UNION ALL SELECT "user_id", "id", 'list', "updated_at" FROM "lists") AS "objects";--> statement-breakpoint
INSERT INTO "sync_heads" ("user_id", "seq")
SELECT "user_id", count(*) FROM (SELECT "user_id" FROM "tasks" UNION ALL SELECT "user_id" FROM "lists") AS "objects" GROUP BY "user_id";
