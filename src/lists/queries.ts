// Every query that reads or writes lists. Each takes the caller's userId and filters by it; each
// write is one function, one statement or one transaction (placing a list takes the user's
// ordering lock, src/db/positions.ts).
import { and, asc, eq, inArray, sql, TransactionRollbackError } from 'drizzle-orm'
import type { Database } from '../db/client'
import { lockOrder, placeIn, type Anchor, type Collection, type Placement } from '../db/positions'
import { lists, type ListRow } from '../db/schema'
import { fieldError } from '../http/errors'
import { ownListAnchorMessage } from './model'


/** The anchor of a move (`after` or `before`, never both, never the moved object itself). */
export function anchorOf(move: { after?: string; before?: string }, id: string) {
  if (move.after !== undefined && move.before !== undefined) throw fieldError('before', 'cannot be given together with after')
  const field = move.after !== undefined ? ('after' as const) : move.before !== undefined ? ('before' as const) : undefined
  if (field === undefined) return undefined
  if (move[field] === id) throw fieldError(field, 'must not be the one being moved')
  return { field, id: move[field]! }
}

/** Where the anchor, read under the ordering lock, puts the moved object. */
export function placementOf(anchor: { field: 'after' | 'before' } | undefined, row: Anchor | null | undefined, message: string): Placement {
  if (!anchor) return { at: 'top' }
  if (!row) throw fieldError(anchor.field, message)
  return anchor.field === 'after' ? { after: row } : { before: row }
}

/** A user's lists, as an ordered collection. */
const userLists = (userId: string): Collection => ({ table: lists, userId, scope: eq(lists.userId, userId) })

/** The caller's list `id`; with `ifMatch`, only at one of those versions (If-Match, in the write's own WHERE). */
function owned(userId: string, id: string, ifMatch: readonly number[] | null = null) {
  return and(eq(lists.id, id), eq(lists.userId, userId), ifMatch === null ? undefined : inArray(lists.version, [...ifMatch]))
}

/** `exists(…)`: whether `listId` is one of the caller's lists, for use inside a larger statement. */
export const ownsListSql = (userId: string, listId: string) => sql`exists (select 1 from ${lists} where ${owned(userId, listId)})`

export async function ownsList(db: Database, userId: string, listId: string): Promise<boolean> {
  const [row] = await db.select({ ok: ownsListSql(userId, listId).mapWith(Boolean) }).from(sql`(select 1) as one`)
  return row!.ok
}

export function allLists(db: Database, userId: string): Promise<ListRow[]> {
  return db.select().from(lists).where(eq(lists.userId, userId)).orderBy(asc(lists.position), asc(lists.id))
}

export async function getList(db: Database, userId: string, id: string): Promise<ListRow | undefined> {
  const [row] = await db.select().from(lists).where(owned(userId, id))
  return row
}

/**
 * Creates a list at the end of the caller's lists, under the ordering lock (a re-spacing keeps the
 * first key from going down, not the last from going up).
 */
export function createList(db: Database, userId: string, name: string): Promise<ListRow> {
  return db.transaction(async (tx) => {
    await lockOrder(tx, userId)
    const position = await placeIn(tx, userLists(userId), null, { at: 'end' })
    const [row] = await tx.insert(lists).values({ id: Bun.randomUUIDv7(), userId, name: name.trim(), position }).returning()
    return row!
  })
}

/**
 * Renames a list; `undefined` when the caller has no such list, or not at a version `ifMatch`
 * names. No name is no change.
 */
export async function renameList(db: Database, userId: string, id: string, name: string | undefined, ifMatch: readonly number[] | null = null): Promise<ListRow | undefined> {
  if (name === undefined) {
    const [row] = await db.select().from(lists).where(owned(userId, id, ifMatch))
    return row
  }
  const [row] = await db
    .update(lists)
    .set({ name: name.trim(), version: sql`${lists.version} + 1`, updatedAt: sql`now()` })
    .where(owned(userId, id, ifMatch))
    .returning()
  return row
}

/** Places a list after or before another of the caller's lists, or first; `undefined` when the caller has no such list. */
export function moveList(db: Database, userId: string, id: string, move: { after?: string; before?: string }, ifMatch: readonly number[] | null = null): Promise<ListRow | undefined> {
  const anchor = anchorOf(move, id)
  return db.transaction(async (tx) => {
    await lockOrder(tx, userId)
    // One read, after the lock: the list and its anchor, by their keys.
    const rows = await tx
      .select({ id: lists.id, position: lists.position, version: lists.version })
      .from(lists)
      .where(and(eq(lists.userId, userId), sql`${lists.id} in (${id}::uuid, ${anchor?.id ?? id}::uuid)`))
    const self = rows.find((r) => r.id === id)
    // A stale If-Match stops here, before any other list is re-spaced.
    if (!self || (ifMatch !== null && !ifMatch.includes(self.version))) return undefined
    const placement = placementOf(anchor, rows.find((r) => r.id === anchor?.id), ownListAnchorMessage)
    const position = await placeIn(tx, userLists(userId), id, placement)
    const [row] = await tx
      .update(lists)
      .set({ position, version: sql`${lists.version} + 1`, updatedAt: sql`now()` })
      .where(owned(userId, id, ifMatch))
      .returning()
    // Renamed meanwhile (renames take no ordering lock): undo the re-spacing too.
    if (!row) tx.rollback()
    return row
  }).catch(undoneByPrecondition)
}

/** A transaction rolled back because its If-Match no longer held answers `undefined`, like a stale one. */
export function undoneByPrecondition(error: unknown): undefined {
  if (error instanceof TransactionRollbackError) return undefined
  throw error
}

/**
 * Deletes a list and, through the foreign key's cascade, every task in it, in one statement; false
 * when the caller has no such list, or not at a version `ifMatch` names. (Not a second delete of the
 * tasks beside it: that one would go ahead when the list's own If-Match check fails.) The change log
 * gets the list's tombstone and each cascaded task's: the trigger fires for those rows too.
 */
export async function deleteList(db: Database, userId: string, id: string, ifMatch: readonly number[] | null = null): Promise<boolean> {
  const rows = await db.delete(lists).where(owned(userId, id, ifMatch)).returning({ id: lists.id })
  return rows.length > 0
}
