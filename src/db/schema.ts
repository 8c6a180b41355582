// The tasks table. CHECK constraints mirror the API's validation so no other writer can store what
// the API would refuse; indexes serve every list shape (user first, then each sort key and id).
import { sql } from 'drizzle-orm'
import { bigint, boolean, check, index, integer, pgEnum, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core'

// Declared in rank order: Postgres sorts enum values by declaration, so `ORDER BY priority` is by rank.
export const priorities = ['none', 'low', 'medium', 'high'] as const
export const priority = pgEnum('task_priority', priorities)

// Millisecond precision: the API speaks milliseconds, and keyset cursors compare exact values.
const instant = (name: string) => timestamp(name, { precision: 3, withTimezone: true, mode: 'date' })

export const tasks = pgTable(
  'tasks',
  {
    id: uuid('id').primaryKey(),
    userId: text('user_id').notNull(),
    title: text('title').notNull(),
    description: text('description'),
    completed: boolean('completed').notNull().default(false),
    completedAt: instant('completed_at'),
    priority: priority('priority').notNull().default('none'),
    dueAt: instant('due_at'),
    createdAt: instant('created_at').notNull().defaultNow(),
    updatedAt: instant('updated_at').notNull().defaultNow(),
    version: integer('version').notNull().default(1),
  },
  (t) => [
    check('tasks_user_id_length', sql`char_length(${t.userId}) between 1 and 255`),
    check('tasks_title_length', sql`char_length(${t.title}) between 1 and 200`),
    check('tasks_description_length', sql`char_length(${t.description}) <= 2000`),
    check('tasks_completed_at', sql`${t.completed} = (${t.completedAt} is not null)`),
    check('tasks_version_positive', sql`${t.version} >= 1`),
    index('tasks_user_created_idx').on(t.userId, t.createdAt, t.id),
    index('tasks_user_updated_idx').on(t.userId, t.updatedAt, t.id),
    index('tasks_user_due_idx').on(t.userId, t.dueAt, t.id),
    index('tasks_user_priority_idx').on(t.userId, t.priority, t.id),
    index('tasks_user_title_idx').on(t.userId, sql`lower(${t.title}) collate "C"`, t.id),
  ],
)

// The embedded and Neon drivers hand timestamps over as Postgres's text ("0050-06-01 00:00:00+00"),
// which Drizzle reads with new Date(text): that reads years 0000-0099 as 19xx/20xx. The same text
// in ISO 8601 form is read right. (Bun's client hands over Dates, which pass through.)
const readInstant = (value: unknown) => (typeof value === 'string' ? new Date(value.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00')) : (value as Date))
for (const column of [tasks.completedAt, tasks.dueAt, tasks.createdAt, tasks.updatedAt]) column.mapFromDriverValue = readInstant

export type TaskRow = typeof tasks.$inferSelect

// ---- Sync: the change log ----------------------------------------------------------------------
// Every write records its change in the same statement (src/sync/record.ts). A user's changes are
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
