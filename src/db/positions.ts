// Manual order, for tasks within a list and for a user's lists: fractional keys (the
// `fractional-indexing` package) between neighbours, compared byte-wise (collate "C"). One
// mechanism places an item: it reads the neighbours of the gap with one indexed lookup and takes a
// key between them; when no key of at most 64 characters fits (a gap narrowed by many moves, or two
// neighbours with equal keys), it re-spaces the whole collection in the same transaction, keeping
// its order and bumping the version of every item whose key changed.
//
// Every move first takes the user's ordering lock (a transaction-scoped advisory lock), so two moves
// into one gap run one after the other and both land where asked, each reading the keys the other
// committed. A create (at the top) needs no lock: a re-spacing never lowers a collection's first
// key, so a key taken before the first one stays on top whatever commits meanwhile (two creates at
// once may share a key; the order stays total by id). A re-spacing takes the lock itself.
import { and, asc, desc, eq, gt, isNull, lt, ne, sql, type SQL, type SQLWrapper } from 'drizzle-orm'
import { type PgColumn, type PgTable, QueryBuilder } from 'drizzle-orm/pg-core'
import { generateKeyBetween, generateNKeysBetween } from 'fractional-indexing'
import type { Database } from './client'
import { type lists, MAX_POSITION_LENGTH, type tasks } from './schema'
import { statement, type Statement } from './statement'

/** An ordered collection: a user's lists, or the tasks of one of the user's lists (null: the inbox). */
export type Collection = { table: typeof lists; userId: string } | { table: typeof tasks; userId: string; listId: string | null }

/** The condition that selects a collection's rows: with its values, or with placeholders userId and listId. */
function scopeOf(c: Collection, placeholders = false): SQL {
  const value = (name: 'userId' | 'listId', v: string) => (placeholders ? sql.placeholder(name) : v)
  if (!('listId' in c)) return eq(c.table.userId, value('userId', c.userId))
  const list = c.listId === null ? isNull(c.table.listId) : eq(c.table.listId, value('listId', c.listId))
  return and(eq(c.table.userId, value('userId', c.userId)), list)!
}

type Side = 'after' | 'before' | 'top' | 'end'

/** An ordered table, or an alias of one (for a subquery that reads it beside an outer row of it). */
type Ordered = PgTable & { id: PgColumn; position: PgColumn }

/**
 * Where the neighbour of a gap is: the rows of `others` beyond the anchor (its key and id, as
 * expressions) on `side`, nearest first in the order (key, id).
 */
function gap(table: Ordered, others: SQL, side: Side, anchor?: { position: SQLWrapper; id: SQLWrapper }) {
  const pair = sql`(${table.position}, ${table.id})`
  const bound = anchor && sql`(${anchor.position}, ${anchor.id})`
  const beyond = !bound ? undefined : side === 'after' ? gt(pair, bound) : side === 'before' ? lt(pair, bound) : undefined
  const ascending = side === 'after' || side === 'top'
  return {
    where: beyond ? and(others, beyond)! : others,
    order: ascending ? [asc(table.position), asc(table.id)] : [desc(table.position), desc(table.id)],
  }
}

/**
 * The neighbour of a gap (see gap) as a scalar subquery, null when there is none: a move reads it
 * in the same statement as the moving item and its anchor (placeIn then takes it as given).
 */
export function neighbourSql(table: Ordered, others: SQL, side: Side, anchor?: { position: SQLWrapper; id: SQLWrapper }): SQL<string | null> {
  const { where, order } = gap(table, others, side, anchor)
  return sql<string | null>`(${queryBuilder.select({ position: table.position }).from(table).where(where).orderBy(...order).limit(1)})`
}
const queryBuilder = new QueryBuilder()

// The neighbour of a gap, one statement per collection kind, side and whether an item is moving
// (placeholders userId, listId, moving, and the anchor's position and id).
const neighbours = new Map<string, Statement<{ position: string }[]>>()
function neighbourStatement(c: Collection, moving: boolean, side: Side) {
  const kind = !('listId' in c) ? 'lists' : c.listId === null ? 'inbox' : 'list'
  const name = `${kind} ${moving} ${side}`
  let found = neighbours.get(name)
  if (found === undefined) {
    const { table } = c
    const scope = scopeOf(c, true)
    const others = moving ? and(scope, ne(table.id, sql.placeholder('moving')))! : scope
    const anchor = { position: sql`${sql.placeholder('anchorPosition')}::text`, id: sql`${sql.placeholder('anchorId')}::uuid` }
    const { where, order } = gap(table, others, side, anchor)
    found = statement((db) => db.select({ position: table.position }).from(table).where(where).orderBy(...order).limit(1))
    neighbours.set(name, found)
  }
  return found
}

/** An item of the collection, as a neighbour or an anchor: its key and its id break ties. */
export interface Anchor {
  id: string
  position: string
}

export type Placement = { after: Anchor } | { before: Anchor } | { at: 'top' | 'end' }

// Distinguishes our advisory locks from the migrator's (a single bigint key lives in another space).
export const ORDER_LOCK_CLASS = 0x6f72 // "or"

const lock = statement((db) => db.select({ locked: sql`pg_advisory_xact_lock(${ORDER_LOCK_CLASS}::int, hashtext(${sql.placeholder('userId')}))` }).from(sql`(select 1) as one`))

