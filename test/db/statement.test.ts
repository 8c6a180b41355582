// statement() maps rows with a function made once per statement: its objects must be exactly the
// ones Drizzle's own mapping makes, on every driver (each returns rows in its own way).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq, sql, type SQLWrapper } from 'drizzle-orm'
import type { Database } from '../../src/db/client'
import { lists, tasks } from '../../src/db/schema'
import { statement } from '../../src/db/statement'
import { drivers, type TestDatabase } from '../support/databases'

const user = 'statement-user'
const listId = '00000000-0000-4000-8000-000000000001'

// Columns of both tables (custom types among them), a `sql` field with and without mapWith, and a
// left-joined table that is found for one task and not for the other.
const select = (db: Database, userId: SQLWrapper | string) =>
  db
    .select({
      id: tasks.id,
      title: tasks.title,
      description: tasks.description,
      completed: tasks.completed,
      createdAt: tasks.createdAt,
      position: tasks.position,
      version: tasks.version,
      doubled: sql<number>`${tasks.version} * 2`.mapWith(Number),
      label: sql<string>`'v' || ${tasks.version}`,
      list: { id: lists.id, name: lists.name, version: lists.version },
    })
    .from(tasks)
    .leftJoin(lists, eq(lists.id, tasks.listId))
    .where(eq(tasks.userId, userId))
    .orderBy(tasks.title)

for (const driver of drivers) {
  describe(`statement() on ${driver.name}`, () => {
    let database: TestDatabase
    beforeAll(async () => {
      database = await driver.create()
      const { db } = database.handle
      await db.insert(lists).values({ id: listId, userId: user, name: 'Errands', position: 'a0' })
      await db.insert(tasks).values([
        { id: '00000000-0000-4000-8000-00000000000a', userId: user, title: 'a: in the inbox', position: 'a0' },
        { id: '00000000-0000-4000-8000-00000000000b', userId: user, listId, title: 'b: in a list', description: 'with a description', completed: true, completedAt: sql`now()`, position: 'a1', version: 3 },
      ])
    })
    afterAll(() => database.drop())

    test('maps every row exactly as Drizzle does', async () => {
      const { db } = database.handle
      const mapped = await statement((d) => select(d, sql.placeholder('userId'))).run(db, { userId: user })
      expect(mapped).toStrictEqual(await select(db, user))
      expect(mapped).toHaveLength(2)
      const [inbox, listed] = mapped
      expect(inbox!.list).toBeNull()
      expect(listed!.list).toStrictEqual({ id: listId, name: 'Errands', version: 1 })
      expect([inbox!.doubled, listed!.doubled, listed!.label, listed!.completed, inbox!.description]).toStrictEqual([2, 6, 'v3', true, null])
    })
  })
}
