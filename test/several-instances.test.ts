// Several instances behave as one service: three `serve` processes on one Postgres database and
// one Redis, driven round-robin. Migrations on three simultaneous starts apply once (through the
// direct URL, while the pooled one is a relay); a user's budget is spent once across all three; an
// Idempotency-Key used on one is replayed by the others; a change written through one reaches an
// event stream open on another within a second; a user's cap on open streams counts them on all.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { SQL } from 'bun'
import { migrations } from '../src/db/migrate'
import { json, newUser, SECRET, signToken } from './support/app'
import { hasPostgres, scratchPostgres } from './support/databases'
import { testRedis, type TestRedis } from './support/redis'
import { startServer, type RunningServer } from './support/server'
import { readSse } from './support/sse'
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy'

describe.if(hasPostgres)('three instances on one Postgres and one Redis', () => {
  let scratch: Awaited<ReturnType<typeof scratchPostgres>>
  let pooled: TcpProxy
  let redis: TestRedis
  let servers: RunningServer[] = []

  beforeAll(async () => {
    scratch = await scratchPostgres()
    const direct = new URL(scratch.url)
    // The pooled URL (DATABASE_URL) goes through a relay, as Neon's pooler host would; the direct
    // one (DATABASE_DIRECT_URL) does not.
    pooled = startTcpProxy({ host: direct.hostname, port: Number(direct.port || 5432) })
    const pooledUrl = new URL(scratch.url)
    pooledUrl.port = String(pooled.port)
    redis = await testRedis()
    const env = {
      DATABASE_URL: pooledUrl.href,
      DATABASE_DIRECT_URL: scratch.url,
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: redis.keyPrefix,
      JWT_SECRET: SECRET,
      RATE_LIMIT_PER_USER: '6',
      RATE_LIMIT_PER_IP: '1000',
      EVENTS_MAX_STREAMS_PER_USER: '2',
    }
    // Started at the same moment, on an empty database.
    servers = await Promise.all([0, 1, 2].map(() => startServer(env)))
  }, 60_000)

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()))
    pooled?.stop()
    await redis?.close()
    await scratch?.drop()
  }, 60_000)

  test('migrations on three simultaneous starts apply once', async () => {
    const applied = servers.flatMap((s) => s.logs.filter((l) => l.message === 'migrations.applied'))
    expect(applied).toEqual([expect.objectContaining({ migrations: migrations.map((m) => m.tag).join(',') })])
    const sql = new SQL(scratch.url, { max: 1 })
    try {
      const [{ n }] = await sql`select count(*)::int as n from drizzle.__drizzle_migrations`
      expect(n).toBe(migrations.length)
    } finally {
      await sql.close()
    }
    for (const s of servers) expect((await fetch(`${s.url}/readyz`)).status).toBe(200)
  })

  test('a user\'s budget is spent once across all three, round-robin', async () => {
    const token = await signToken({ sub: newUser() })
    const headers = { authorization: `Bearer ${token}` }
    const remaining: (string | null)[] = []
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${servers[i % 3]!.url}/api/v1/tasks`, { headers })
      expect(res.status, await res.clone().text()).toBe(200)
      remaining.push(res.headers.get('x-ratelimit-remaining'))
    }
    expect(remaining).toEqual(['5', '4', '3', '2', '1', '0'])
    for (const s of servers) {
      const res = await fetch(`${s.url}/api/v1/tasks`, { headers })
      expect(res.status).toBe(429)
      expect(await json(res)).toMatchObject({ error_code: 'RATE_LIMITED' })
    }
  })

  test('a task written through one instance is read through the others', async () => {
    const token = await signToken({ sub: newUser() })
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
    const created = await fetch(`${servers[0]!.url}/api/v1/tasks`, { method: 'POST', headers, body: JSON.stringify({ title: 'shared' }) })
    expect(created.status, await created.clone().text()).toBe(201)
    const { id } = await json(created)
    for (const s of servers.slice(1)) {
      const res = await fetch(`${s.url}/api/v1/tasks/${id}`, { headers })
      expect(res.status).toBe(200)
      expect(await json(res)).toMatchObject({ id, title: 'shared' })
    }
  })

  test('an Idempotency-Key used on one instance is replayed by the others, and refused for another body', async () => {
    const token = await signToken({ sub: newUser() })
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': `k-${crypto.randomUUID()}` }
    const body = JSON.stringify({ title: 'once' })
    const first = await fetch(`${servers[0]!.url}/api/v1/tasks`, { method: 'POST', headers, body })
    expect(first.status, await first.clone().text()).toBe(201)
    expect(first.headers.get('idempotent-replayed')).toBeNull()
    const task = await json(first)
    for (const s of servers.slice(1)) {
      const again = await fetch(`${s.url}/api/v1/tasks`, { method: 'POST', headers, body })
      expect(again.status, await again.clone().text()).toBe(201)
      expect(again.headers.get('idempotent-replayed')).toBe('true')
      expect(again.headers.get('location')).toBe(first.headers.get('location'))
      expect(again.headers.get('etag')).toBe(first.headers.get('etag'))
      expect(await json(again)).toEqual(task)
    }
    const other = await fetch(`${servers[2]!.url}/api/v1/tasks`, { method: 'POST', headers, body: JSON.stringify({ title: 'twice' }) })
    expect(other.status).toBe(422)
    expect(await json(other)).toMatchObject({ error_code: 'IDEMPOTENCY_KEY_REUSED' })
    const list = await fetch(`${servers[1]!.url}/api/v1/tasks`, { headers: { authorization: headers.authorization } })
    expect((await json(list)).map((t: { id: string }) => t.id)).toEqual([task.id])
  })

  test('a change written through one instance reaches a stream open on each of the others within a second', async () => {
    const token = await signToken({ sub: newUser() })
    const streams = await Promise.all(
      servers.slice(1).map(async (s) => {
        const res = await fetch(`${s.url}/api/v1/events`, { headers: { authorization: `Bearer ${token}` } })
        expect(res.status).toBe(200)
        expect(res.headers.get('content-type')).toStartWith('text/event-stream')
        const events = readSse(res)
        expect(await events.nextEvent()).toMatchObject({ kind: 'event', event: 'ready' })
        return events
      }),
    )
    try {
      const writtenAt = performance.now()
      const created = await fetch(`${servers[0]!.url}/api/v1/tasks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ title: 'fanned out' }),
      })
      expect(created.status, await created.clone().text()).toBe(201)
      const task = await json(created)
      for (const events of streams) {
        const change = await events.nextEvent(Math.max(1, 1000 - (performance.now() - writtenAt)))
        expect(change).toMatchObject({ kind: 'event', event: 'change', data: { type: 'task', op: 'upsert', id: task.id, data: task } })
      }
    } finally {
      await Promise.all(streams.map((e) => e.cancel()))
    }
  })

  test('a user\'s cap on open event streams counts their streams on every instance', async () => {
    // (Few requests: the user's request budget here is 6.)
    const user = newUser()
    const token = await signToken({ sub: user })
    const open = (i: number) => fetch(`${servers[i]!.url}/api/v1/events`, { headers: { authorization: `Bearer ${token}` } })
    const streams: ReturnType<typeof readSse>[] = []
    const sql = new SQL(scratch.url, { max: 1 })
    try {
      for (const i of [0, 1]) {
        const res = await open(i)
        expect(res.status).toBe(200)
        const events = readSse(res)
        expect(await events.nextEvent()).toMatchObject({ kind: 'event', event: 'ready' })
        streams.push(events)
      }
      // Two open, one on each of two instances: a third is refused on the third instance.
      const refused = await open(2)
      expect(refused.status).toBe(429)
      expect(refused.headers.get('retry-after')).toBe('30')
      expect(await json(refused)).toMatchObject({ error_code: 'RATE_LIMITED' })
      // The one on the second instance closed: its place is free on the third as soon as the
      // second has seen the client go.
      await streams.pop()!.cancel()
      const leases = async () => (await sql`select count(*)::int as n from sync_streams where user_id = ${user}`)[0].n as number
      const deadline = performance.now() + 2000
      while ((await leases()) > 1 && performance.now() < deadline) await Bun.sleep(20)
      const res = await open(2)
      expect(res.status).toBe(200)
      streams.push(readSse(res))
    } finally {
      await Promise.all(streams.map((e) => e.cancel()))
      await sql.close()
    }
  })
})
