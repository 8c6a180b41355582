// Every query that reads or writes lists. Each takes the caller's userId and filters by it; each
// write is one function, one statement or one transaction (placing a list takes the user's
// ordering lock, src/db/positions.ts).
import { and, asc, eq, ne, sql, TransactionRollbackError, type SQLWrapper } from 'drizzle-orm'
import { alias } from 'drizzle-orm/pg-core'
import type { Database } from '../db/client'
import { lockedRead, lockOrder, neighbourSql, placeIn, type Anchor, type Collection, type Placement } from '../db/positions'
import { lists } from '../db/schema'
import { statement } from '../db/statement'
import { fieldError } from '../http/errors'
import { listColumns, ownListAnchorMessage, type List } from './model'


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
const userLists = (userId: string): Collection => ({ table: lists, userId })

/** `exists(…)`: whether `listId` is one of the caller's lists, for use inside a larger statement. */
export const ownsListSql = (userId: SQLWrapper | string, listId: SQLWrapper | string) =>
  sql`exists (select 1 from ${lists} where ${and(eq(lists.id, listId), eq(lists.userId, userId))})`

const p = sql.placeholder
/** The caller's list (placeholders userId, id); with `ifMatch`, only at one of the versions in `versions` ("1,2"). */
const ownedBy = (ifMatch: boolean) =>
  and(eq(lists.id, p('id')), eq(lists.userId, p('userId')), ifMatch ? sql`${lists.version} = any(string_to_array(${p('versions')}, ',')::int[])` : undefined)
const owns = statement((db) => db.select({ ok: sql`exists (select 1 from ${lists} where ${ownedBy(false)})`.mapWith(Boolean) }).from(sql`(select 1) as one`))
const all = statement((db) => db.select(listColumns).from(lists).where(eq(lists.userId, p('userId'))).orderBy(asc(lists.position), asc(lists.id)))
const oneList = [false, true].map((ifMatch) => statement((db) => db.select(listColumns).from(lists).where(ownedBy(ifMatch))))

export async function ownsList(db: Database, userId: string, listId: string): Promise<boolean> {
  const [row] = await owns.run(db, { userId, id: listId })
  return row!.ok
}

export function allLists(db: Database, userId: string): Promise<List[]> {
  return all.run(db, { userId })
}

export async function getList(db: Database, userId: string, id: string): Promise<List | undefined> {
  const [row] = await oneList[0]!.run(db, { userId, id })
  return row
}

// The writes, built once (placeholders for every value; `versions` for If-Match).
const insert = statement((db) => db.insert(lists).values({ id: p('id'), userId: p('userId'), name: p('name'), position: p('position') }).returning(listColumns))
const bumped = { version: sql`${lists.version} + 1`, updatedAt: sql`now()` }
const renames = [false, true].map((ifMatch) =>
  statement((db) => db.update(lists).set({ name: sql`${p('name')}`, ...bumped }).where(ownedBy(ifMatch)).returning(listColumns)),
)
const moves = [false, true].map((ifMatch) =>
  statement((db) => db.update(lists).set({ position: sql`${p('position')}`, ...bumped }).where(ownedBy(ifMatch)).returning(listColumns)),
)
const deletes = [false, true].map((ifMatch) => statement((db) => db.delete(lists).where(ownedBy(ifMatch)).returning({ id: lists.id })))
// A move's one read, per side of the gap (after or before the anchor, or the top): the list, its
// anchor and the neighbour of the gap among the caller's other lists.
const moveReads = (['after', 'before', 'top'] as const).map((side) => {
  const anchor = alias(lists, 'anchor')
  const near = alias(lists, 'neighbour')
  const bound = side === 'top' ? undefined : { position: anchor.position, id: anchor.id }
  return statement((db) =>
    db
      .select({
        version: lists.version,
        anchor: { id: anchor.id, position: anchor.position },
        neighbour: neighbourSql(near, and(eq(near.userId, p('userId')), ne(near.id, lists.id))!, side, bound),
      })
      .from(lists)
      .leftJoin(anchor, bound ? and(eq(anchor.id, p('anchorId')), eq(anchor.userId, p('userId'))) : sql`false`)
      .where(ownedBy(false)),
  )
})

/**
 * Creates a list at the end of the caller's lists, under the ordering lock (a re-spacing keeps the
 * first key from going down, not the last from going up).
 */
export function createList(db: Database, userId: string, name: string): Promise<List> {
  return db.transaction(async (tx) => {
    await lockOrder(tx, userId)
    const position = await placeIn(tx, userLists(userId), null, { at: 'end' })
    const [row] = await insert.run(tx, { id: Bun.randomUUIDv7(), userId, name: name.trim(), position })
    return row!
  })
}

/**
 * Renames a list; `undefined` when the caller has no such list, or not at a version `ifMatch`
 * names. No name is no change.
 */
export async function renameList(db: Database, userId: string, id: string, name: string | undefined, ifMatch: readonly number[] | null = null): Promise<List | undefined> {
  if (name === undefined) {
    const [row] = await oneList[ifMatch === null ? 0 : 1]!.run(db, { userId, id, versions: ifMatch?.join(',') })
    return row
  }
  const [row] = await renames[ifMatch === null ? 0 : 1]!.run(db, { userId, id, versions: ifMatch?.join(','), name: name.trim() })
  return row
}

/** Places a list after or before another of the caller's lists, or first; `undefined` when the caller has no such list. */
export function moveList(db: Database, userId: string, id: string, move: { after?: string; before?: string }, ifMatch: readonly number[] | null = null): Promise<List | undefined> {
  const anchor = anchorOf(move, id)
  const read = moveReads[anchor?.field === 'after' ? 0 : anchor?.field === 'before' ? 1 : 2]!
  return db.transaction(async (tx) => {
    // One read, right behind the lock: the list, its anchor and the neighbour of the gap.
    const [self] = await lockedRead(tx, userId, () => read.run(tx, { userId, id, anchorId: anchor?.id }))
    // A stale If-Match stops here, before any other list is re-spaced.
    if (!self || (ifMatch !== null && !ifMatch.includes(self.version))) return undefined
    const position = await placeIn(tx, userLists(userId), id, placementOf(anchor, self.anchor, ownListAnchorMessage), self.neighbour)
    const [row] = await moves[ifMatch === null ? 0 : 1]!.run(tx, { userId, id, versions: ifMatch?.join(','), position })
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
  const rows = await deletes[ifMatch === null ? 0 : 1]!.run(db, { userId, id, versions: ifMatch?.join(',') })
  return rows.length > 0
}
