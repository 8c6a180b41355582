// The idempotency-keys migration on a database holding the previous version's data: the tasks come
// through untouched, and the upgraded service keeps and replays keyed requests at once.
import { describe, expect, test } from 'bun:test'
import { migrate, migrations } from '../../src/db/migrate'
import { tasks } from '../../src/db/schema'
import { createTestApp, json } from '../support/app'
import { drivers } from '../support/databases'

const at = migrations.findIndex((m) => m.tag.endsWith('_idempotency_keys'))

for (const driver of drivers) {
  describe(`migration ${migrations[at]?.tag} [${driver.name}]`, () => {
    test('applies on a database with tasks, keeping every one', async () => {
      expect(at).toBeGreaterThan(0)
      const database = await driver.create({ migrated: false })
      try {
        const { db } = database.handle
        await migrate(db, migrations.slice(0, at))
        const before = [
          { id: Bun.randomUUIDv7(), userId: 'old_user', title: 'from version 1', description: 'kept', priority: 'high' as const, version: 3 },
          { id: Bun.randomUUIDv7(), userId: 'old_user', title: 'done long ago', completed: true, completedAt: new Date('2026-01-01T00:00:00.000Z') },
        ]
        await db.insert(tasks).values(before)
        const rows = await db.select().from(tasks).orderBy(tasks.id)

        expect(await migrate(db)).toEqual(migrations.slice(at).map((m) => m.tag))
        expect(await db.select().from(tasks).orderBy(tasks.id)).toEqual(rows)

        const t = await createTestApp(database)
        const send = () =>
          t.request('/api/v1/tasks', { method: 'POST', as: 'old_user', json: { title: 'after the upgrade' }, headers: { 'idempotency-key': 'upgrade-1' } })
        const first = await send()
        expect(first.status).toBe(201)
        const again = await send()
        expect(again.headers.get('idempotent-replayed')).toBe('true')
        const listed = await json<{ title: string }[]>(await t.request('/api/v1/tasks?sort=title', { as: 'old_user' }))
        expect(listed.map((task) => task.title)).toEqual(['after the upgrade', 'done long ago', 'from version 1'])
        const old = await t.request(`/api/v1/tasks/${before[0]!.id}`, { as: 'old_user' })
        expect(old.headers.get('etag')).toBe('"3"')
      } finally {
        await database.drop()
      }
    }, 60_000)
  })
}
