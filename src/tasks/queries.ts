// Every query that reads or writes tasks. Each takes the caller's userId and filters by it, and each
// endpoint's work is one round trip (UPDATE … RETURNING, never read-then-write), or one transaction
// when it places a task in a list's order (src/db/positions.ts). Each write is one function here.
// Reads are statements built once (src/db/statement.ts); every query returns tasks in their wire
// shape (taskColumns).
import { and, asc, desc, eq, ilike, isNull, ne, or, sql, type SQL, type SQLWrapper } from 'drizzle-orm'
import { alias, type PgUpdateSetSource } from 'drizzle-orm/pg-core'
import type { Database } from '../db/client'
import { databaseState } from '../db/errors'
import { firstKey, keyBetween, lockedRead, neighbourSql, placeIn, type Collection } from '../db/positions'
import { priorities, tasks } from '../db/schema'
import { statement, type Statement } from '../db/statement'
import { fieldError } from '../http/errors'
import { isId, isStorableInstant } from '../http/formats'
import { anchorOf, ownsList, ownsListSql, placementOf, undoneByPrecondition } from '../lists/queries'
import { listFilterMessage, ownListMessage, ownTaskMessage, taskColumns, type CreateTask, type ListRequest, type MoveTask, type SortKey, type Task, type UpdateTask } from './model'

const p = sql.placeholder

/** The versions a write may apply to (from If-Match), or `null` for any. */
export type IfMatch = readonly number[] | null

/** The tasks of one list (null: the inbox) of one user, as an ordered collection. */
export const taskList = (userId: string, listId: string | null): Collection => ({ table: tasks, userId, listId })

/**
 * Creates a task at the top of its list (the inbox unless `list_id` names one of the caller's lists).
 * No ordering lock and no transaction: a key before the first one stays on top whatever commits
 * between the read and the insert (src/db/positions.ts), so it is two statements, read then insert;
 * only when the first key leaves no room is the list re-spaced, in one transaction with the insert.
 */
export function createTask(db: Database, userId: string, input: CreateTask): Promise<Task> {
  const listId = input.list_id ?? null
  return inList(async () => {
    const position = keyBetween(null, await firstKey(db, taskList(userId, listId)))
    if (position !== null) return insertTask(db, userId, input, position)
    return db.transaction(async (tx) => insertTask(tx, userId, input, await placeIn(tx, taskList(userId, listId), null, { at: 'top' })))
  })
}

// The insert, built once (placeholders for every value).
const insert = statement((db) =>
  db
    .insert(tasks)
    .values({
      id: p('id'),
      userId: p('userId'),
      listId: sql`${p('listId')}::uuid`,
      title: p('title'),
      description: p('description'),
      completed: sql`${p('completed')}::boolean`,
      completedAt: sql`case when ${p('completed')}::boolean then now() end`,
      priority: sql`${p('priority')}::task_priority`,
      dueAt: sql`${p('dueAt')}::timestamptz`,
      position: p('position'),
    })
    .returning(taskColumns),
)

async function insertTask(db: Database, userId: string, input: CreateTask, position: string): Promise<Task> {
  const [row] = await insert.run(db, {
    id: Bun.randomUUIDv7(),
    userId,
    listId: input.list_id ?? null,
    title: input.title.trim(),
    description: input.description ?? null,
    completed: input.completed ?? false,
    priority: input.priority ?? 'none',
    dueAt: instantOf(input.due_at),
    position,
  })
  return row!
}

/** The caller's task `id` (placeholders userId, id); with `ifMatch`, only at one of the versions in `versions` ("1,2"). */
const ownedBy = (ifMatch: boolean) =>
  and(eq(tasks.id, p('id')), eq(tasks.userId, p('userId')), ifMatch ? sql`${tasks.version} = any(string_to_array(${p('versions')}, ',')::int[])` : undefined)
const oneTask = [false, true].map((ifMatch) => statement((db) => db.select(taskColumns).from(tasks).where(ownedBy(ifMatch))))

export async function getTask(db: Database, userId: string, id: string): Promise<Task | undefined> {
  const [row] = await oneTask[0]!.run(db, { userId, id })
  return row
}

/**
 * Applies a partial update; `undefined` when the caller has no such task, or its version is not one
 * `ifMatch` names. A `list_id` other than the task's own moves it to the top of that list (the same
 * one leaves it where it is, so a client may send a task back as it got it). Every write here checks
 * `ifMatch` in its own WHERE, so of two writers naming the same version, exactly one succeeds.
 */
