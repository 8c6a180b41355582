// The change log's read side: a page of the feed (one statement: a range read of the user's log
// by change number, joined to the objects' current rows), and the purge of old tombstones.
import { and, eq, gt, or, sql, type Placeholder } from 'drizzle-orm'
import type { Database } from '../db/client'
import { lists, syncHeads, syncLog, tasks } from '../db/schema'
import { statement } from '../db/statement'
import { ApiError } from '../http/errors'
import { listColumns, type List } from '../lists/model'
import { taskColumns, type Task } from '../tasks/model'
import type { SyncCursor } from './cursor'
import type { Change } from './model'

export interface FeedOptions {
  /** Epoch milliseconds; injectable so tests can move time. */
  now: () => number
  retentionMs: number
}

export interface FeedPage {
  /** Each change with its number, in order. */
  changes: { seq: number; change: Change }[]
  /** Where the next read starts. */
  next: SyncCursor
  hasMore: boolean
}

/**
 * Reads the changes after `since` (a snapshot of live objects when it is null), at most `limit`.
 * Throws 410 CURSOR_EXPIRED for a cursor older than the retention or behind a purged tombstone,
 * and 400 INVALID_CURSOR for one ahead of anything this user has.
 */
export async function readFeed(db: Database, userId: string, since: SyncCursor | null, limit: number, options: FeedOptions): Promise<FeedPage> {
  const issued = Math.floor(options.now() / 1000)
  if (since && (since.issued + options.retentionMs / 1000 < issued)) throw expired()

  const after = since?.seq ?? 0
  // The first snapshot page holds live objects only; the pages after it also hold the tombstones
  // of deletions made since the snapshot began (above its floor), or a client would keep them.
  const floor = since === null ? null : since.floor
  const rows = await feedStatements[shapeOf(after, floor)].run(db, { userId, after, floor, limit: limit + 1 })

  const { head: headSeq, purgedSeq } = rows[0]!
  if (since) {
    if (Math.max(since.seq, since.floor) < purgedSeq) throw expired()
    if (since.seq > headSeq) throw new ApiError('INVALID_CURSOR', 'The cursor is not one of yours; start again without it')
  }
  const found = rows.filter((r) => r.seq !== null)
  const hasMore = found.length > limit
  if (hasMore) found.length = limit
  const changes = found.map((r) => ({ seq: r.seq!, change: toChange(r.kind!, r.objectId!, r.deleted!, r.task, r.list) }))
  const last = changes.at(-1)?.seq ?? after
  const snapshotFloor = floor ?? headSeq
  const next: SyncCursor = hasMore
    ? { seq: last, floor: snapshotFloor > last ? snapshotFloor : 0, issued }
    : { seq: Math.max(headSeq, after), floor: 0, issued }
  return { changes, next, hasMore }
}

/** Which tombstones a page holds: none (a first snapshot), those above the floor, or all. */
type FeedShape = 'live' | 'aboveFloor' | 'all'
const shapeOf = (after: number, floor: number | null): FeedShape => (floor === null ? 'live' : floor > after ? 'aboveFloor' : 'all')

type Value<T> = T | Placeholder
const p = sql.placeholder
// One statement per shape, built once; a page binds the user, `after`, `floor` and the limit.
const feedStatements = {
  live: statement((db) => feedPage(db, 'live', p('userId'), p('after'), p('floor'), p('limit'))),
  aboveFloor: statement((db) => feedPage(db, 'aboveFloor', p('userId'), p('after'), p('floor'), p('limit'))),
  all: statement((db) => feedPage(db, 'all', p('userId'), p('after'), p('floor'), p('limit'))),
}

/**
 * One page of the log after `after` joined to the objects' current rows, with the user's head and
 * purge mark (one row even when nothing changed). `floor` null: live objects only. (The statement a
 * page runs, with these values in it: for EXPLAIN.)
 */
export function feedQuery(db: Database, userId: string, after: number, floor: number | null, limit: number) {
  return feedPage(db, shapeOf(after, floor), userId, after, floor ?? 0, limit + 1)
}

