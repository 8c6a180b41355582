// Whether an id the caller's own lookup missed belongs to another user: the difference between a
// 403 (logged) and a 404. It reads no column but the key.
import { and, eq, ne, sql } from 'drizzle-orm'
import type { Database } from './client'
import type { lists, tasks } from './schema'

export async function ownedByAnother(db: Database, table: typeof tasks | typeof lists, userId: string, id: string): Promise<boolean> {
  const rows = await db
    .select({ one: sql`1` })
    .from(table)
    .where(and(eq(table.id, id), ne(table.userId, userId)))
    .limit(1)
  return rows.length > 0
}

/** The version of the caller's own object under this id, if there is one (to explain a failed If-Match). */
export async function ownVersion(db: Database, table: typeof tasks | typeof lists, userId: string, id: string): Promise<number | undefined> {
  const [row] = await db
    .select({ version: table.version })
    .from(table)
    .where(and(eq(table.id, id), eq(table.userId, userId)))
  return row?.version
}
