// Whether an id the caller's own lookup missed belongs to another user: the difference between a
// 403 (logged) and a 404. It reads no column but the key. Statements built once (./statement.ts).
import { and, eq, ne, sql } from 'drizzle-orm'
import type { Database } from './client'
import { lists, tasks } from './schema'
import { statement } from './statement'

const p = sql.placeholder
const another = (table: typeof tasks | typeof lists) =>
  statement((db) => db.select({ one: sql`1` }).from(table).where(and(eq(table.id, p('id')), ne(table.userId, p('userId')))).limit(1))
const own = (table: typeof tasks | typeof lists) =>
  statement((db) => db.select({ version: table.version }).from(table).where(and(eq(table.id, p('id')), eq(table.userId, p('userId')))))
const byTable = new Map([tasks, lists].map((table) => [table, { another: another(table), own: own(table) }] as const))

export async function ownedByAnother(db: Database, table: typeof tasks | typeof lists, userId: string, id: string): Promise<boolean> {
  const rows = await byTable.get(table)!.another.run(db, { userId, id })
  return rows.length > 0
}

/** The version of the caller's own object under this id, if there is one (to explain a failed If-Match). */
export async function ownVersion(db: Database, table: typeof tasks | typeof lists, userId: string, id: string): Promise<number | undefined> {
  const [row] = await byTable.get(table)!.own.run(db, { userId, id })
  return row?.version
}
