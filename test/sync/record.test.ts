// The one recording helper: a statement's changes get consecutive numbers from the user's counter,
// one log row per object (tombstones for deletes), other writes and already-written objects
// recorded with it (`also`), and nothing at all when nothing was written. A NOTIFY only for a user
// some instance has marked as listened to, carrying only the change number and the user id.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { and, asc, eq } from 'drizzle-orm'
import { syncHeads, syncLog, tasks } from '../../src/db/schema'
import { listenFor } from '../../src/sync/feed'
import { recorded, SYNC_CHANNEL } from '../../src/sync/record'
import { newUser } from '../support/factories'
import { drivers, type TestDatabase } from '../support/databases'

for (const driver of drivers) {
  describe(`recorded [${driver.name}]`, () => {
    let database: TestDatabase
    beforeAll(async () => {
      database = await driver.create()
    }, 60_000)
    afterAll(() => database?.drop(), 60_000)

    test('numbers every change of one statement consecutively, with its other writes and given ids', async () => {
      const { db } = database.handle
      const user = newUser()
      const log = () => db.select({ id: syncLog.objectId, kind: syncLog.kind, seq: syncLog.seq, deleted: syncLog.deleted }).from(syncLog).where(eq(syncLog.userId, user)).orderBy(asc(syncLog.seq))
      const head = async () => (await db.select({ seq: syncHeads.seq }).from(syncHeads).where(eq(syncHeads.userId, user)))[0]?.seq
      const ids = [Bun.randomUUIDv7(), Bun.randomUUIDv7(), Bun.randomUUIDv7()]
      const created = await recorded(db, user, 'task', 'upsert', db.insert(tasks).values(ids.map((id) => ({ id, userId: user, title: id }))).returning())
      expect(created.map((r) => r.id).sort()).toEqual([...ids].sort())
      expect((await log()).map((r) => r.seq)).toEqual([1, 2, 3])
      expect(await head()).toBe(3)

      // Nothing written: nothing numbered.
      expect(await recorded(db, user, 'task', 'delete', db.delete(tasks).where(eq(tasks.id, crypto.randomUUID())).returning({ id: tasks.id }))).toEqual([])
      expect(await head()).toBe(3)

      // One statement: a delete, another write's rows, and objects already written (e.g. re-keyed).
      const [first, second, third] = ids as [string, string, string]
      const rows = await recorded(db, user, 'task', 'delete', db.delete(tasks).where(and(eq(tasks.userId, user), eq(tasks.id, first))).returning({ id: tasks.id }), [
        { kind: 'task', op: 'upsert', write: db.update(tasks).set({ title: 'renamed' }).where(eq(tasks.id, second)).returning({ id: tasks.id }) },
        { kind: 'task', op: 'upsert', ids: [third] },
      ])
      expect(rows).toEqual([{ id: first }])
      const after = await log()
      expect(after.map((r) => r.seq)).toEqual([4, 5, 6])
      expect(after.find((r) => r.id === first)).toMatchObject({ deleted: true, seq: 4 })
      expect(after.filter((r) => !r.deleted).map((r) => r.id).sort()).toEqual([second, third].sort())
      expect(await head()).toBe(6)
    })

    test('a write notifies only while its user is marked as listened to, with "<seq> <user>" only', async () => {
      const { db } = database.handle
      const user = newUser('with space')
      const heard: string[] = []
      const subscription = await database.handle.listen(SYNC_CHANNEL, (payload) => heard.push(payload), () => {})
      const create = (title: string) =>
        recorded(db, user, 'task', 'upsert', db.insert(tasks).values({ id: Bun.randomUUIDv7(), userId: user, title }).returning())
      try {
        await create('nobody listens')
        await Bun.sleep(300)
        expect(heard).toEqual([])

        await listenFor(db, [user], 60)
        await create('someone listens')
        const deadline = performance.now() + 2000
        while (heard.length === 0 && performance.now() < deadline) await Bun.sleep(20)
        expect(heard).toEqual([`2 ${user}`])

        // The mark lapses (an instance that died stops renewing it).
        await db.update(syncHeads).set({ listenedUntil: new Date(Date.now() - 1000) }).where(eq(syncHeads.userId, user))
        await create('nobody anymore')
        await Bun.sleep(300)
        expect(heard).toEqual([`2 ${user}`])
      } finally {
        await subscription.close()
      }
    })
  })
}
