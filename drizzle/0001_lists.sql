CREATE TABLE "lists" (
	"id" uuid PRIMARY KEY NOT NULL,
	"user_id" text NOT NULL,
	"name" text NOT NULL,
	"position" text collate "C" NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	CONSTRAINT "lists_user_id_id_key" UNIQUE("user_id","id"),
	CONSTRAINT "lists_user_id_length" CHECK (char_length("lists"."user_id") between 1 and 255),
	CONSTRAINT "lists_name_length" CHECK (char_length("lists"."name") between 1 and 100),
	CONSTRAINT "lists_position_length" CHECK (char_length("lists"."position") between 1 and 64),
	CONSTRAINT "lists_version_positive" CHECK ("lists"."version" >= 1)
);
--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "list_id" uuid;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "position" text collate "C" DEFAULT 'a0' NOT NULL;--> statement-breakpoint
-- Existing tasks keep the order version 1 showed by default (newest first, ties by id, descending):
-- each user's n-th task gets fractional-indexing's n-th integer key (a0…az, b00…bzz, c000…).
WITH "ranked" AS (
	SELECT "id", row_number() OVER (PARTITION BY "user_id" ORDER BY "created_at" DESC, "id" DESC) - 1 AS "n" FROM "tasks"
), "sized" AS (
	SELECT "id",
		CASE WHEN "n" < 62 THEN 1 WHEN "n" < 3906 THEN 2 WHEN "n" < 242234 THEN 3 WHEN "n" < 15018570 THEN 4 ELSE 5 END AS "len",
		"n" - CASE WHEN "n" < 62 THEN 0 WHEN "n" < 3906 THEN 62 WHEN "n" < 242234 THEN 3906 WHEN "n" < 15018570 THEN 242234 ELSE 15018570 END AS "v"
	FROM "ranked"
)
UPDATE "tasks" SET "position" = chr(ascii('a') + "sized"."len" - 1) || (
	SELECT string_agg(substr('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', (("sized"."v" / power(62, "i")::bigint) % 62)::int + 1, 1), '' ORDER BY "i" DESC)
	FROM generate_series(0, "sized"."len" - 1) AS "i"
)
FROM "sized" WHERE "tasks"."id" = "sized"."id";--> statement-breakpoint
CREATE INDEX "lists_user_position_idx" ON "lists" USING btree ("user_id","position","id");--> statement-breakpoint
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_list_fk" FOREIGN KEY ("user_id","list_id") REFERENCES "public"."lists"("user_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "tasks_user_list_position_idx" ON "tasks" USING btree ("user_id","list_id","position","id") WHERE "tasks"."list_id" is not null;--> statement-breakpoint
CREATE INDEX "tasks_user_inbox_position_idx" ON "tasks" USING btree ("user_id","position","id") WHERE "tasks"."list_id" is null;--> statement-breakpoint
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_position_length" CHECK (char_length("tasks"."position") between 1 and 64);