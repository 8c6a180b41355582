// The change log is recorded by Postgres (the trigger of drizzle/0004_sync_triggers.sql), at commit,
// for whoever writes: plain statements are numbered, one log row per object, tombstones for
// deletes, nothing when nothing was written; a transaction's changes are recorded with their state
// at commit (a row written twice once, a row created and deleted as a tombstone, a rolled-back
// savepoint's not at all); a list's deletion records its cascaded tasks; a NOTIFY, once per
// transaction, only for a user marked as listened to, carrying only the number and the user id. A
// version-1 instance's SQL enters the feed; the previous version's own recording statement beside
// the trigger leaves the feed exact.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { and, asc, eq, gt, sql } from 'drizzle-orm'
import type { Database } from '../../src/db/client'
import { lists, syncHeads, syncLog, tasks } from '../../src/db/schema'
import { listenFor, readFeed } from '../../src/sync/feed'
import { SYNC_CHANNEL } from '../../src/sync/record'
import { drivers, type TestDatabase } from '../support/databases'
import { newUser } from '../support/factories'
import { recorded as previousRecorded } from '../support/previous-recorded'

const feedOptions = { now: Date.now, retentionMs: 86_400_000 }

for (const driver of drivers) {
  describe(`the change log trigger [${driver.name}]`, () => {
    let database: TestDatabase
    let db: Database
    beforeAll(async () => {
      database = await driver.create()
      db = database.handle.db
    }, 60_000)
    afterAll(() => database?.drop(), 60_000)

    const log = (user: string, after = 0) =>
      db
        .select({ id: syncLog.objectId, kind: syncLog.kind, seq: syncLog.seq, deleted: syncLog.deleted })
        .from(syncLog)
        .where(and(eq(syncLog.userId, user), gt(syncLog.seq, after)))
        .orderBy(asc(syncLog.seq))
    const head = async (user: string) => (await db.select({ seq: syncHeads.seq }).from(syncHeads).where(eq(syncHeads.userId, user)))[0]?.seq ?? 0
    /** What a client holding `after` is told: each object once, as [type, op, id]. */
    const feed = async (user: string, after: number) => {
      const page = await readFeed(db, user, { seq: after, floor: 0, issued: Math.floor(Date.now() / 1000) }, 1000, feedOptions)
      return page.changes.map(({ change }) => [change.type, change.op, change.id])
    }
    const task = (user: string, title = 'a task', listId: string | null = null) => ({ id: Bun.randomUUIDv7(), userId: user, title, listId })

    test('plain statements: each changed row numbered, one log row per object, tombstones, nothing for nothing', async () => {
      const user = newUser()
      const rows = [task(user), task(user), task(user)]
      await db.insert(tasks).values(rows)
      const created = await log(user)
      expect(created.map((r) => r.id).sort()).toEqual(rows.map((r) => r.id).sort())
      expect(created.every((r, i) => !r.deleted && r.kind === 'task' && (i === 0 || r.seq > created[i - 1]!.seq))).toBe(true)
      const h = await head(user)
      expect(h).toBeGreaterThanOrEqual(created.at(-1)!.seq)

      await db.delete(tasks).where(eq(tasks.id, crypto.randomUUID()))
      await db.update(tasks).set({ title: 'nobody' }).where(and(eq(tasks.userId, user), eq(tasks.title, 'no such title')))
      expect(await head(user)).toBe(h)

      // A one-row write takes exactly one number.
      await db.update(tasks).set({ title: 'renamed' }).where(eq(tasks.id, rows[0]!.id))
      await db.delete(tasks).where(eq(tasks.id, rows[1]!.id))
      expect(await log(user, h)).toEqual([
        { id: rows[0]!.id, kind: 'task', seq: h + 1, deleted: false },
        { id: rows[1]!.id, kind: 'task', seq: h + 2, deleted: true },
      ])
      expect(await head(user)).toBe(h + 2)
      expect(await feed(user, h)).toEqual([['task', 'upsert', rows[0]!.id], ['task', 'delete', rows[1]!.id]])
    })

    test('a transaction is recorded at commit, with the state at commit', async () => {
      const user = newUser()
      const [a, b, c] = [task(user, 'a'), task(user, 'b'), task(user, 'c')]
      await db.insert(tasks).values([a, b])
      const before = await head(user)
      await db.transaction(async (tx) => {
        await tx.update(tasks).set({ title: 'once' }).where(eq(tasks.id, a.id))
        await tx.update(tasks).set({ title: 'twice' }).where(eq(tasks.id, a.id))
        await tx.insert(tasks).values(c)
        await tx.delete(tasks).where(eq(tasks.id, c.id))
        await tx
          .transaction(async (savepoint) => {
            await savepoint.update(tasks).set({ title: 'undone' }).where(eq(tasks.id, b.id))
            savepoint.rollback()
          })
          .catch(() => {})
        // Nothing is numbered before the commit: the counter is the transaction's last lock.
        expect(await tx.select().from(syncLog).where(and(eq(syncLog.userId, user), gt(syncLog.seq, before)))).toEqual([])
      })
      const changed = await log(user, before)
      expect(changed.map((r) => [r.id, r.deleted])).toEqual([
        [a.id, false],
        [c.id, true],
      ])
      expect(await feed(user, before)).toEqual([['task', 'upsert', a.id], ['task', 'delete', c.id]])
    })

    test('a list deleted with its tasks: the list and each cascaded task get a tombstone, others nothing', async () => {
      const user = newUser()
      const list = { id: Bun.randomUUIDv7(), userId: user, name: 'Errands', position: 'a0' }
      await db.insert(lists).values(list)
      const inside = [task(user, 'in 1', list.id), task(user, 'in 2', list.id)]
      const outside = task(user, 'outside')
      await db.insert(tasks).values([...inside, outside])
      const before = await head(user)
      await db.delete(lists).where(eq(lists.id, list.id))
      const changed = await log(user, before)
      expect(changed.map((r) => [r.kind, r.id, r.deleted])).toEqual([
        ['list', list.id, true],
        ...inside.map((t) => ['task', t.id, true]),
      ])
      expect((await feed(user, before)).map(([type, op]) => `${type} ${op}`)).toEqual(['list delete', 'task delete', 'task delete'])
    })

    // The interleaving that deadlocks when a transaction numbers its changes before its last
    // statement: it holds the counter and waits for a row another writer holds, who waits for the
    // counter at its commit. Numbered at commit, each waits only for rows. (One connection on
    // PGlite: nothing runs concurrently there.)
    test.if(driver.name !== 'pglite')('a multi-statement transaction and a writer of a row it needs next both commit', async () => {
      const user = newUser()
      const [a, b] = [task(user, 'a'), task(user, 'b')]
      await db.insert(tasks).values([a, b])
      const before = await head(user)
      let holdsB!: () => void
      const bHeld = new Promise<void>((resolve) => (holdsB = resolve))
      let release!: () => void
      const released = new Promise<void>((resolve) => (release = resolve))
      const other = db.transaction(async (tx) => {
        await tx.update(tasks).set({ title: 'b by the other' }).where(eq(tasks.id, b.id))
        holdsB()
        await released
      })
      const multi = db.transaction(async (tx) => {
        await tx.update(tasks).set({ title: 'a by the multi' }).where(eq(tasks.id, a.id))
        await bHeld
        setTimeout(release, 300) // the multi-statement one is waiting for b by then
        await tx.update(tasks).set({ title: 'b by the multi' }).where(eq(tasks.id, b.id))
      })
      await Promise.all([other, multi])
      expect((await log(user, before)).map((r) => r.id)).toEqual([a.id, b.id])
      expect((await db.select({ title: tasks.title }).from(tasks).where(eq(tasks.id, b.id)))[0]!.title).toBe('b by the multi')
    })

    test('a write notifies once per transaction, only while its user is marked as listened to, with "<seq> <user>" only', async () => {
      const user = newUser('with space')
      const heard: string[] = []
      const subscription = await database.handle.listen(SYNC_CHANNEL, (payload) => heard.push(payload), () => {})
      const create = (title: string, n = 1) => db.insert(tasks).values(Array.from({ length: n }, () => task(user, title)))
      try {
        await create('nobody listens')
        await Bun.sleep(300)
        expect(heard).toEqual([])

        await listenFor(db, [user], 60)
        await create('someone listens', 5)
        const deadline = performance.now() + 2000
        while (heard.length === 0 && performance.now() < deadline) await Bun.sleep(20)
        await Bun.sleep(200)
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

    test('a version-1 instance\'s plain SQL enters the feed', async () => {
      const user = newUser()
      const [a, b] = [crypto.randomUUID(), crypto.randomUUID()]
      await db.execute(sql`insert into tasks (id, user_id, title) values (${a}, ${user}, 'by sql'), (${b}, ${user}, 'by sql too')`)
      const before = await head(user)
      await db.execute(sql`update tasks set title = 'changed by sql', version = version + 1 where id = ${a}`)
      await db.execute(sql`delete from tasks where id = ${b}`)
      expect(await feed(user, 0)).toEqual([['task', 'upsert', a], ['task', 'delete', b]])
      expect(await feed(user, before)).toEqual([['task', 'upsert', a], ['task', 'delete', b]])
    })

    test('the previous version\'s own recording beside the trigger: each change once, the feed exact', async () => {
      const user = newUser()
      const start = await head(user)
      const [one, two] = [task(user, 'one'), task(user, 'two')]
      await previousRecorded(db, user, 'task', 'upsert', db.insert(tasks).values([one, two]).returning())
      // The trigger skipped the rows that statement recorded: no second number.
      expect(await head(user)).toBe(start + 2)
      const afterCreate = await head(user)
      await previousRecorded(db, user, 'task', 'upsert', db.update(tasks).set({ title: 'one, renamed', version: sql`${tasks.version} + 1` }).where(eq(tasks.id, one.id)).returning())
      expect(await head(user)).toBe(afterCreate + 1)

      const list = { id: Bun.randomUUIDv7(), userId: user, name: 'List', position: 'a0' }
      await previousRecorded(db, user, 'list', 'upsert', db.insert(lists).values(list).returning())
      const inList = task(user, 'in the list', list.id)
      // Inside a savepoint (as the previous version's create under an Idempotency-Key): recorded
      // twice, two numbers, the object once.
      await db.transaction((tx) => tx.transaction((savepoint) => previousRecorded(savepoint, user, 'task', 'upsert', savepoint.insert(tasks).values(inList).returning())))
      const beforeDelete = await head(user)
      await previousRecorded(db, user, 'list', 'delete', db.delete(lists).where(eq(lists.id, list.id)).returning({ id: lists.id }), [
        { kind: 'task', op: 'delete', write: (deleted) => db.select({ id: tasks.id }).from(tasks).where(and(eq(tasks.userId, user), eq(tasks.listId, list.id), deleted)) },
      ])
      expect(await head(user)).toBe(beforeDelete + 2)

      const entries = await log(user, start)
      expect(new Set(entries.map((r) => r.seq)).size).toBe(entries.length)
      expect(entries.map((r) => [r.id, r.deleted])).toEqual([
        [two.id, false],
        [one.id, false],
        [list.id, true],
        [inList.id, true],
      ])
      expect(await feed(user, start)).toEqual([
        ['task', 'upsert', two.id],
        ['task', 'upsert', one.id],
        ['list', 'delete', list.id],
        ['task', 'delete', inList.id],
      ])
      expect(await feed(user, afterCreate)).toEqual([['task', 'upsert', one.id], ['list', 'delete', list.id], ['task', 'delete', inList.id]])
    })
  })
}