export async function updateTask(db: Database, userId: string, id: string, patch: UpdateTask, ifMatch: IfMatch = null): Promise<Task | undefined> {
  const changes: Changes = {
    title: patch.title?.trim(),
    description: patch.description,
    priority: patch.priority,
    dueAt: patch.due_at === undefined ? undefined : instantOf(patch.due_at),
    completed: patch.completed,
  }
  const listId = patch.list_id
  if (listId !== undefined) {
    return inList(() =>
      db.transaction(async (tx) => {
        // A stale If-Match stops here, before any other task is re-spaced.
        const [current] = await lockedRead(tx, userId, () => oneTask[ifMatch === null ? 0 : 1]!.run(tx, { userId, id, versions: ifMatch?.join(',') }))
        if (!current) return undefined
        if (current.list_id !== listId) changes.place = { listId, position: await placeIn(tx, taskList(userId, listId), id, { at: 'top' }) }
        const row = nothingIn(changes) ? await unchanged(tx, userId, id, ifMatch) : await write(tx, userId, id, changes, ifMatch)
        // Changed meanwhile (only moves take the ordering lock): undo the re-spacing too.
        if (!row) tx.rollback()
        return row
      }).catch(undoneByPrecondition),
    )
  }
  if (nothingIn(changes)) return unchanged(db, userId, id, ifMatch)
  return write(db, userId, id, changes, ifMatch)
}

/** Nothing to change is not a change: the task comes back as it is, its version untouched. */
async function unchanged(db: Database, userId: string, id: string, ifMatch: IfMatch): Promise<Task | undefined> {
  const [row] = await oneTask[ifMatch === null ? 0 : 1]!.run(db, { userId, id, versions: ifMatch?.join(',') })
  return row
}

/**
 * Places a task after or before another task of the target list, or at its top; `list_id` moves
 * it to another list. `undefined` when the caller has no such task. Never changes another task,
 * unless the list must be re-spaced to keep keys short (their versions bump).
 */
export async function moveTask(db: Database, userId: string, id: string, move: MoveTask, ifMatch: IfMatch = null): Promise<Task | undefined> {
  const anchor = anchorOf(move, id)
  const into: MoveTarget = move.list_id === undefined ? 'own' : move.list_id === null ? 'inbox' : 'list'
  const read = moveState(anchor?.field ?? 'top', into, ifMatch !== null)
  return inList(() =>
    db.transaction(async (tx) => {
      // One read, right behind the lock: the task, the anchor, the target list and the neighbour of the gap.
      const [state] = await lockedRead(tx, userId, () => read.run(tx, { userId, id, versions: ifMatch?.join(','), anchorId: anchor?.id, listId: move.list_id }))
      if (!state) return undefined
      if (!state.listOk) throw fieldError('list_id', ownListMessage)
      const target = move.list_id !== undefined ? move.list_id : state.listId
      if (anchor && state.anchor && state.anchor.listId !== target) throw fieldError(anchor.field, 'must be a task in the list the task is moved to')
      const position = await placeIn(tx, taskList(userId, target), id, placementOf(anchor, state.anchor, ownTaskMessage), state.neighbour)
      const row = await write(tx, userId, id, { place: { listId: target, position } }, ifMatch)
      // Changed meanwhile (only moves take the ordering lock): undo the re-spacing too.
      if (!row) tx.rollback()
      return row
    }).catch(undoneByPrecondition),
  )
}

/** The list a move places the task in: its own, the one `list_id` names, or the inbox (`list_id: null`). */
type MoveTarget = 'own' | 'list' | 'inbox'

// A move's read (placeholders userId, id, versions, anchorId, listId), one statement per shape: the
// side of the gap (after or before the anchor, or the top), the target list, and If-Match. Built on
// first use.
const moveStates = new Map<string, ReturnType<typeof moveStatement>>()
function moveState(side: 'after' | 'before' | 'top', target: MoveTarget, ifMatch: boolean) {
  const name = `${side} ${target} ${ifMatch}`
  let found = moveStates.get(name)
  if (found === undefined) moveStates.set(name, (found = moveStatement(side, target, ifMatch)))
  return found
}

