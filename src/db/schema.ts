// The tasks and lists tables. CHECK constraints mirror the API's validation so no other writer can
// store what the API would refuse; indexes serve every list shape (user first, then each sort key
// and id).
import { sql } from 'drizzle-orm'
import { type AnyPgColumn, bigint, boolean, check, customType, foreignKey, index, integer, pgEnum, pgTable, primaryKey, text, timestamp, unique, uniqueIndex, uuid } from 'drizzle-orm/pg-core'

// Declared in rank order: Postgres sorts enum values by declaration, so `ORDER BY priority` is by rank.
export const priorities = ['none', 'low', 'medium', 'high'] as const
export const priority = pgEnum('task_priority', priorities)

// Millisecond precision: the API speaks milliseconds, and keyset cursors compare exact values.
const instant = (name: string) => timestamp(name, { precision: 3, withTimezone: true, mode: 'date' })

// Manual order: fractional keys (src/db/positions.ts) compared by their bytes on every Postgres,
// whatever its locale, so the database and the key library agree on what "between" means.
const positionKey = customType<{ data: string }>({ dataType: () => 'text collate "C"' })
export const MAX_POSITION_LENGTH = 64

export const lists = pgTable(
  'lists',
  {
    id: uuid('id').primaryKey(),
    userId: text('user_id').notNull(),
    name: text('name').notNull(),
    position: positionKey('position').notNull(),
    createdAt: instant('created_at').notNull().defaultNow(),
    updatedAt: instant('updated_at').notNull().defaultNow(),
    version: integer('version').notNull().default(1),
  },
  (l) => [
    check('lists_user_id_length', sql`char_length(${l.userId}) between 1 and 255`),
    check('lists_name_length', sql`char_length(${l.name}) between 1 and 100`),
    check('lists_position_length', sql`char_length(${l.position}) between 1 and ${sql.raw(String(MAX_POSITION_LENGTH))}`),
    check('lists_version_positive', sql`${l.version} >= 1`),
    // The target of tasks' (user_id, list_id) reference: a task can only ever be in its owner's list.
    unique('lists_user_id_id_key').on(l.userId, l.id),
    index('lists_user_position_idx').on(l.userId, l.position, l.id),
  ],
)

export const tasks = pgTable(
  'tasks',
  {
    id: uuid('id').primaryKey(),
    userId: text('user_id').notNull(),
    // null: the inbox (no list).
    listId: uuid('list_id'),
    title: text('title').notNull(),
    description: text('description'),
    completed: boolean('completed').notNull().default(false),
    completedAt: instant('completed_at'),
    priority: priority('priority').notNull().default('none'),
    dueAt: instant('due_at'),
    createdAt: instant('created_at').notNull().defaultNow(),
    updatedAt: instant('updated_at').notNull().defaultNow(),
    version: integer('version').notNull().default(1),
    // The default only serves version-1 instances still inserting during a rolling deploy: 'a0' is a
    // valid key, and ties are ordered by id. This version always writes a position.
    position: positionKey('position').notNull().default('a0'),
  },
  (t) => [
    check('tasks_user_id_length', sql`char_length(${t.userId}) between 1 and 255`),
    check('tasks_title_length', sql`char_length(${t.title}) between 1 and 200`),
    check('tasks_description_length', sql`char_length(${t.description}) <= 2000`),
    check('tasks_completed_at', sql`${t.completed} = (${t.completedAt} is not null)`),
    check('tasks_version_positive', sql`${t.version} >= 1`),
    check('tasks_position_length', sql`char_length(${t.position}) between 1 and ${sql.raw(String(MAX_POSITION_LENGTH))}`),
    // Deleting a list deletes its tasks; the composite key keeps every task in a list of its own user.
    foreignKey({ name: 'tasks_list_fk', columns: [t.userId, t.listId], foreignColumns: [lists.userId, lists.id] }).onDelete('cascade'),
    index('tasks_user_created_idx').on(t.userId, t.createdAt, t.id),
    index('tasks_user_updated_idx').on(t.userId, t.updatedAt, t.id),
    index('tasks_user_due_idx').on(t.userId, t.dueAt, t.id),
    index('tasks_user_priority_idx').on(t.userId, t.priority, t.id),
    index('tasks_user_title_idx').on(t.userId, sql`lower(${t.title}) collate "C"`, t.id),
    // One list's tasks in order, both ways, as index scans: a list's through the first index, the
    // inbox's through the second (with list_id IS NULL as an index condition the planner would sort).
    index('tasks_user_list_position_idx').on(t.userId, t.listId, t.position, t.id).where(sql`${t.listId} is not null`),
    index('tasks_user_inbox_position_idx').on(t.userId, t.position, t.id).where(sql`${t.listId} is null`),
  ],
)

