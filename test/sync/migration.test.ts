// The sync migration on a database holding the previous version's data: every existing task and
// list enters its owner's feed (numbered in the order it last changed), and writes after the
// upgrade continue the numbering.
import { describe, expect, test } from 'bun:test'
import { migrate, migrations } from '../../src/db/migrate'
import { lists, tasks } from '../../src/db/schema'
import { createTestApp, json } from '../support/app'
import { newUser } from '../support/factories'
import { drivers } from '../support/databases'

const syncMigration = migrations.findIndex((m) => m.tag.endsWith('_sync'))

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
  })
}
