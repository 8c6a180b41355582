// Fan-out across instances: two service instances on one Postgres (Bun.SQL and the Neon driver),
// a change committed through either reaching every open stream of that user within a second; the
// listener surviving the database going away (changes committed meanwhile arrive after it
// returns; a stream opened meanwhile is a quick 503); and a real process freeing a stream's place
// when its client goes, and ending every stream at once on SIGTERM.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { openDatabase, type DatabaseHandle } from '../../src/db/client'
import { createTestApp, signToken, SECRET, type TestApp } from '../support/app'
import { createTask, newUser } from '../support/factories'
import { expectProblem } from '../support/problems'
import { databaseConfig, hasPostgres, neonProxy, scratchPostgres } from '../support/databases'
import { startServer } from '../support/server'
import { readSse } from '../support/sse'
import { startTcpProxy } from '../support/tcp-proxy'
import { startWsProxy } from '../support/ws-proxy'

const target = () => {
  const url = new URL(process.env.TEST_DATABASE_URL!)
  return { host: url.hostname, port: Number(url.port || 5432) }
}

const stream = async (t: TestApp, user: string) => {
  const controller = new AbortController()
  const res = await t.app.handle(
    new Request('http://localhost/api/v1/events', { headers: { authorization: `Bearer ${await t.token(user)}` }, signal: controller.signal }),
  )
  if (res.status !== 200) expect(res.status, await res.text()).toBe(200)
  const events = readSse(res)
  expect(await events.next()).toMatchObject({ event: 'ready' })
  return { events, close: () => controller.abort() }
}
const create = (t: TestApp, user: string, title: string) => createTask(t, user, { title })

const driverEnv = {
  postgres: () => ({}),
  neon: () => ({ DB_DRIVER: 'neon', NEON_WS_PROXY: neonProxy().address }),
}

for (const name of ['postgres', 'neon'] as const) {
  describe.if(hasPostgres)(`events across instances [${name}]`, () => {
    let scratch: Awaited<ReturnType<typeof scratchPostgres>>
    const handles: DatabaseHandle[] = []
    let a: TestApp
    let b: TestApp
    beforeAll(async () => {
      scratch = await scratchPostgres()
      for (let i = 0; i < 2; i++) handles.push(await openDatabase(databaseConfig({ DATABASE_URL: scratch.url, ...driverEnv[name]() })))
      await handles[0]!.ensureSchema()
      const apps = await Promise.all(handles.map((handle) => createTestApp({ handle, drop: async () => {} })))
      a = apps[0]!
      b = apps[1]!
    }, 60_000)
    afterAll(async () => {
      await Promise.all([a?.sync.close(), b?.sync.close()])
      await Promise.all(handles.map((h) => h.close()))
      await scratch?.drop()
    }, 60_000)

    test('a change committed through one instance reaches the user\'s streams on both within a second', async () => {
      const user = newUser()
      const onA = await stream(a, user)
      const onB = await stream(b, user)
      for (const [writer, label] of [[a, 'through A'], [b, 'through B']] as const) {
        const task = await create(writer, user, label)
        const written = performance.now()
        for (const s of [onA, onB]) {
          expect(await s.events.nextEvent(2000)).toMatchObject({ event: 'change', data: { op: 'upsert', id: task.id, data: task } })
          expect(performance.now() - written).toBeLessThan(1000)
        }
      }
      // Another user's streams on the other instance hear nothing of it.
      const other = await stream(b, newUser())
      await create(a, user, 'not for other')
      await expect(other.events.nextEvent(700)).rejects.toThrow('no event within')
      for (const s of [onA, onB, other]) s.close()
    })
  })
}

/** A database reached through a relay this test can cut and restore. */
function relayFor(name: 'postgres' | 'neon', dbName: string): { env: Record<string, string>; cut(): unknown; restore(): void; close(): unknown } {
  if (name === 'postgres') {
    const proxy = startTcpProxy(target())
    return { env: { DATABASE_URL: `postgres://postgres@127.0.0.1:${proxy.port}/${dbName}` }, cut: () => proxy.stop(), restore: () => proxy.start(), close: () => proxy.stop() }
  }
  const proxy = startWsProxy(target())
  return {
    env: { DATABASE_URL: `postgres://postgres@${target().host}:${target().port}/${dbName}`, DB_DRIVER: 'neon', NEON_WS_PROXY: proxy.address },
    cut: () => proxy.stop(),
    restore: () => proxy.start(),
    close: () => proxy.stop(),
  }
}