/** Serializes every ordering write of one user until the transaction ends. */
export async function lockOrder(tx: Database, userId: string): Promise<void> {
  await lock.run(tx, { userId })
}

/**
 * Takes the user's ordering lock, then runs `read`, sent right behind the lock without waiting for
 * its answer. One connection runs its statements in the order they were sent, and under READ
 * COMMITTED a statement's snapshot is taken when it starts, so the read sees every ordering write
 * committed before the lock was granted. Bun.SQL sends both in one write (one round trip once the
 * connection has prepared them); the Neon driver and PGlite send the second when the first is
 * answered, in the same order. (Taking the lock inside the read itself would not do: its snapshot
 * would predate the lock.)
 */
export async function lockedRead<T>(tx: Database, userId: string, read: () => Promise<T>): Promise<T> {
  const [, result] = await Promise.all([lock.run(tx, { userId }), read()])
  return result
}

/** A key strictly between `lo` and `hi` (null: open end), or null when none of at most 64 characters fits. */
export function keyBetween(lo: string | null, hi: string | null): string | null {
  // The library swaps bounds given in the wrong order; equal or crossed neighbours need a re-spacing.
  if (lo !== null && hi !== null && lo >= hi) return null
  try {
    const key = generateKeyBetween(lo, hi)
    return key.length <= MAX_POSITION_LENGTH ? key : null
  } catch {
    return null // a key the library cannot read (none is ever written): re-space
  }
}

async function neighbourOf(db: Database, collection: Collection, moving: string | null, side: Side, anchor?: Anchor) {
  const listId = 'listId' in collection ? collection.listId : null
  const values = { userId: collection.userId, listId, moving, anchorPosition: anchor?.position, anchorId: anchor?.id }
  const [row] = await neighbourStatement(collection, moving !== null, side).run(db, values)
  return row?.position ?? null
}

/** The collection's first key (null when it is empty), as placeIn reads it for a new item at the top. */
export const firstKey = (db: Database, collection: Collection) => neighbourOf(db, collection, null, 'top')

/**
 * The key for `moving` (null: a new item) at `placement` in `collection`. Runs inside a transaction;
 * for anything but a new item at the top, one that already holds the user's ordering lock. The
 * neighbour of the gap is read here, unless the caller read it under that lock already
 * (`neighbour`, null for none: neighbourSql). When it re-spaces, the other items' new keys are
 * written here (each enters the change log like any write); the caller writes the moving item's.
 */
export async function placeIn(tx: Database, collection: Collection, moving: string | null, placement: Placement, neighbour?: string | null): Promise<string> {
  const side = sideOf(placement)
  const anchor = 'after' in placement ? placement.after : 'before' in placement ? placement.before : undefined
  const found = neighbour !== undefined ? neighbour : await neighbourOf(tx, collection, moving, side, anchor)
  const [lo, hi] =
    side === 'after' ? [anchor!.position, found]
    : side === 'before' ? [found, anchor!.position]
    : side === 'top' ? [null, found]
    : [found, null]
  const position = keyBetween(lo, hi)
  if (position !== null) return position
  const scope = scopeOf(collection)
  return respace(tx, collection.userId, collection, moving === null ? scope : and(scope, ne(collection.table.id, moving))!, placement)
}

/** Which side of its anchor (or of the collection) a placement's gap has its neighbour on. */
const sideOf = (placement: Placement): Side => ('after' in placement ? 'after' : 'before' in placement ? 'before' : placement.at)

/**
 * Evenly spaced keys for a collection in order (`rows`, the moving item left out) with the moving
 * item at its place: the rows whose key changes, and the moving item's key. The new keys are the
 * short integer keys right after the first row's key, so the first key never goes down.
 */
export function respaced(rows: readonly Anchor[], placement: Placement): { changed: Anchor[]; position: string } {
  const index =
    'after' in placement ? rows.findIndex((r) => r.id === placement.after.id) + 1
    : 'before' in placement ? rows.findIndex((r) => r.id === placement.before.id)
    : placement.at === 'top' ? 0
    : rows.length
  const keys = generateNKeysBetween(rows[0]?.position ?? null, null, rows.length + 1)
  const changed = rows.flatMap((row, i) => {
    const key = keys[i < index ? i : i + 1]!
    return key === row.position ? [] : [{ id: row.id, position: key }]
  })
  return { changed, position: keys[index]! }
}

/** Re-keys the whole collection evenly, the moving item at its place; returns the moving item's key. */
async function respace(tx: Database, user: string, { table }: Collection, others: SQL, placement: Placement): Promise<string> {
  // Held already by a move (it is re-entrant); taken here for a create. The rows are read after it.
  await lockOrder(tx, user)
  const rows = await tx.select({ id: table.id, position: table.position }).from(table).where(others).orderBy(asc(table.position), asc(table.id))
  const { changed, position } = respaced(rows, placement)
  const values = changed.map((c) => sql`(${c.id}::uuid, ${c.position}::text)`)
  // Bounded statements: two parameters per row, well under Postgres's 65,535.
  for (let i = 0; i < values.length; i += 5000) {
    await tx.execute(sql`
      update ${table} set position = v.position, version = ${table.version} + 1, updated_at = now()
      from (values ${sql.join(values.slice(i, i + 5000), sql`, `)}) as v(id, position)
      where ${table.id} = v.id and ${others}`)
  }
  return position
}
