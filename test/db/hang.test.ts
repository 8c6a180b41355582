// A database that hangs (connections stay open, nothing moves): every request still gets a 503
// with Retry-After within DB_CONNECT_TIMEOUT_S + DB_STATEMENT_TIMEOUT_MS, on each network driver,
// and the service recovers by itself once the database answers again.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq, sql } from 'drizzle-orm'
import { openDatabase } from '../../src/db/client'
import { isUnavailable } from '../../src/db/errors'
import { tasks } from '../../src/db/schema'
import { MAX_IN_FLIGHT_PER_USER } from '../../src/http/rate-limit'
import { createTestApp, json, newUser, type TestApp } from '../support/app'
import { databaseConfig, hasPostgres, scratchPostgres } from '../support/databases'
import { startTcpProxy } from '../support/tcp-proxy'
import { startWsProxy } from '../support/ws-proxy'

const CONNECT_TIMEOUT_S = 1
const STATEMENT_TIMEOUT_MS = 500
const BOUND_MS = CONNECT_TIMEOUT_S * 1000 + STATEMENT_TIMEOUT_MS
// Scheduling on a loaded 2-core machine; far below the 30 s the service used to hang.
const SLACK_MS = 700

const target = () => {
  const url = new URL(process.env.TEST_DATABASE_URL!)
  return { host: url.hostname, port: Number(url.port || 5432) }
}

function relayFor(name: 'postgres' | 'neon') {
  if (name === 'postgres') {
    const proxy = startTcpProxy(target())
    return { proxy, env: (db: string) => ({ DATABASE_URL: `postgres://postgres@127.0.0.1:${proxy.port}/${db}` }), close: () => proxy.stop() }
  }
  const proxy = startWsProxy(target())
  const { host, port } = target()
  return {
    proxy,
    env: (db: string) => ({ DATABASE_URL: `postgres://postgres@${host}:${port}/${db}`, DB_DRIVER: 'neon', NEON_WS_PROXY: proxy.address }),
    close: () => proxy.stop(),
  }
}