function moveStatement(side: 'after' | 'before' | 'top', target: MoveTarget, ifMatch: boolean) {
  const other = alias(tasks, 'anchor')
  const near = alias(tasks, 'neighbour')
  const anchor = side === 'top' ? undefined : { position: other.position, id: other.id }
  // The neighbour among the target list's other tasks (the inbox's when `list` is undefined). A
  // list and the inbox are served by two partial indexes, so each gets its own lookup.
  const neighbourIn = (list?: SQLWrapper) =>
    neighbourSql(near, and(eq(near.userId, p('userId')), list === undefined ? isNull(near.listId) : eq(near.listId, list), ne(near.id, tasks.id))!, side, anchor)
  const neighbour =
    target === 'list' ? neighbourIn(sql`${p('listId')}::uuid`)
    : target === 'inbox' ? neighbourIn()
    : sql<string | null>`case when ${tasks.listId} is null then ${neighbourIn()} else ${neighbourIn(tasks.listId)} end`
  return statement((db) =>
    db
      .select({
        listId: tasks.listId,
        listOk: (target === 'list' ? ownsListSql(p('userId'), p('listId')) : sql`true`).mapWith(Boolean),
        anchor: { id: other.id, listId: other.listId, position: other.position },
        neighbour,
      })
      .from(tasks)
      .leftJoin(other, anchor ? and(eq(other.id, p('anchorId')), eq(other.userId, p('userId'))) : sql`false`)
      // A stale If-Match stops here, before any other task is re-spaced.
      .where(ownedBy(ifMatch)),
  )
}

/** Flips `completed`, or sets it when `completed` is given. */
export function toggleTask(db: Database, userId: string, id: string, completed?: boolean, ifMatch: IfMatch = null): Promise<Task | undefined> {
  return write(db, userId, id, { completed: completed ?? 'flip' }, ifMatch)
}

/** What a write changes; an absent field stays as it is. */
interface Changes {
  title?: string
  description?: string | null
  priority?: Task['priority']
  /** As toISOString() writes it (instantOf), or null. */
  dueAt?: string | null
  /** 'flip': the opposite of what it is. */
  completed?: boolean | 'flip'
  /** Into list `listId` (null: the inbox) at key `position`. */
  place?: { listId: string | null; position: string }
}

const nothingIn = (c: Changes) => Object.values(c).every((v) => v === undefined)

/** Which fields an update sets (not their values): each shape is one statement, built on first use. */
const updates = new Map<string, Statement<Task[]>>()

function updateStatement(changes: Changes, ifMatch: boolean): Statement<Task[]> {
  const given = (k: keyof Changes) => changes[k] !== undefined
  const completed = changes.completed === 'flip' ? 'flip' : given('completed') ? 'set' : 'keep'
  const name = [given('title'), given('description'), given('priority'), given('dueAt'), completed, given('place'), ifMatch].join(' ')
  let found = updates.get(name)
  if (found === undefined) {
    const set: PgUpdateSetSource<typeof tasks> = { version: sql`${tasks.version} + 1`, updatedAt: sql`now()` }
    if (given('title')) set.title = sql`${p('title')}`
    if (given('description')) set.description = sql`${p('description')}`
    if (given('priority')) set.priority = sql`${p('priority')}::task_priority`
    if (given('dueAt')) set.dueAt = sql`${p('dueAt')}::timestamptz`
    // In SET, column references read the row as it was before this update.
    if (completed === 'flip') Object.assign(set, { completed: sql`not ${tasks.completed}`, completedAt: sql`case when ${tasks.completed} then null else now() end` })
    if (completed === 'set') {
      Object.assign(set, { completed: sql`${p('completed')}::boolean`, completedAt: sql`case when ${p('completed')}::boolean then coalesce(${tasks.completedAt}, now()) end` })
    }
    if (given('place')) Object.assign(set, { listId: sql`${p('listId')}::uuid`, position: sql`${p('position')}` })
    found = statement((db) => db.update(tasks).set(set).where(ownedBy(ifMatch)).returning(taskColumns))
    updates.set(name, found)
  }
  return found
}

/** Updates one task: `changes`, its version and updated_at; `undefined` when it is not the caller's (at an `ifMatch` version). */
async function write(db: Database, userId: string, id: string, changes: Changes, ifMatch: IfMatch = null): Promise<Task | undefined> {
  const [row] = await updateStatement(changes, ifMatch !== null).run(db, {
    userId,
    id,
    versions: ifMatch?.join(','),
    title: changes.title,
    description: changes.description,
    priority: changes.priority,
    dueAt: changes.dueAt,
    completed: changes.completed,
    listId: changes.place?.listId,
    position: changes.place?.position,
  })
  return row
}

const deletes = [false, true].map((ifMatch) => statement((db) => db.delete(tasks).where(ownedBy(ifMatch)).returning({ id: tasks.id })))

