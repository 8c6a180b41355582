// Every query that reads or writes tasks. Each takes the caller's userId and filters by it, and each
// endpoint's work is one round trip (UPDATE … RETURNING, never read-then-write), or one transaction
// when it places a task in a list's order (src/db/positions.ts). Each write is one function here.
import { and, asc, desc, eq, gte, ilike, inArray, isNull, lt, or, sql, type SQL } from 'drizzle-orm'
import { alias, type PgUpdateSetSource } from 'drizzle-orm/pg-core'
import type { Database } from '../db/client'
import { databaseState } from '../db/errors'
import { lockOrder, placeIn, type Collection } from '../db/positions'
import { priorities, tasks, type TaskRow } from '../db/schema'
import { fieldError } from '../http/errors'
import { isId, isStorableInstant } from '../http/formats'
import { anchorOf, ownsList, ownsListSql, placementOf, undoneByPrecondition } from '../lists/queries'
import { listFilterMessage, ownListMessage, ownTaskMessage, type CreateTask, type ListRequest, type MoveTask, type SortKey, type UpdateTask } from './model'

type Changes = PgUpdateSetSource<typeof tasks>
/** The versions a write may apply to (from If-Match), or `null` for any. */
export type IfMatch = readonly number[] | null

/** The tasks of one list (null: the inbox) of one user, as an ordered collection. */
export const taskList = (userId: string, listId: string | null): Collection => ({
  table: tasks,
  userId,
  scope: and(eq(tasks.userId, userId), listId === null ? isNull(tasks.listId) : eq(tasks.listId, listId))!,
})

/** Creates a task at the top of its list (the inbox unless `list_id` names one of the caller's lists). */
export function createTask(db: Database, userId: string, input: CreateTask): Promise<TaskRow> {
  const completed = input.completed ?? false
  const listId = input.list_id ?? null
  return inList(() =>
    // No ordering lock: a key before the first one stays on top (src/db/positions.ts).
    db.transaction(async (tx) => {
      const position = await placeIn(tx, taskList(userId, listId), null, { at: 'top' })
      const [row] = await tx
        .insert(tasks)
        .values({
          id: Bun.randomUUIDv7(),
          userId,
          listId,
          title: input.title.trim(),
          description: input.description ?? null,
          completed,
          completedAt: completed ? sql`now()` : null,
          priority: input.priority ?? 'none',
          dueAt: toDate(input.due_at),
          position,
        })
        .returning()
      return row!
    }),
  )
}

export async function getTask(db: Database, userId: string, id: string): Promise<TaskRow | undefined> {
  const [row] = await db.select().from(tasks).where(owned(userId, id))
  return row
}

/**
 * Applies a partial update; `undefined` when the caller has no such task, or its version is not one
 * `ifMatch` names. A `list_id` other than the task's own moves it to the top of that list (the same
 * one leaves it where it is, so a client may send a task back as it got it). Every write here checks
 * `ifMatch` in its own WHERE, so of two writers naming the same version, exactly one succeeds.
 */
export async function updateTask(db: Database, userId: string, id: string, patch: UpdateTask, ifMatch: IfMatch = null): Promise<TaskRow | undefined> {
  const changes: Changes = {}
  if (patch.title !== undefined) changes.title = patch.title.trim()
  if (patch.description !== undefined) changes.description = patch.description
  if (patch.priority !== undefined) changes.priority = patch.priority
  if (patch.due_at !== undefined) changes.dueAt = toDate(patch.due_at)
  if (patch.completed !== undefined) {
    changes.completed = patch.completed
    changes.completedAt = patch.completed ? sql`coalesce(${tasks.completedAt}, now())` : null
  }
  const listId = patch.list_id
  if (listId !== undefined) {
    return inList(() =>
      db.transaction(async (tx) => {
        await lockOrder(tx, userId)
        // A stale If-Match stops here, before any other task is re-spaced.
        const [current] = await tx.select({ listId: tasks.listId }).from(tasks).where(owned(userId, id, ifMatch))
        if (!current) return undefined
        if (current.listId !== listId) Object.assign(changes, { listId, position: await placeIn(tx, taskList(userId, listId), id, { at: 'top' }) })
        const row = Object.keys(changes).length === 0 ? await unchanged(tx, userId, id, ifMatch) : await write(tx, userId, id, changes, ifMatch)
        // Changed meanwhile (only moves take the ordering lock): undo the re-spacing too.
        if (!row) tx.rollback()
        return row
      }).catch(undoneByPrecondition),
    )
  }
  if (Object.keys(changes).length === 0) return unchanged(db, userId, id, ifMatch)
  return write(db, userId, id, changes, ifMatch)
}

/** Nothing to change is not a change: the task comes back as it is, its version untouched. */
async function unchanged(db: Database, userId: string, id: string, ifMatch: IfMatch) {
  const [row] = await db.select().from(tasks).where(owned(userId, id, ifMatch))
  return row
}

/**
 * Places a task after or before another task of the target list, or at its top; `list_id` moves
 * it to another list. `undefined` when the caller has no such task. Never changes another task,
 * unless the list must be re-spaced to keep keys short (their versions bump).
 */
