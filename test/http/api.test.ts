// The /api base plugin on its own: a feature built on it gets the caller, the JSON body and a
// database executor; `transaction: true` makes that executor one transaction, committed with the
// handler's answer and rolled back on any error; without it each statement commits by itself.
import { expect, test } from 'bun:test'
import { eq, sql } from 'drizzle-orm'
import { Elysia, t } from 'elysia'
import { createVerifier } from '../../src/auth/verify'
import { loadConfig } from '../../src/config'
import { tasks } from '../../src/db/schema'
import { api } from '../../src/http/api'
import { rawBody } from '../../src/http/body'
import { ApiError, errors } from '../../src/http/errors'
import { createRateLimits } from '../../src/http/rate-limit'
import { createLogger } from '../../src/log'
import { describeEachDriver, json, newUser, SECRET, signToken } from '../support/app'

describeEachDriver('the /api base plugin', (ctx) => {
  async function probe() {
    const { db: database } = ctx()
    const config = loadConfig({ JWT_SECRET: SECRET, RATE_LIMIT_PER_IP: '0', RATE_LIMIT_PER_USER: '0' })
    const base = api({ database, verify: await createVerifier(config.jwt), log: createLogger('silent'), limits: createRateLimits(config.rateLimit) })
    const insert = (db: typeof database.db, userId: string, title: string) =>
      db.insert(tasks).values({ id: Bun.randomUUIDv7(), userId, title }).returning({ id: tasks.id })
    const Body = t.Object({ title: t.String(), fail: t.Boolean() })
    const feature = new Elysia({ prefix: '/api/probe' })
      .use(base)
      .post(
        '/in-transaction',
        async ({ db, userId, body }) => {
          const [first] = await insert(db, userId, body.title)
          // Two statements, one transaction: the second sees the first, and both stand or fall together.
          const [seen] = await db.select({ n: sql<number>`count(*)`.mapWith(Number) }).from(tasks).where(eq(tasks.userId, userId))
          if (body.fail) throw new ApiError('VALIDATION_ERROR', 'failed after writing')
          return { id: first!.id, seen: seen!.n }
        },
        { transaction: true, body: Body, parse: 'application/json' },
      )
      .post(
        '/autocommit',
        async ({ db, userId, body }) => {
          const [first] = await insert(db, userId, body.title)
          if (body.fail) throw new ApiError('VALIDATION_ERROR', 'failed after writing')
          return { id: first!.id, same: db === database.db }
        },
        { body: Body, parse: 'application/json' },
      )
      .get('/things/:id', ({ params }) => params.id, { notFound: 'TASK_NOT_FOUND' })
    const app = new Elysia().use(errors({ log: createLogger('silent') })).use(rawBody).use(feature)
    return {
      database,
      async post(path: string, user: string, body: { title: string; fail: boolean }) {
        const headers = { authorization: `Bearer ${await signToken({ sub: user })}`, 'content-type': 'application/json' }
        return app.handle(new Request(`http://localhost/api/probe${path}`, { method: 'POST', headers, body: JSON.stringify(body) }))
      },
      async get(path: string, user: string) {
        return app.handle(new Request(`http://localhost/api/probe${path}`, { headers: { authorization: `Bearer ${await signToken({ sub: user })}` } }))
      },
      count: async (user: string) => (await database.db.select({ id: tasks.id }).from(tasks).where(eq(tasks.userId, user))).length,
    }
  }

  test('transaction: true commits the handler\'s writes with its answer', async () => {
    const p = await probe()
    const user = newUser()
    const res = await p.post('/in-transaction', user, { title: 'kept', fail: false })
    expect(res.status, await res.clone().text()).toBe(200)
    expect(await json(res)).toMatchObject({ seen: 1 })
    expect(await p.count(user)).toBe(1)
  })

  test('transaction: true rolls every write back when the handler fails', async () => {
    const p = await probe()
    const user = newUser()
    const res = await p.post('/in-transaction', user, { title: 'lost', fail: true })
    expect(res.status, await res.clone().text()).toBe(400)
    expect(await p.count(user)).toBe(0)
    // The connection is free again: the next transaction commits.
    expect((await p.post('/in-transaction', user, { title: 'kept', fail: false })).status).toBe(200)
    expect(await p.count(user)).toBe(1)
  })

  test('without it, db is the shared handle and each statement commits by itself', async () => {
    const p = await probe()
    const user = newUser()
    const ok = await p.post('/autocommit', user, { title: 'one', fail: false })
    expect(await json(ok)).toMatchObject({ same: true })
    const failed = await p.post('/autocommit', user, { title: 'two', fail: true })
    expect(failed.status, await failed.clone().text()).toBe(400)
    expect(await p.count(user)).toBe(2)
  })

  test('notFound: a malformed id is that resource\'s 404; a well-formed one reaches the handler', async () => {
    const p = await probe()
    const user = newUser()
    const bad = await p.get('/things/not-a-uuid', user)
    expect(bad.status, await bad.clone().text()).toBe(404)
    expect(await json(bad)).toMatchObject({ error_code: 'TASK_NOT_FOUND', detail: 'Task not found' })
    const id = Bun.randomUUIDv7()
    const good = await p.get(`/things/${id}`, user)
    expect(await good.text()).toBe(id)
  })
})