export async function deleteTask(db: Database, userId: string, id: string, ifMatch: IfMatch = null): Promise<boolean> {
  const rows = await deletes[ifMatch === null ? 0 : 1]!.run(db, { userId, id, versions: ifMatch?.join(',') })
  return rows.length > 0
}

// Per list filter: all the caller's tasks, the inbox's, one list's (placeholders userId, listId).
const clears = [undefined, isNull(tasks.listId), eq(tasks.listId, p('listId'))].map((inList) =>
  statement((db) => db.delete(tasks).where(and(eq(tasks.userId, p('userId')), eq(tasks.completed, true), inList)).returning({ id: tasks.id })),
)

/** Deletes the caller's completed tasks, within one list when `listId` is given ('none': the inbox). */
export async function clearCompleted(db: Database, userId: string, listId?: string): Promise<number> {
  const rows = await clears[listId === undefined ? 0 : listId === 'none' ? 1 : 2]!.run(db, { userId, listId })
  // Nothing deleted: only then is it worth asking whether the list is the caller's at all.
  if (rows.length === 0) await checkListFilter(db, userId, listId)
  return rows.length
}

async function checkListFilter(db: Database, userId: string, listId: string | undefined) {
  if (listId !== undefined && listId !== 'none' && !(await ownsList(db, userId, listId))) throw fieldError('list_id', listFilterMessage)
}

const stats = statement((db) =>
  db
    .select({
      total: sql<number>`count(*)`.mapWith(Number),
      completed: sql<number>`count(*) filter (where ${tasks.completed})`.mapWith(Number),
      overdue: sql<number>`count(*) filter (where not ${tasks.completed} and ${tasks.dueAt} < now())`.mapWith(Number),
    })
    .from(tasks)
    .where(eq(tasks.userId, p('userId'))),
)

