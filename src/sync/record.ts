// Where the change log is written: by Postgres itself, not by this code. A deferred constraint
// trigger on tasks and lists (drizzle/0004_sync_triggers.sql, which explains the design) records
// every changed row at commit: the user's next number from their counter row (sync_heads), taken
// as the transaction's last lock and held until its commit is visible, so a user's changes become
// visible in the order of their numbers; one log row per object with its last number and whether
// it is deleted; and a NOTIFY on SYNC_CHANNEL while some instance has a stream of that user's open
// (`listenFor` marks them on the same counter row). So every write is a plain statement, and writes
// made by anyone (an instance of an older version, an operator's SQL) enter the feed.
//
// Numbers are increasing but not consecutive (a transaction takes them in blocks and may leave
// some unused): nothing reading the log may assume consecutive numbers.

/** The NOTIFY channel; a payload is `<seq> <user id>`, never anything a user wrote. */
export const SYNC_CHANNEL = 'taskapi_sync'
