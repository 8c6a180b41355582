CREATE TABLE "sync_streams" (
	"user_id" text NOT NULL,
	"stream_id" uuid NOT NULL,
	"expires_at" timestamp (3) with time zone NOT NULL,
	CONSTRAINT "sync_streams_user_id_stream_id_pk" PRIMARY KEY("user_id","stream_id")
);
--> statement-breakpoint
CREATE INDEX "sync_streams_expires_idx" ON "sync_streams" USING btree ("expires_at");--> statement-breakpoint
-- Opens a stream's lease when the user has fewer than `cap` live ones: one statement for the
-- service (`select sync_open_stream(…)`), one round trip. Why a function: a user's opens must be
-- serialized, and a single SQL statement cannot count rows committed while it waited for a lock
-- (its snapshot is older than the wait). Here the advisory lock (one per user, held until the
-- calling statement commits) comes first, and each statement after it, in a volatile function,
-- reads with a fresh snapshot: it sees every lease committed before the lock was granted.
-- The user's lapsed leases (instances that died) are deleted on the way.
CREATE FUNCTION "sync_open_stream"(uid text, sid uuid, cap integer, ttl_s integer) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(29555, hashtext(uid)); -- 0x7373, "ss": apart from the ordering lock's class
  DELETE FROM "sync_streams" WHERE "user_id" = uid AND "expires_at" <= now();
  IF (SELECT count(*) FROM "sync_streams" WHERE "user_id" = uid) >= cap THEN
    RETURN false;
  END IF;
  INSERT INTO "sync_streams" ("user_id", "stream_id", "expires_at") VALUES (uid, sid, now() + make_interval(secs => ttl_s));
  RETURN true;
END
$$;
