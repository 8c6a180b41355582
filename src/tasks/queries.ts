// Every query that reads or writes tasks. Each takes the caller's userId and filters by it, and each
// endpoint's work is one round trip (UPDATE … RETURNING, never read-then-write).
import { and, asc, desc, eq, gte, ilike, lt, ne, or, sql, type SQL } from 'drizzle-orm'
import type { PgUpdateSetSource } from 'drizzle-orm/pg-core'
import type { Database } from '../db/client'
import { priorities, tasks, type TaskRow } from '../db/schema'
import { isId, isStorableInstant } from '../http/formats'
import { recorded } from '../sync/record'
import type { CreateTask, ListRequest, SortKey, UpdateTask } from './model'

type Changes = PgUpdateSetSource<typeof tasks>

export async function createTask(db: Database, userId: string, input: CreateTask): Promise<TaskRow> {
  const completed = input.completed ?? false
  const insert = db
    .insert(tasks)
    .values({
      id: Bun.randomUUIDv7(),
      userId,
      title: input.title.trim(),
      description: input.description ?? null,
      completed,
      completedAt: completed ? sql`now()` : null,
      priority: input.priority ?? 'none',
      dueAt: toDate(input.due_at),
    })
    .returning()
  const [row] = await recorded(db, userId, 'task', 'upsert', insert)
  return row!
}

export async function getTask(db: Database, userId: string, id: string): Promise<TaskRow | undefined> {
  const [row] = await db.select().from(tasks).where(owned(userId, id))
  return row
}

/** Applies a partial update; `undefined` when the caller has no such task. */
export async function updateTask(db: Database, userId: string, id: string, patch: UpdateTask): Promise<TaskRow | undefined> {
  const changes: Changes = {}
  if (patch.title !== undefined) changes.title = patch.title.trim()
  if (patch.description !== undefined) changes.description = patch.description
  if (patch.priority !== undefined) changes.priority = patch.priority
  if (patch.due_at !== undefined) changes.dueAt = toDate(patch.due_at)
  if (patch.completed !== undefined) {
    changes.completed = patch.completed
    changes.completedAt = patch.completed ? sql`coalesce(${tasks.completedAt}, now())` : null
  }
  // Nothing to change is not a change: the task comes back as it is, its version untouched.
  if (Object.keys(changes).length === 0) return getTask(db, userId, id)
  return write(db, userId, id, changes)
}

/** Flips `completed`, or sets it when `completed` is given. */
export function toggleTask(db: Database, userId: string, id: string, completed?: boolean): Promise<TaskRow | undefined> {
  if (completed !== undefined) return write(db, userId, id, { completed, completedAt: completed ? sql`coalesce(${tasks.completedAt}, now())` : null })
  // In SET, column references read the row as it was before this update.
  return write(db, userId, id, {
    completed: sql`not ${tasks.completed}`,
    completedAt: sql`case when ${tasks.completed} then null else now() end`,
  })
}

async function write(db: Database, userId: string, id: string, changes: Changes) {
  const update = db
    .update(tasks)
    .set({ ...changes, version: sql`${tasks.version} + 1`, updatedAt: sql`now()` })
    .where(owned(userId, id))
    .returning()
  const [row] = await recorded(db, userId, 'task', 'upsert', update)
  return row
}

export async function deleteTask(db: Database, userId: string, id: string): Promise<boolean> {
  const rows = await recorded(db, userId, 'task', 'delete', db.delete(tasks).where(owned(userId, id)).returning({ id: tasks.id }))
  return rows.length > 0
}

export async function clearCompleted(db: Database, userId: string): Promise<number> {
  const remove = db
    .delete(tasks)
    .where(and(eq(tasks.userId, userId), eq(tasks.completed, true)))
    .returning({ id: tasks.id })
  return (await recorded(db, userId, 'task', 'delete', remove)).length
}

export async function taskStats(db: Database, userId: string) {
  const [row] = await db
    .select({
      total: sql<number>`count(*)`.mapWith(Number),
      completed: sql<number>`count(*) filter (where ${tasks.completed})`.mapWith(Number),
      overdue: sql<number>`count(*) filter (where not ${tasks.completed} and ${tasks.dueAt} < now())`.mapWith(Number),
    })
    .from(tasks)
    .where(eq(tasks.userId, userId))
  const { total, completed, overdue } = row!
  return { total, completed, pending: total - completed, overdue }
}

/**
 * Whether a task the caller does not own exists under this id. Only asked after the caller's own
 * lookup missed, to tell 403 from 404; it reads no column but the key.
 */
export async function ownedByAnother(db: Database, userId: string, id: string): Promise<boolean> {
  const rows = await db
    .select({ one: sql`1` })
    .from(tasks)
    .where(and(eq(tasks.id, id), ne(tasks.userId, userId)))
    .limit(1)
  return rows.length > 0
}

// ---- Listing: filters, the five sorts, keyset pagination -------------------------------------

/** Where the previous page ended: the sort, the last task's sort value, and its id. */
export interface Position {
  sort: string
  value: string | null
  id: string
}

interface SortSpec {
  /** The expression ordered by; the index on (user_id, this, id) serves it. */
  key: SQL
  /** The cursor's value as an expression comparable with `key`. */
  bind: (value: string) => SQL
  /** Reads the cursor value off a row. */
  valueOf: (row: TaskRow) => string | null
  nullable: boolean
  /** Checks a decoded cursor value. */
  accepts: (value: unknown) => boolean
}

// Exactly what toISOString() writes, in the years Postgres can store, so it never refuses a cursor value.
const isInstant = (v: unknown) =>
  typeof v === 'string' &&
  /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(v) &&
  isStorableInstant(Date.parse(v)) &&
  new Date(v).toISOString() === v