export async function moveTask(db: Database, userId: string, id: string, move: MoveTask, ifMatch: IfMatch = null): Promise<TaskRow | undefined> {
  const anchor = anchorOf(move, id)
  return inList(() =>
    db.transaction(async (tx) => {
      await lockOrder(tx, userId)
      // One read, after the lock: the task, the anchor and the target list, each by its key.
      const other = alias(tasks, 'anchor')
      const [state] = await tx
        .select({
          listId: tasks.listId,
          listOk: move.list_id ? ownsListSql(userId, move.list_id).mapWith(Boolean) : sql<boolean>`true`.mapWith(Boolean),
          anchor: { id: other.id, listId: other.listId, position: other.position },
        })
        .from(tasks)
        .leftJoin(other, anchor ? and(eq(other.id, anchor.id), eq(other.userId, userId)) : sql`false`)
        // A stale If-Match stops here, before any other task is re-spaced.
        .where(owned(userId, id, ifMatch))
      if (!state) return undefined
      if (!state.listOk) throw fieldError('list_id', ownListMessage)
      const target = move.list_id !== undefined ? move.list_id : state.listId
      if (anchor && state.anchor && state.anchor.listId !== target) throw fieldError(anchor.field, 'must be a task in the list the task is moved to')
      const position = await placeIn(tx, taskList(userId, target), id, placementOf(anchor, state.anchor, ownTaskMessage))
      const row = await write(tx, userId, id, { listId: target, position }, ifMatch)
      // Changed meanwhile (only moves take the ordering lock): undo the re-spacing too.
      if (!row) tx.rollback()
      return row
    }).catch(undoneByPrecondition),
  )
}

/** Flips `completed`, or sets it when `completed` is given. */
export function toggleTask(db: Database, userId: string, id: string, completed?: boolean, ifMatch: IfMatch = null): Promise<TaskRow | undefined> {
  if (completed !== undefined) {
    return write(db, userId, id, { completed, completedAt: completed ? sql`coalesce(${tasks.completedAt}, now())` : null }, ifMatch)
  }
  // In SET, column references read the row as it was before this update.
  return write(
    db,
    userId,
    id,
    { completed: sql`not ${tasks.completed}`, completedAt: sql`case when ${tasks.completed} then null else now() end` },
    ifMatch,
  )
}

/** Updates one task. */
async function write(db: Database, userId: string, id: string, changes: Changes, ifMatch: IfMatch = null) {
  const [row] = await db
    .update(tasks)
    .set({ ...changes, version: sql`${tasks.version} + 1`, updatedAt: sql`now()` })
    .where(owned(userId, id, ifMatch))
    .returning()
  return row
}

export async function deleteTask(db: Database, userId: string, id: string, ifMatch: IfMatch = null): Promise<boolean> {
  const rows = await db.delete(tasks).where(owned(userId, id, ifMatch)).returning({ id: tasks.id })
  return rows.length > 0
}

/** Deletes the caller's completed tasks, within one list when `listId` is given ('none': the inbox). */
export async function clearCompleted(db: Database, userId: string, listId?: string): Promise<number> {
  const rows = await db
    .delete(tasks)
    .where(and(eq(tasks.userId, userId), eq(tasks.completed, true), listFilter(listId)))
    .returning({ id: tasks.id })
  // Nothing deleted: only then is it worth asking whether the list is the caller's at all.
  if (rows.length === 0) await checkListFilter(db, userId, listId)
  return rows.length
}

function listFilter(listId: string | undefined): SQL | undefined {
  if (listId === undefined) return undefined
  return listId === 'none' ? isNull(tasks.listId) : eq(tasks.listId, listId)
}

async function checkListFilter(db: Database, userId: string, listId: string | undefined) {
  if (listId !== undefined && listId !== 'none' && !(await ownsList(db, userId, listId))) throw fieldError('list_id', listFilterMessage)
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
  position: {
    // The column is collate "C": keys compare by their bytes, as the key library assumes.
    key: sql`${tasks.position}`,
    bind: (v) => sql`${v}::text`,
    valueOf: (row) => row.position,
    nullable: false,
    accepts: (v) => typeof v === 'string' && /^[0-9A-Za-z]{1,64}$/.test(v),
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

  where.push(listFilter(query.list_id))
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

  if (rows.length === 0) await checkListFilter(db, userId, query.list_id)
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

// The composite key (user_id, list_id) → lists refuses a list that is not the caller's (or was
// deleted a moment ago): the same answer as a list id that never existed.
async function inList<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write()
  } catch (error) {
    if (databaseState(error).sqlState === '23503') throw fieldError('list_id', ownListMessage)
    throw error
  }
}

function owned(userId: string, id: string, ifMatch: IfMatch = null) {
  return and(eq(tasks.id, id), eq(tasks.userId, userId), ifMatch === null ? undefined : inArray(tasks.version, [...ifMatch]))
}

function toDate(value: string | null | undefined): Date | null {
  return value == null ? null : new Date(value)
}