for (const name of ['postgres', 'neon'] as const) {
  describe.if(hasPostgres)(`the listener across a database outage [${name}]`, () => {
    test('it reconnects by itself and the stream then delivers what was committed while it was away', async () => {
      const scratch = await scratchPostgres()
      const relay = relayFor(name, new URL(scratch.url).pathname.slice(1))
      const viaRelay = await openDatabase(databaseConfig({ DB_CONNECT_TIMEOUT_S: '2', ...relay.env }))
      const direct = await openDatabase(databaseConfig({ DATABASE_URL: scratch.url }))
      await direct.ensureSchema()
      const served = await createTestApp({ handle: viaRelay, drop: async () => {} })
      const writer = await createTestApp({ handle: direct, drop: async () => {} })
      try {
        const user = newUser()
        const { events, close } = await stream(served, user)
        const before = await create(writer, user, 'before the outage')
        expect(await events.nextEvent(2000)).toMatchObject({ data: { id: before.id } })

        await relay.cut()
        await Bun.sleep(300)
        // A new stream while the database is away: a quick 503, never a hang or a 500.
        const started = performance.now()
        const refused = await served.request('/api/v1/events', { as: newUser() })
        await expectProblem(refused, 503, 'SERVICE_UNAVAILABLE')
        expect(refused.headers.get('retry-after')).toBe('5')
        expect(performance.now() - started).toBeLessThan(3500)
        const during = await create(writer, user, 'during the outage')
        await Bun.sleep(500)
        relay.restore()
        const restored = performance.now()
        expect(await events.nextEvent(10_000)).toMatchObject({ event: 'change', data: { op: 'upsert', id: during.id } })
        const after = await create(writer, user, 'after the outage')
        expect(await events.nextEvent(2000)).toMatchObject({ data: { id: after.id } })
        console.log(`[${name}] delivered ${Math.round(performance.now() - restored)} ms after the database came back`)
        close()
      } finally {
        await Promise.all([served.sync.close(), writer.sync.close()])
        await Promise.all([viaRelay.close(), direct.close()])
        await relay.close()
        await scratch.drop()
      }
    }, 60_000)
  })
}

describe('a real process with open streams', () => {
  test('a client that goes away frees its place at once', async () => {
    const server = await startServer({ JWT_SECRET: SECRET, DATABASE_URL: 'memory://', EVENTS_MAX_STREAMS_PER_USER: '1' })
    try {
      const headers = { authorization: `Bearer ${await signToken({ sub: newUser() })}` }
      for (let i = 0; i < 3; i++) {
        const controller = new AbortController()
        const res = await fetch(`${server.url}/api/v1/events`, { headers, signal: controller.signal })
        expect(res.status).toBe(200)
        expect(await readSse(res).next()).toMatchObject({ event: 'ready' })
        const second = await fetch(`${server.url}/api/v1/events`, { headers })
        expect(second.status).toBe(429)
        await second.body?.cancel()
        controller.abort()
        await Bun.sleep(100)
      }
    } finally {
      await server.stop('SIGKILL')
    }
  }, 60_000)


  test('SIGTERM ends every stream at once and the process exits 0 promptly', async () => {
    const server = await startServer({ JWT_SECRET: SECRET, DATABASE_URL: 'memory://' })
    try {
      const headers = { authorization: `Bearer ${await signToken({ sub: newUser() })}` }
      const readers = []
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`${server.url}/api/v1/events`, { headers })
        expect(res.status).toBe(200)
        const events = readSse(res)
        expect(await events.next()).toMatchObject({ event: 'ready' })
        readers.push(events)
      }
      const signalled = performance.now()
      server.proc.kill('SIGTERM')
      for (const events of readers) expect(await events.next(2000)).toEqual({ kind: 'end' })
      expect(await server.proc.exited).toBe(0)
      expect(performance.now() - signalled).toBeLessThan(2000)
    } finally {
      server.proc.kill('SIGKILL')
    }
  }, 60_000)
})