const instantSort = (column: typeof tasks.createdAt | typeof tasks.dueAt, valueOf: (row: TaskRow) => Date | null, nullable: boolean): SortSpec => ({
  key: sql`${column}`,
  bind: (v) => sql`${v}::timestamptz`,
  valueOf: (row) => valueOf(row)?.toISOString() ?? null,
  nullable,
  accepts: isInstant,
})

const sortSpecs: Record<SortKey, SortSpec> = {
  created_at: instantSort(tasks.createdAt, (r) => r.createdAt, false),
  updated_at: instantSort(tasks.updatedAt, (r) => r.updatedAt, false),
  due_at: instantSort(tasks.dueAt, (r) => r.dueAt, true),
  priority: {
    key: sql`${tasks.priority}`,
    bind: (v) => sql`${v}::task_priority`,
    valueOf: (row) => row.priority,
    nullable: false,
    accepts: (v) => (priorities as readonly unknown[]).includes(v),
  },
  title: {
    // Case-insensitive, and the same byte order on every Postgres whatever its locale.
    key: sql`lower(${tasks.title}) collate "C"`,
    bind: (v) => sql`lower(${v}::text) collate "C"`,
    valueOf: (row) => row.title,
    nullable: false,
    accepts: (v) => typeof v === 'string' && v.length <= 800 && !v.includes('\u0000'),
  },
}

export function parseSort(sort: string): { key: SortKey; descending: boolean } {
  const descending = sort.startsWith('-')
  return { key: (descending ? sort.slice(1) : sort) as SortKey, descending }
}

/** The position a cursor's values stand for, if they fit the sort they are used with. */
export function positionOf(values: readonly unknown[], sort: string): Position | null {
  if (values.length !== 3) return null
  const [s, value, id] = values
  const spec = sortSpecs[parseSort(sort).key]
  const fits = s === sort && typeof id === 'string' && isId(id) && (value === null ? spec.nullable : spec.accepts(value))
  return fits ? { sort, value: value as string | null, id } : null
}

/** A position as cursor values (the inverse of positionOf). */
export const cursorValues = (p: Position) => [p.sort, p.value, p.id] as const

export async function listTasks(
  db: Database,
  userId: string,
  query: ListRequest,
  after: Position | null,
): Promise<{ rows: TaskRow[]; next: Position | null }> {
  const { key, descending } = parseSort(query.sort)
  const spec = sortSpecs[key]
  const limit = Number(query.limit)
  const where: (SQL | undefined)[] = [eq(tasks.userId, userId)]

  if (query.status === 'pending') where.push(eq(tasks.completed, false))
  if (query.status === 'completed') where.push(eq(tasks.completed, true))
  if (query.priority) where.push(eq(tasks.priority, query.priority))
  if (query.due_after) where.push(gte(tasks.dueAt, new Date(query.due_after)))
  if (query.due_before) where.push(lt(tasks.dueAt, new Date(query.due_before)))
  if (query.q) {
    const pattern = `%${query.q.replace(/[\\%_]/g, '\\$&')}%`
    where.push(or(ilike(tasks.title, pattern), ilike(tasks.description, pattern)))
  }
  if (after) where.push(following(spec, descending, after))

  const nulls = spec.nullable ? sql` nulls last` : sql``
  const rows = await db
    .select()
    .from(tasks)
    .where(and(...where))
    .orderBy(descending ? sql`${spec.key} desc${nulls}` : sql`${spec.key} asc${nulls}`, descending ? desc(tasks.id) : asc(tasks.id))
    .limit(limit + 1)

  let kept = Math.min(rows.length, limit)
  let bytes = 0
  for (let i = 0; i < kept; i++) {
    bytes += jsonBytes(rows[i]!)
    if (bytes > PAGE_BUDGET_BYTES && i > 0) kept = i
  }
  if (kept === rows.length) return { rows, next: null }
  rows.length = kept
  const last = rows[kept - 1]!
  return { rows, next: { sort: query.sort, value: spec.valueOf(last), id: last.id } }
}

/**
 * The most JSON one page may hold; a page that reaches it ends early and its `Link` continues
 * after its last task. 1,000 typical tasks fit many times over; 1,000 maximal ones (~9 MB) do not,
 * and a client that asks for such pages and never reads them would otherwise hold that much memory
 * per connection in the process (see README, "Clients that never read").
 */
export const PAGE_BUDGET_BYTES = 512 * 1024

// The task's size as JSON: its two free-text fields as written (escapes and UTF-8 included), plus
// a bound on everything else (ids, timestamps, names of fields).
const jsonBytes = (row: TaskRow) => 400 + Buffer.byteLength(JSON.stringify(row.title)) + (row.description === null ? 0 : Buffer.byteLength(JSON.stringify(row.description)))

// The rows strictly after `p` in the total order (key, id), with tasks lacking the key last.
function following(spec: SortSpec, descending: boolean, p: Position): SQL {
  const beyond = descending ? sql`<` : sql`>`
  const id = sql`${p.id}::uuid`
  if (p.value === null) return sql`(${spec.key} is null and ${tasks.id} ${beyond} ${id})`
  const after = sql`(${spec.key}, ${tasks.id}) ${beyond} (${spec.bind(p.value)}, ${id})`
  return spec.nullable ? sql`(${after} or ${spec.key} is null)` : after
}

function owned(userId: string, id: string) {
  return and(eq(tasks.id, id), eq(tasks.userId, userId))
}

function toDate(value: string | null | undefined): Date | null {
  return value == null ? null : new Date(value)
}