// The embedded and Neon drivers hand timestamps over as Postgres's text ("0050-06-01 00:00:00+00"),
// which Drizzle reads with new Date(text): that reads years 0000-0099 as 19xx/20xx. The same text
// in ISO 8601 form is read right. (Bun's client hands over Dates, which pass through.)
const readInstant = (value: unknown) => (typeof value === 'string' ? new Date(value.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00')) : (value as Date))
for (const column of [tasks.completedAt, tasks.dueAt, tasks.createdAt, tasks.updatedAt]) column.mapFromDriverValue = readInstant

/**
 * An instant as the API writes it (toISOString's form: UTC, milliseconds, "Z"), formatted by
 * Postgres as the row is read: no Date per value in the service, and the same text on every driver
 * (years 0001-0099 included, which are the only ones Postgres and the API share below 1000).
 */
export const instantText = (column: AnyPgColumn) => sql<string>`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`

export type TaskRow = typeof tasks.$inferSelect
export type ListRow = typeof lists.$inferSelect

// ---- Sync: the change log ----------------------------------------------------------------------
// Every write to tasks and lists is recorded by a trigger at commit (drizzle/0004_sync_triggers.sql,
// src/sync/record.ts). A user's changes are
// numbered by that user's counter, taken under the counter row's lock, so they become visible in
// number order: no change can appear behind a cursor already handed out.

/**
 * Each user's last change number, the highest one whose tombstone has been purged, and until when
 * some instance has an event stream of theirs open (only then does a write send a NOTIFY).
 */
export const syncHeads = pgTable('sync_heads', {
  userId: text('user_id').primaryKey(),
  seq: bigint('seq', { mode: 'number' }).notNull(),
  purgedSeq: bigint('purged_seq', { mode: 'number' }).notNull().default(0),
  listenedUntil: instant('listened_until'),
})

export const syncKinds = ['task', 'list'] as const

/**
 * One row per object a user has (or had): the number of its last change, and whether that change
 * deleted it (a tombstone, kept for the retention). A page of the feed is one range read of
 * (user_id, seq) joined to the objects' current rows.
 */
export const syncLog = pgTable(
  'sync_log',
  {
    userId: text('user_id').notNull(),
    objectId: uuid('object_id').notNull(),
    kind: text('kind', { enum: syncKinds }).notNull(),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    deleted: boolean('deleted').notNull().default(false),
    changedAt: instant('changed_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.userId, t.objectId] }),
    uniqueIndex('sync_log_user_seq_idx').on(t.userId, t.seq),
    // Only tombstones are purged: the purge finds the old ones without reading live objects.
    index('sync_log_tombstones_idx').on(t.changedAt).where(sql`${t.deleted}`),
  ],
)
// A kept response to a request sent with an Idempotency-Key, per user and key (src/http/idempotency.ts).
// Written in the same transaction as the request's own writes; kept 24 hours, then purged (the
// index on created_at serves the purge).
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    userId: text('user_id').notNull(),
    key: text('key').notNull(),
    /** Hash of method, path and canonical body: the same key with another request is refused. */
    fingerprint: text('fingerprint').notNull(),
    status: integer('status').notNull(),
    /** The kept response headers (content type, Location, ETag) as a JSON object; text, not JSONB (Bun.SQL double-encodes JSONB). */
    headers: text('headers').notNull(),
    body: text('body'),
    createdAt: instant('created_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.userId, t.key] }),
    check('idempotency_keys_key_length', sql`char_length(${t.key}) between 1 and 255`),
    index('idempotency_keys_created_idx').on(t.createdAt),
  ],
)

export type IdempotencyRecord = typeof idempotencyKeys.$inferSelect


/**
 * The event streams open on every instance, one lease per stream, so the per-user cap holds across
 * instances (src/sync/streams.ts). A lease is renewed while its stream is open and deleted when it
 * closes; one whose instance died lapses at `expires_at`.
 */
export const syncStreams = pgTable(
  'sync_streams',
  {
    userId: text('user_id').notNull(),
    streamId: uuid('stream_id').notNull(),
    expiresAt: instant('expires_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.streamId] }), index('sync_streams_expires_idx').on(t.expiresAt)],
)