export async function taskStats(db: Database, userId: string) {
  const [row] = await stats.run(db, { userId })
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
  bind: (value: SQLWrapper) => SQL
  /** Reads the cursor value off a task. */
  valueOf: (task: Task) => string | null
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
// A task's instants are already in that form (instantText).
const instantSort = (column: typeof tasks.createdAt | typeof tasks.dueAt, valueOf: (task: Task) => string | null, nullable: boolean): SortSpec => ({
  key: sql`${column}`,
  bind: (v) => sql`${v}::timestamptz`,
  valueOf,
  nullable,
  accepts: isInstant,
})

const sortSpecs: Record<SortKey, SortSpec> = {
  created_at: instantSort(tasks.createdAt, (t) => t.created_at, false),
  updated_at: instantSort(tasks.updatedAt, (t) => t.updated_at, false),
  due_at: instantSort(tasks.dueAt, (t) => t.due_at, true),
  priority: {
    key: sql`${tasks.priority}`,
    bind: (v) => sql`${v}::task_priority`,
    valueOf: (t) => t.priority,
    nullable: false,
    accepts: (v) => (priorities as readonly unknown[]).includes(v),
  },
  position: {
    // The column is collate "C": keys compare by their bytes, as the key library assumes.
    key: sql`${tasks.position}`,
    bind: (v) => sql`${v}::text`,
    valueOf: (t) => t.position,
    nullable: false,
    accepts: (v) => typeof v === 'string' && /^[0-9A-Za-z]{1,64}$/.test(v),
  },
  title: {
    // Case-insensitive, and the same byte order on every Postgres whatever its locale.
    key: sql`lower(${tasks.title}) collate "C"`,
    bind: (v) => sql`lower(${v}::text) collate "C"`,
    valueOf: (t) => t.title,
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

/** Which filters a page query has (not their values): each shape is one statement, built on first use. */
interface PageShape {
  sort: string
  list: 'any' | 'none' | 'one'
  status: ListRequest['status']
  priority: boolean
  dueAfter: boolean
  dueBefore: boolean
  search: boolean
  after: 'none' | 'null' | 'value'
}

// At most 12 sorts × 3 × 3 × 2⁴ × 3 shapes (5,184), in practice a handful.
const pageStatements = new Map<string, Statement<Task[]>>()

function pageStatement(shape: PageShape): Statement<Task[]> {
  const name = Object.values(shape).join(' ')
  let page = pageStatements.get(name)
  if (page === undefined) {
    page = statement((db) => pageQuery(db, shape))
    pageStatements.set(name, page)
  }
  return page
}

function pageQuery(db: Database, shape: PageShape) {
  const { key, descending } = parseSort(shape.sort)
  const spec = sortSpecs[key]
  const where: (SQL | undefined)[] = [eq(tasks.userId, p('userId'))]
  if (shape.list === 'none') where.push(isNull(tasks.listId))
  if (shape.list === 'one') where.push(eq(tasks.listId, p('listId')))
  if (shape.status === 'pending') where.push(eq(tasks.completed, false))
  if (shape.status === 'completed') where.push(eq(tasks.completed, true))
  if (shape.priority) where.push(eq(tasks.priority, p('priority')))
  if (shape.dueAfter) where.push(sql`${tasks.dueAt} >= ${p('dueAfter')}::timestamptz`)
  if (shape.dueBefore) where.push(sql`${tasks.dueAt} < ${p('dueBefore')}::timestamptz`)
  if (shape.search) where.push(or(ilike(tasks.title, p('pattern')), ilike(tasks.description, p('pattern'))))
  if (shape.after !== 'none') where.push(following(spec, descending, shape.after === 'null'))
  const nulls = spec.nullable ? sql` nulls last` : sql``
  return db
    .select(taskColumns)
    .from(tasks)
    .where(and(...where))
    .orderBy(descending ? sql`${spec.key} desc${nulls}` : sql`${spec.key} asc${nulls}`, descending ? desc(tasks.id) : asc(tasks.id))
    .limit(p('limit'))
}

export async function listTasks(db: Database, userId: string, query: ListRequest, after: Position | null): Promise<{ rows: Task[]; next: Position | null }> {
  const spec = sortSpecs[parseSort(query.sort).key]
  const limit = Number(query.limit)
  const listId = query.list_id
  const page = pageStatement({
    sort: query.sort,
    list: listId === undefined ? 'any' : listId === 'none' ? 'none' : 'one',
    status: query.status,
    priority: query.priority !== undefined,
    dueAfter: query.due_after !== undefined,
    dueBefore: query.due_before !== undefined,
    search: !!query.q,
    after: after === null ? 'none' : after.value === null ? 'null' : 'value',
  })
  const rows = await page.run(db, {
    userId,
    listId,
    priority: query.priority,
    // As the Date the instant stands for (milliseconds, as everywhere in the API).
    dueAfter: query.due_after && new Date(query.due_after).toISOString(),
    dueBefore: query.due_before && new Date(query.due_before).toISOString(),
    pattern: query.q && `%${query.q.replace(/[\\%_]/g, '\\$&')}%`,
    afterValue: after?.value,
    afterId: after?.id,
    limit: limit + 1,
  })

  if (rows.length === 0) await checkListFilter(db, userId, query.list_id)
  let kept = Math.min(rows.length, limit)
  // Measured only when a bound without serializing anything could exceed the budget.
  if (rows.reduce((bound, task) => bound + jsonBytesAtMost(task), 0) > PAGE_BUDGET_BYTES) {
    let bytes = 0
    for (let i = 0; i < kept; i++) {
      bytes += jsonBytes(rows[i]!)
      if (bytes > PAGE_BUDGET_BYTES && i > 0) kept = i
    }
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
const jsonBytes = (task: Task) => 400 + Buffer.byteLength(JSON.stringify(task.title)) + (task.description === null ? 0 : Buffer.byteLength(JSON.stringify(task.description)))
// At least jsonBytes, from the lengths alone: a UTF-16 unit is at most 6 bytes as JSON (`\u001f`;
// a pair of surrogates, 4 bytes of UTF-8, is two units), plus the quotes.
const jsonBytesAtMost = (task: Task) => 400 + 6 * task.title.length + 2 + (task.description === null ? 0 : 6 * task.description.length + 2)

// The rows strictly after the cursor's position (placeholders afterValue, afterId) in the total
// order (key, id), with tasks lacking the key last. `valueIsNull`: the cursor's value is null.
function following(spec: SortSpec, descending: boolean, valueIsNull: boolean): SQL {
  const beyond = descending ? sql`<` : sql`>`
  const id = sql`${p('afterId')}::uuid`
  if (valueIsNull) return sql`(${spec.key} is null and ${tasks.id} ${beyond} ${id})`
  const after = sql`(${spec.key}, ${tasks.id}) ${beyond} (${spec.bind(p('afterValue'))}, ${id})`
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

/** An RFC 3339 instant (or null) as toISOString() writes it: cut to milliseconds, as the API reads every instant. */
function instantOf(value: string | null | undefined): string | null {
  return value == null ? null : new Date(value).toISOString()
}
