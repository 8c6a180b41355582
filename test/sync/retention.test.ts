// Retention: tombstones older than SYNC_RETENTION_DAYS are purged (live objects never are), a cursor
// older than the retention or behind a purged tombstone is 410 CURSOR_EXPIRED (on /changes and on
// /events), and a fresh snapshot works again. The service's clock is injected to move time. (That
// the purge reads only tombstones is in plans.test.ts.)
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { and, eq } from 'drizzle-orm'
import { syncLog } from '../../src/db/schema'
import { encodeCursor } from '../../src/sync/cursor'
import { createTestApp, json, type TestApp } from '../support/app'
import { newUser } from '../support/factories'
import { expectProblem } from '../support/problems'
import { drivers, type TestDatabase } from '../support/databases'

const DAY = 86_400_000

for (const driver of drivers) {
  describe(`sync retention [${driver.name}]`, () => {
    let database: TestDatabase
    let t: TestApp
    let clock = Date.now()
    beforeAll(async () => {
      database = await driver.create()
      t = await createTestApp(database, { SYNC_RETENTION_DAYS: '30' }, { sync: { now: () => clock } })
    }, 60_000)
    afterAll(async () => {
      await t?.sync.close()
      await database?.drop()
    }, 60_000)

    const expectExpired = (res: Response) => expectProblem(res, 410, 'CURSOR_EXPIRED')
    const logRows = async (user: string) =>
      (await t.db.db.select({ id: syncLog.objectId, deleted: syncLog.deleted }).from(syncLog).where(eq(syncLog.userId, user))).length

    test('old tombstones are purged, young ones and live objects kept; cursors behind a purge are 410', async () => {
      clock = Date.now()
      const user = newUser()
      const create = async (title: string) => json(await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title } }))
      const kept = await create('kept')
      const doomed = await create('deleted')
      const before = (await json(await t.request('/api/v1/changes', { as: user }))).cursor
      expect((await t.request(`/api/v1/tasks/${doomed.id}`, { method: 'DELETE', as: user })).status).toBe(204)
      expect(await logRows(user)).toBe(2)

      // Ten days on: the tombstone is young, nothing goes, the cursor still works.
      clock = Date.now() + 10 * DAY
      expect(await t.sync.purge()).toBe(0)
      expect(await logRows(user)).toBe(2)
      const fresh = await json(await t.request(`/api/v1/changes?since=${before}`, { as: user }))
      expect(fresh.changes).toEqual([{ type: 'task', op: 'delete', id: doomed.id }])

      // Thirty-one days on: the tombstone goes; the live task stays.
      clock = Date.now() + 31 * DAY
      expect(await t.sync.purge()).toBeGreaterThanOrEqual(1)
      expect(await t.db.db.select().from(syncLog).where(and(eq(syncLog.userId, user), eq(syncLog.deleted, true)))).toEqual([])
      expect(await logRows(user)).toBe(1)

      // A cursor older than the retention: 410, on the feed and on the stream.
      await expectExpired(await t.request(`/api/v1/changes?since=${before}`, { as: user }))
      await expectExpired(await t.request('/api/v1/events', { as: user, headers: { 'last-event-id': before } }))
      // A recent cursor from before the purged tombstone (a client that paged slowly): also 410.
      const behind = encodeCursor({ seq: 2, floor: 0, issued: Math.floor(clock / 1000) })
      await expectExpired(await t.request(`/api/v1/changes?since=${behind}`, { as: user }))
      // Starting again without `since` works, and its cursor too.
      const again = await json(await t.request('/api/v1/changes', { as: user }))
      expect(again.changes).toEqual([{ type: 'task', op: 'upsert', id: kept.id, data: kept }])
      expect((await t.request(`/api/v1/changes?since=${again.cursor}`, { as: user })).status).toBe(200)
    })

    test('a cursor is good until the retention has passed, even with nothing deleted', async () => {
      clock = Date.now()
      const user = newUser()
      await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: 'x' } })
      const { cursor } = await json(await t.request('/api/v1/changes', { as: user }))
      clock = Date.now() + 29 * DAY
      expect((await t.request(`/api/v1/changes?since=${cursor}`, { as: user })).status).toBe(200)
      clock = Date.now() + 31 * DAY
      await expectExpired(await t.request(`/api/v1/changes?since=${cursor}`, { as: user }))
    })
  })
}
