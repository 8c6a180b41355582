-- The change log is recorded by Postgres itself: a trigger on tasks and lists records every changed
-- row, whoever wrote it (this version's plain statements, an instance of an older version during a
-- rolling deploy, an operator's SQL).
--
-- Why a constraint trigger, DEFERRABLE INITIALLY DEFERRED, FOR EACH ROW: it fires at commit, after
-- every statement of the transaction, so
-- * the user's counter row (sync_heads) is the LAST lock the transaction takes, after every row it
--   wrote. A multi-statement transaction (a move with its re-spacing, a write with its
--   Idempotency-Key) therefore cannot deadlock with a single-statement writer of the same user:
--   nobody holding the counter ever waits for a task or list row;
-- * the counter row stays locked from the moment the transaction takes its numbers until its commit
--   is visible, so the next writer of that user gets higher numbers only after this one's changes
--   can be read: a user's changes become visible in the order of their numbers, and no change can
--   appear behind a cursor already handed out (a sequence or now() is taken before commit and
--   could);
-- * it sees the state at commit: a row written twice (or created then deleted) in one transaction
--   gets one log entry, its `deleted` flag read from whether the object still exists; rows deleted
--   by the cascade of a list's deletion fire it like any other delete; a rolled-back savepoint's
--   rows fire nothing.
-- A statement-level trigger (which sees all rows at once) cannot be deferred, and an immediate one
-- would take the counter in the middle of a transaction.
--
-- Cost of one trigger call per row: taking one number per row would update the counter row once per
-- row, and a row updated N times in one transaction costs O(N^2) (each update walks the versions
-- this transaction left). So a transaction takes numbers in blocks (1, 2, 4, ... up to 1024) and
-- keeps its place in transaction-local settings; the numbers of a block it does not use are skipped
-- (the feed never assumes consecutive numbers). A one-row write takes exactly one number.
--
-- An object this transaction has already recorded (xmin of its log row is this transaction), with
-- the same `deleted` state, is skipped: the second row event of an object, and, during the rolling
-- deploy to this version, a row the previous version already recorded in its own statement. (A
-- write the previous version made inside a savepoint is recorded twice: two numbers, the object
-- once in the log, harmless.)
--
-- NOTIFY once per transaction and user, with its first number, only while some instance has a
-- stream of theirs open (listened_until, read under the counter's lock, so a stream registration
-- committed before is seen): streams re-read the log from their cursor, so one wake-up is enough.
-- The payload is `<seq> <user id>`, never anything a user wrote.
LOCK TABLE "lists", "tasks" IN SHARE ROW EXCLUSIVE MODE;--> statement-breakpoint
CREATE FUNCTION "sync_record"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  uid text;
  oid uuid;
  gone boolean;
  -- The transaction's block of numbers for `uid`: {next, last, size}.
  block bigint[];
  head record;
BEGIN
  IF TG_OP = 'DELETE' THEN uid := OLD.user_id; oid := OLD.id; ELSE uid := NEW.user_id; oid := NEW.id; END IF;
  IF TG_ARGV[0] = 'task' THEN
    gone := NOT EXISTS (SELECT FROM "tasks" WHERE "id" = oid AND "user_id" = uid);
  ELSE
    gone := NOT EXISTS (SELECT FROM "lists" WHERE "id" = oid AND "user_id" = uid);
  END IF;
  PERFORM FROM "sync_log" l WHERE l."user_id" = uid AND l."object_id" = oid AND l."deleted" = gone AND l.xmin = pg_current_xact_id()::xid;
  IF FOUND THEN RETURN NULL; END IF;

  IF current_setting('taskapi.sync_user', true) IS NOT DISTINCT FROM uid THEN
    block := current_setting('taskapi.sync_block')::bigint[];
  END IF;
  IF block IS NULL OR block[1] > block[2] THEN
    block := ARRAY[0, 0, CASE WHEN block IS NULL THEN 1 ELSE least(block[3] * 2, 1024) END];
    INSERT INTO "sync_heads" AS h ("user_id", "seq") VALUES (uid, block[3])
      ON CONFLICT ("user_id") DO UPDATE SET "seq" = h."seq" + excluded."seq"
      RETURNING h."seq", h."listened_until" INTO head;
    block[1] := head."seq" - block[3] + 1;
    block[2] := head."seq";
    IF block[3] = 1 AND head."listened_until" > now() THEN
      PERFORM pg_notify('taskapi_sync', block[1] || ' ' || uid);
    END IF;
    PERFORM set_config('taskapi.sync_user', uid, true);
  END IF;
  INSERT INTO "sync_log" AS l ("user_id", "object_id", "kind", "seq", "deleted") VALUES (uid, oid, TG_ARGV[0], block[1], gone)
    ON CONFLICT ("user_id", "object_id") DO UPDATE
    SET "kind" = excluded."kind", "seq" = excluded."seq", "deleted" = excluded."deleted", "changed_at" = excluded."changed_at";
  block[1] := block[1] + 1;
  PERFORM set_config('taskapi.sync_block', block::text, true);
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE CONSTRAINT TRIGGER "tasks_sync" AFTER INSERT OR UPDATE OR DELETE ON "tasks" DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "sync_record"('task');--> statement-breakpoint
CREATE CONSTRAINT TRIGGER "lists_sync" AFTER INSERT OR UPDATE OR DELETE ON "lists" DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "sync_record"('list');--> statement-breakpoint
-- Changes made around the log before now (by instances of version 1 while the previous version
-- rolled out) enter it: objects with no log entry, or changed after their last entry
-- (updated_at is set in the same transaction as a recorded change, so equal for every recorded
-- one), or live with a tombstone; and live entries whose object is gone become tombstones. Each
-- user's are numbered after their head. The tables are locked above: no write runs meanwhile.
WITH "objects" AS (
  SELECT "user_id", "id", 'task' AS "kind", "updated_at" FROM "tasks"
  UNION ALL SELECT "user_id", "id", 'list', "updated_at" FROM "lists"
), "changed" AS (
  SELECT o."user_id", o."id", o."kind", false AS "deleted", o."updated_at"
  FROM "objects" o LEFT JOIN "sync_log" l ON l."user_id" = o."user_id" AND l."object_id" = o."id"
  WHERE l."seq" IS NULL OR l."deleted" OR o."updated_at" > l."changed_at"
  UNION ALL
  SELECT l."user_id", l."object_id", l."kind", true, l."changed_at"
  FROM "sync_log" l
  WHERE NOT l."deleted" AND NOT EXISTS (SELECT FROM "objects" o WHERE o."user_id" = l."user_id" AND o."id" = l."object_id")
), "numbered" AS (
  SELECT c.*, row_number() OVER (PARTITION BY "user_id" ORDER BY "updated_at", "id") AS "n", count(*) OVER (PARTITION BY "user_id") AS "total"
  FROM "changed" c
), "heads" AS (
  INSERT INTO "sync_heads" AS h ("user_id", "seq") SELECT "user_id", max("total") FROM "numbered" GROUP BY "user_id"
  ON CONFLICT ("user_id") DO UPDATE SET "seq" = h."seq" + excluded."seq"
  RETURNING h."user_id", h."seq"
)
INSERT INTO "sync_log" AS l ("user_id", "object_id", "kind", "seq", "deleted")
SELECT n."user_id", n."id", n."kind", h."seq" - n."total" + n."n", n."deleted" FROM "numbered" n JOIN "heads" h ON h."user_id" = n."user_id"
ON CONFLICT ("user_id", "object_id") DO UPDATE
SET "kind" = excluded."kind", "seq" = excluded."seq", "deleted" = excluded."deleted", "changed_at" = excluded."changed_at";
