// The database away at start, going away while serving, and slow statements: the service answers
// 503 with Retry-After quickly (never a hang, never a 500) and heals by itself, with no restart.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { openDatabase } from '../../src/db/client'
import { isUnavailable } from '../../src/db/errors'
import { createTestApp, json, newUser, signToken, SECRET, type TestApp } from '../support/app'
import { databaseConfig, hasPostgres, scratchPostgres } from '../support/databases'
import { startServer } from '../support/server'
import { startTcpProxy } from '../support/tcp-proxy'
import { startWsProxy } from '../support/ws-proxy'

const CONNECT_TIMEOUT_S = 2
const target = () => {
  const url = new URL(process.env.TEST_DATABASE_URL!)
  return { host: url.hostname, port: Number(url.port || 5432) }
}

/** A database reached through a relay this test can cut and restore. */
interface Route {
  name: 'postgres' | 'neon'
  env(dbName: string): Record<string, string>
  cut(): Promise<void> | void
  restore(): void
  close(): Promise<void> | void
}

function routeFor(name: Route['name']): Route {
  if (name === 'postgres') {
    const proxy = startTcpProxy(target())
    return {
      name,
      env: (db) => ({ DATABASE_URL: `postgres://postgres@127.0.0.1:${proxy.port}/${db}` }),
      cut: () => proxy.stop(),
      restore: () => proxy.start(),
      close: () => proxy.stop(),
    }
  }
  const proxy = startWsProxy(target())
  return {
    name,
    env: (db) => ({ DATABASE_URL: `postgres://postgres@${target().host}:${target().port}/${db}`, DB_DRIVER: 'neon', NEON_WS_PROXY: proxy.address }),
    cut: () => proxy.stop(),
    restore: () => proxy.start(),
    close: () => proxy.stop(),
  }
}

async function expectUnavailable(res: Response) {
  expect(res.status, await res.clone().text()).toBe(503)
  expect(res.headers.get('retry-after')).toBe('5')
  expect(res.headers.get('content-type')).toBe('application/problem+json')
  expect(await json(res)).toMatchObject({ status: 503, status_code: 503, error_code: 'SERVICE_UNAVAILABLE', title: 'Service Unavailable' })
}

for (const name of ['postgres', 'neon'] as const) {
  describe.if(hasPostgres)(`faults [${name}]`, () => {
    test('unreachable at start: the process serves /healthz, answers 503 fast, and heals when the database comes', async () => {
      const scratch = await scratchPostgres()
      const route = routeFor(name)
      await route.cut()
      const dbName = new URL(scratch.url).pathname.slice(1)
      const server = await startServer({ JWT_SECRET: SECRET, DB_CONNECT_TIMEOUT_S: String(CONNECT_TIMEOUT_S), ...route.env(dbName) })
      try {
        expect(server.logs).toContainEqual(expect.objectContaining({ message: 'database.unavailable_at_start' }))
        expect((await fetch(`${server.url}/healthz`)).status).toBe(200)
        await expectUnavailable(await fetch(`${server.url}/readyz`))

        const headers = { authorization: `Bearer ${await signToken({ sub: newUser() })}`, 'content-type': 'application/json' }
        const started = performance.now()
        await expectUnavailable(await fetch(`${server.url}/api/v1/tasks`, { method: 'POST', headers, body: '{"title":"while away"}' }))
        expect(performance.now() - started).toBeLessThan(CONNECT_TIMEOUT_S * 1000 + 1500)

        route.restore()
        const created = await fetch(`${server.url}/api/v1/tasks`, { method: 'POST', headers, body: '{"title":"after return"}' })
        expect(created.status, await created.clone().text()).toBe(201)
        expect((await fetch(`${server.url}/readyz`)).status).toBe(200)
        expect(await server.stop('SIGTERM')).toBe(0)
      } finally {
        server.proc.kill('SIGKILL')
        await route.close()
        await scratch.drop()
      }
    }, 60_000)

    describe('while serving', () => {
      let route: Route
      let scratch: Awaited<ReturnType<typeof scratchPostgres>>
      let t: TestApp
      beforeAll(async () => {
        route = routeFor(name)
        scratch = await scratchPostgres()
        const handle = await openDatabase(databaseConfig({ DB_CONNECT_TIMEOUT_S: String(CONNECT_TIMEOUT_S), ...route.env(new URL(scratch.url).pathname.slice(1)) }))
        await handle.ensureSchema()
        t = await createTestApp({ handle, drop: () => handle.close() })
      }, 60_000)
      afterAll(async () => {
        await t.db.close()
        await route.close()
        await scratch.drop()
      }, 60_000)

      test('the database going away gives fast 503s, and service resumes by itself when it returns', async () => {
        const user = newUser()
        const before = await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: 'before' } })
        expect(before.status).toBe(201)

        await route.cut()
        for (const [path, init] of [
          ['/api/v1/tasks', {}],
          ['/api/v1/tasks', { method: 'POST', json: { title: 'during' } }],
          ['/api/v1/tasks/stats', {}],
        ] as const) {
          const started = performance.now()
          await expectUnavailable(await t.request(path, { as: user, ...init }))
          expect(performance.now() - started).toBeLessThan(CONNECT_TIMEOUT_S * 1000 + 1500)
        }
        await expectUnavailable(await t.request('/readyz'))

        route.restore()
        const after = await t.request('/api/v1/tasks', { as: user })
        expect(after.status, await after.clone().text()).toBe(200)
        expect((await json<{ title: string }[]>(after)).map((task) => task.title)).toEqual(['before'])
        expect((await t.request('/readyz')).status).toBe(200)
      }, 60_000)

      test('backends terminated by the server: never a 500, and the next requests succeed', async () => {
        const user = newUser()
        expect((await t.request('/api/v1/tasks', { as: user })).status).toBe(200)
        const admin = new Bun.SQL(process.env.TEST_DATABASE_URL!, { max: 1 })
        await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${new URL(scratch.url).pathname.slice(1)} and pid <> pg_backend_pid()`
        await admin.close()
        const statuses: number[] = []
        for (let i = 0; i < 5; i++) statuses.push((await t.request('/api/v1/tasks', { as: user })).status)
        expect(statuses.every((s) => s === 200 || s === 503), String(statuses)).toBe(true)
        expect(statuses.at(-1)).toBe(200)
      }, 60_000)
    })

    test('a statement timeout stops a slow query, and it counts as unavailable (503), not a 500', async () => {
      const scratch = await scratchPostgres()
      const route = routeFor(name)
      const handle = await openDatabase(databaseConfig({ DB_STATEMENT_TIMEOUT_MS: '200', ...route.env(new URL(scratch.url).pathname.slice(1)) }))
      try {
        const started = performance.now()
        const error = await handle.db.execute(sql`select pg_sleep(3)`).catch((e: unknown) => e)
        expect(performance.now() - started).toBeLessThan(1500)
        expect(error).toBeInstanceOf(Error)
        expect(isUnavailable(error)).toBe(true)
      } finally {
        await handle.close()
        await route.close()
        await scratch.drop()
      }
    }, 30_000)
  })
}