for (const name of ['postgres', 'neon'] as const) {
  describe.if(hasPostgres)(`a database that hangs [${name}]`, () => {
    let relay: ReturnType<typeof relayFor>
    let scratch: Awaited<ReturnType<typeof scratchPostgres>>
    let t: TestApp
    beforeAll(async () => {
      relay = relayFor(name)
      scratch = await scratchPostgres()
      const env = { DB_CONNECT_TIMEOUT_S: String(CONNECT_TIMEOUT_S), DB_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS), DB_POOL_MAX: '3' }
      const handle = await openDatabase(databaseConfig({ ...env, ...relay.env(new URL(scratch.url).pathname.slice(1)) }))
      await handle.ensureSchema()
      t = await createTestApp({ handle, drop: () => handle.close() })
    }, 60_000)
    let closed = false
    afterAll(async () => {
      relay.proxy.thaw()
      if (!closed) await t.db.close()
      await relay.close()
      await scratch.drop()
    }, 60_000)

    test('every route answers 503 with Retry-After in time, and all is well once it answers again', async () => {
      const user = newUser()
      const made = await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: 'before' } })
      expect(made.status, await made.clone().text()).toBe(201)
      const { id } = await json(made)
      const otherUser = newUser()

      relay.proxy.freeze()
      const calls: [string, RequestInit & { json?: unknown }][] = [
        ['/api/v1/tasks', {}],
        ['/api/v1/tasks', { method: 'POST', json: { title: 'during' } }],
        [`/api/v1/tasks/${id}`, {}],
        [`/api/v1/tasks/${id}/toggle`, { method: 'PATCH' }],
        ['/api/v1/tasks/stats', {}],
      ]
      // More requests at once than the pool has connections, twice over: the later ones wait for a
      // connection the frozen ones hold, and must be bounded too.
      const rounds = await Promise.all(
        [...calls, ...calls].map(async ([path, init], i) => {
          const started = performance.now()
          // Half from another user: one user's requests in flight are capped (see the next test).
          const res = await t.request(path, { as: i < calls.length ? user : otherUser, ...init })
          return { path, method: init.method ?? 'GET', ms: performance.now() - started, status: res.status, retryAfter: res.headers.get('retry-after'), body: await json(res) }
        }),
      )
      for (const r of rounds) {
        expect(r, JSON.stringify(r)).toMatchObject({ status: 503, retryAfter: '5', body: { error_code: 'SERVICE_UNAVAILABLE' } })
        expect(r.ms, JSON.stringify(r)).toBeLessThan(BOUND_MS + SLACK_MS)
      }

      relay.proxy.thaw()
      // The service heals by itself: within a few seconds every route answers normally.
      let list: Response | undefined
      for (let i = 0; i < 40; i++) {
        list = await t.request('/api/v1/tasks?status=all', { as: user })
        if (list.status === 200) break
        await Bun.sleep(250)
      }
      expect(list!.status, await list!.clone().text()).toBe(200)
      const titles = (await json<{ title: string }[]>(list!)).map((task) => task.title)
      expect(titles).toContain('before')
      const after = await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: 'after' } })
      expect(after.status, await after.clone().text()).toBe(201)
      const stats = await t.request('/api/v1/tasks/stats', { as: user })
      expect(stats.status).toBe(200)
    }, 60_000)

    test('one user\'s requests in flight are capped: the next is a 429 at once, other users are unaffected', async () => {
      const user = newUser()
      relay.proxy.freeze()
      const held = Array.from({ length: MAX_IN_FLIGHT_PER_USER }, () => t.request('/api/v1/tasks', { as: user }))
      await Bun.sleep(100)
      const started = performance.now()
      const refused = await t.request('/api/v1/tasks/stats', { as: user })
      expect(performance.now() - started).toBeLessThan(200)
      expect(refused.status, await refused.clone().text()).toBe(429)
      expect(refused.headers.get('retry-after')).toBe('1')
      expect((await json(refused)).error_code).toBe('RATE_LIMITED')
      const other = t.request('/api/v1/tasks/stats', { as: newUser() })
      const statuses = await Promise.all([...held, other].map(async (r) => (await r).status))
      expect(statuses).toEqual(Array(MAX_IN_FLIGHT_PER_USER + 1).fill(503))
      relay.proxy.thaw()
      // The slots were given back with the answers: a full batch again gets no 429, and all 200s
      // once the pool's connections are back.
      let statusesAfter: number[] = []
      for (let i = 0; i < 40; i++) {
        const batch = await Promise.all(Array.from({ length: MAX_IN_FLIGHT_PER_USER }, () => t.request('/api/v1/tasks', { as: user })))
        statusesAfter = batch.map((r) => r.status)
        expect(statusesAfter).not.toContain(429)
        if (statusesAfter.every((s) => s === 200)) break
        await Bun.sleep(250)
      }
      expect(statusesAfter).toEqual(Array(MAX_IN_FLIGHT_PER_USER).fill(200))
    }, 60_000)

    test('a transaction is bounded too, and what it wrote is rolled back', async () => {
      const user = newUser()
      const id = Bun.randomUUIDv7()
      relay.proxy.freeze()
      const started = performance.now()
      const error = await t.db.db
        .transaction(async (tx) => {
          await tx.execute(sql`insert into tasks (id, user_id, title) values (${id}, ${user}, 'in a transaction')`)
        })
        .catch((e: unknown) => e)
      expect(performance.now() - started).toBeLessThan(BOUND_MS + SLACK_MS)
      expect(isUnavailable(error), String(error)).toBe(true)
      relay.proxy.thaw()
      const rows = () => t.db.db.select({ id: tasks.id }).from(tasks).where(eq(tasks.userId, user))
      for (let i = 0; i < 40; i++) {
        const ok = await rows().then(
          () => true,
          () => false,
        )
        if (ok) break
        await Bun.sleep(250)
      }
      await Bun.sleep(300)
      expect(await rows()).toEqual([])
    }, 60_000)

    test('no connection was leaked: the database closes at once', async () => {
      const started = performance.now()
      const finished = await Promise.race([t.db.close().then(() => true), Bun.sleep(5_000).then(() => false)])
      closed = finished
      expect(finished).toBe(true)
      expect(performance.now() - started).toBeLessThan(2_000)
    }, 30_000)
  })
}
