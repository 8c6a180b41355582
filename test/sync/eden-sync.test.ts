// The typed Eden example (examples/sync-client.ts), run against the app: a replica pulls, follows
// the stream (across a drop: its token expires and it reconnects with a fresh one), and starts
// over after 410; each time it ends equal to the server.
import { treaty } from '@elysiajs/eden'
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { TaskReplica } from '../../examples/sync-client'
import { createTestApp, json, signToken, type TestApp } from '../support/app'
import { newUser } from '../support/factories'
import { drivers, type TestDatabase } from '../support/databases'

const DAY = 86_400_000

for (const driver of drivers) {
  describe(`the Eden sync example [${driver.name}]`, () => {
    let database: TestDatabase
    let t: TestApp
    let clock = Date.now()
    beforeAll(async () => {
      database = await driver.create()
      t = await createTestApp(database, {}, { sync: { now: () => clock } })
    }, 60_000)
    afterAll(async () => {
      await t?.sync.close()
      await database?.drop()
    }, 60_000)

    test('pull, follow across a dropped stream, start over after 410: always equal to the server', async () => {
      const user = newUser()
      // Short-lived tokens, as a browser app would have: the stream ends with each one.
      const api = treaty(t.app, {
        parseDate: false,
        headers: async () => ({ authorization: `Bearer ${await signToken({ sub: user }, { expiresIn: Math.floor(Date.now() / 1000) + 2 })}` }),
      }).api.v1
      const server = async () => new Map<string, unknown>((await json(await t.request('/api/v1/tasks?limit=1000', { as: user }))).map((task: { id: string }) => [task.id, task]))
      const write = (path: string, method: string, body?: unknown) => t.request(`/api/v1${path}`, { method, as: user, json: body })
      const converged = async (replica: TaskReplica, timeoutMs = 5000) => {
        const deadline = performance.now() + timeoutMs
        let want = await server()
        while (performance.now() < deadline && !Bun.deepEquals(new Map<string, unknown>(replica.tasks), want)) {
          await Bun.sleep(50)
          want = await server()
        }
        expect(new Map<string, unknown>(replica.tasks)).toEqual(want)
      }

      const ids: string[] = []
      for (let i = 0; i < 3; i++) ids.push((await json(await write('/tasks', 'POST', { title: `before ${i}` }))).id)
      const replica = new TaskReplica(api)
      await replica.pull()
      await converged(replica, 0)

      const controller = new AbortController()
      const following = replica.follow(controller.signal)
      await write(`/tasks/${ids[0]}/toggle`, 'PATCH')
      await write(`/tasks/${ids[1]}`, 'DELETE')
      await converged(replica)
      // Past the first token's expiry: the stream was dropped and resumed; changes made around it arrive.
      await Bun.sleep(2200)
      ids.push((await json(await write('/tasks', 'POST', { title: 'after the drop' }))).id)
      await write(`/tasks/${ids[2]}`, 'PATCH', { title: 'renamed' })
      await converged(replica)
      controller.abort()
      await following

      // Away for longer than the retention: the next pull is a 410, and the replica starts over.
      await write(`/tasks/${ids[0]}`, 'DELETE')
      clock = Date.now() + 31 * DAY
      await t.sync.purge()
      const stale = replica.cursor
      await replica.pull()
      expect(replica.cursor).not.toBe(stale)
      await converged(replica, 0)
    }, 30_000)
  })
}
