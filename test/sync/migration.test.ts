// The sync migration on a database holding the previous version's data: every existing task and
// list enters its owner's feed (numbered in the order it last changed), and writes after the
// upgrade continue the numbering. The trigger migration after it carries over what instances of
// version 1 wrote around the log during the rolling deploy.
import { describe, expect, test } from 'bun:test'
import { eq, sql } from 'drizzle-orm'
import { migrate, migrations } from '../../src/db/migrate'
import { lists, tasks } from '../../src/db/schema'
import { createTestApp, json } from '../support/app'
import { newUser } from '../support/factories'
import { drivers } from '../support/databases'
import { recorded as previousRecorded } from '../support/previous-recorded'
import { encodeCursor } from '../../src/sync/cursor'
import { readFeed } from '../../src/sync/feed'

const syncMigration = migrations.findIndex((m) => m.tag.endsWith('_sync'))
const triggerMigration = migrations.findIndex((m) => m.tag.endsWith('_sync_triggers'))

for (const driver of drivers) {
  describe(`the sync migration [${driver.name}]`, () => {
    test('existing tasks and lists are in the first snapshot, in order of last change; later writes follow them', async () => {
      const database = await driver.create({ migrated: false })
      const t = await createTestApp(database)
      try {
        const { db } = database.handle
        await migrate(db, migrations.slice(0, syncMigration))
        const [alice, bob] = [newUser('alice'), newUser('bob')]
        const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 0, minute))
        const rows = [
          { id: Bun.randomUUIDv7(), userId: alice, title: 'old, changed last', createdAt: at(0), updatedAt: at(30) },
          { id: Bun.randomUUIDv7(), userId: alice, title: 'newer', createdAt: at(10), updatedAt: at(10), completed: true, completedAt: at(10) },
          { id: Bun.randomUUIDv7(), userId: bob, title: 'bob\'s', createdAt: at(5), updatedAt: at(5) },
        ]
        const list = { id: Bun.randomUUIDv7(), userId: alice, name: 'Errands', position: 'a0', createdAt: at(1), updatedAt: at(20) }
        await db.insert(lists).values(list)
        await db.insert(tasks).values(rows)
        expect(await migrate(db)).toEqual(migrations.slice(syncMigration).map((m) => m.tag))

        const page = await json(await t.request('/api/v1/changes', { as: alice }))
        expect(page.changes.map((c: { type: string; op: string; id: string; data: { title?: string; name?: string } }) => [c.type, c.op, c.id, c.data.title ?? c.data.name])).toEqual([
          ['task', 'upsert', rows[1]!.id, 'newer'],
          ['list', 'upsert', list.id, 'Errands'],
          ['task', 'upsert', rows[0]!.id, 'old, changed last'],
        ])
        const bobs = await json(await t.request('/api/v1/changes', { as: bob }))
        expect(bobs.changes.map((c: { id: string }) => c.id)).toEqual([rows[2]!.id])

        // A write after the upgrade comes after the carried-over ones.
        await t.request(`/api/v1/tasks/${rows[1]!.id}/toggle`, { method: 'PATCH', as: alice })
        const next = await json(await t.request(`/api/v1/changes?since=${page.cursor}`, { as: alice }))
        expect(next.changes).toEqual([{ type: 'task', op: 'upsert', id: rows[1]!.id, data: expect.objectContaining({ completed: false, version: 2 }) }])
      } finally {
        await t.sync.close()
        await database.drop()
      }
    }, 60_000)

    test('the trigger migration: changes a version-1 instance made around the log enter it, numbered after the client\'s cursor', async () => {
      const database = await driver.create({ migrated: false })
      let t: Awaited<ReturnType<typeof createTestApp>> | undefined
      try {
        const { db } = database.handle
        await migrate(db, migrations.slice(0, triggerMigration))
        const user = newUser()
        // Written by the previous version (recorded in its own statement), and read by a client.
        const [kept, changed, deleted] = [Bun.randomUUIDv7(), Bun.randomUUIDv7(), Bun.randomUUIDv7()]
        await previousRecorded(db, user, 'task', 'upsert', db.insert(tasks).values([kept, changed, deleted].map((id) => ({ id, userId: user, title: id }))).returning())
        // (The feed read directly: the app would migrate the database on its first request.)
        const read = await readFeed(db, user, null, 1000, { now: Date.now, retentionMs: 86_400_000 })
        expect(read.changes).toHaveLength(3)
        const before = { cursor: encodeCursor(read.next) }
        // Then a version-1 instance writes around the log (its clock a little later).
        await Bun.sleep(5)
        const created = crypto.randomUUID()
        await db.execute(sql`insert into tasks (id, user_id, title) values (${created}, ${user}, 'by version 1')`)
        await db.execute(sql`update tasks set title = 'changed by version 1', version = version + 1, updated_at = now() where id = ${changed}`)
        await db.execute(sql`delete from tasks where id = ${deleted}`)

        expect(await migrate(db)).toEqual(migrations.slice(triggerMigration).map((m) => m.tag))
        t = await createTestApp(database)
        const after = await json(await t.request(`/api/v1/changes?since=${before.cursor}`, { as: user }))
        expect(after.changes.map((c: { op: string; id: string }) => [c.op, c.id]).sort()).toEqual(
          [
            ['upsert', created],
            ['upsert', changed],
            ['delete', deleted],
          ].sort(),
        )
        expect(after.changes.find((c: { id: string }) => c.id === changed).data.title).toBe('changed by version 1')
        const snapshot = await json(await t.request('/api/v1/changes', { as: user }))
        expect(snapshot.changes.map((c: { id: string }) => c.id).sort()).toEqual([kept, changed, created].sort())

        // From now on the trigger records every write, the previous version's included, once.
        await db.execute(sql`update tasks set title = 'by version 1 again', updated_at = now() where id = ${kept}`)
        await previousRecorded(db, user, 'task', 'delete', db.delete(tasks).where(eq(tasks.id, created)).returning({ id: tasks.id }))
        const later = await json(await t.request(`/api/v1/changes?since=${after.cursor}`, { as: user }))
        expect(later.changes.map((c: { op: string; id: string }) => [c.op, c.id])).toEqual([
          ['upsert', kept],
          ['delete', created],
        ])
      } finally {
        await t?.sync.close()
        await database.drop()
      }
    }, 60_000)
  })
}