function feedPage(db: Database, shape: FeedShape, userId: Value<string>, after: Value<number>, floor: Value<number>, limit: Value<number>) {
  const head = db
    .select({
      seq: sql<number>`coalesce(max(${syncHeads.seq}), 0)`.mapWith(Number).as('head_seq'),
      purgedSeq: sql<number>`coalesce(max(${syncHeads.purgedSeq}), 0)`.mapWith(Number).as('head_purged_seq'),
    })
    .from(syncHeads)
    .where(eq(syncHeads.userId, userId))
    .as('head')
  const page = db
    .select()
    .from(syncLog)
    .where(
      and(
        eq(syncLog.userId, userId),
        gt(syncLog.seq, after),
        shape === 'live' ? eq(syncLog.deleted, false) : shape === 'aboveFloor' ? or(eq(syncLog.deleted, false), gt(syncLog.seq, floor)) : undefined,
      ),
    )
    .orderBy(syncLog.seq)
    .limit(limit)
    .as('page')
  return db
    .select({ head: head.seq, purgedSeq: head.purgedSeq, seq: page.seq, kind: page.kind, objectId: page.objectId, deleted: page.deleted, task: taskColumns, list: listColumns })
    .from(head)
    .leftJoin(page, sql`true`)
    .leftJoin(tasks, and(eq(page.kind, 'task'), eq(tasks.id, page.objectId), eq(tasks.userId, userId)))
    .leftJoin(lists, and(eq(page.kind, 'list'), eq(lists.id, page.objectId), eq(lists.userId, userId)))
    .orderBy(page.seq)
}

// A live log row whose object is gone (written around the log, e.g. by an instance of the previous
// version during a rolling deploy) is reported as deleted: the client's copy must not keep it.
function toChange(kind: 'task' | 'list', id: string, deleted: boolean, task: Task | null, list: List | null): Change {
  if (kind === 'list') return deleted || list === null ? { type: 'list', op: 'delete', id } : { type: 'list', op: 'upsert', id, data: list }
  return deleted || task === null ? { type: 'task', op: 'delete', id } : { type: 'task', op: 'upsert', id, data: task }
}

const expired = () => new ApiError('CURSOR_EXPIRED', 'The cursor is older than the change history kept; start again without `since`')

/**
 * Marks users as having an event stream open until `ttlS` seconds from now (the database's clock),
 * so their writes send a NOTIFY. Rows are taken in id order, so two instances refreshing at once
 * cannot deadlock.
 */
export async function listenFor(db: Database, userIds: readonly string[], ttlS: number): Promise<void> {
  if (userIds.length === 0) return
  const until = sql`now() + make_interval(secs => ${ttlS})`
  await db
    .insert(syncHeads)
    .values([...userIds].sort().map((userId) => ({ userId, seq: 0, listenedUntil: until })))
    .onConflictDoUpdate({ target: syncHeads.userId, set: { listenedUntil: sql`greatest(${syncHeads.listenedUntil}, excluded.listened_until)` } })
}

/** The user's current change number (0 before the first change). */
export async function currentSeq(db: Database, userId: string): Promise<number> {
  const [row] = await db.select({ seq: syncHeads.seq }).from(syncHeads).where(eq(syncHeads.userId, userId))
  return row?.seq ?? 0
}

/**
 * Deletes tombstones older than `cutoff`, a batch at a time, and raises each affected user's purge
 * mark so a cursor that would have needed one gets 410. Safe on every instance at once (rows another
 * purger holds are skipped). Returns how many were deleted.
 */
export async function purgeTombstones(db: Database, cutoff: Date, batch = 5000): Promise<number> {
  let total = 0
  for (;;) {
    // The partial index on tombstones' changed_at finds them without reading live objects' rows.
    const gone = db
      .$with('gone', { userId: sql<string>`user_id`.as('user_id'), seq: sql<number>`seq`.as('seq') })
      .as(
        sql`delete from sync_log where deleted and (user_id, object_id) in (
              select user_id, object_id from sync_log where deleted and changed_at < ${cutoff.toISOString()}::timestamptz
              limit ${batch} for update skip locked)
            returning user_id, seq`,
      )
    const marks = db
      .$with('marks', { one: sql`1`.as('one') })
      .as(
        sql`update sync_heads h set purged_seq = greatest(h.purged_seq, g.seq)
            from (select user_id, max(seq) as seq from ${gone} group by user_id) g
            where h.user_id = g.user_id returning 1`,
      )
    const [row] = await db.with(gone, marks).select({ n: sql<number>`count(*)`.mapWith(Number) }).from(gone)
    total += row!.n
    if (row!.n < batch) return total
  }
}
