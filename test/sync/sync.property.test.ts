// The sync guarantee, property-tested: several writers (one user, concurrent, through two service
// instances on one Postgres, one on Bun.SQL and one on the Neon driver) make random writes while
// one client pulls GET /changes from its cursor (starting with a paged snapshot, in small random
// pages) and another follows GET /events; after the writers stop and the clients drain, both
// copies equal the server's state exactly, and no client ever got a task older than one it held.
// One more writer acts as an instance of the previous version during a rolling deploy: its writes
// record themselves in their own statement (test/support/previous-recorded.ts) while the trigger
// records them too.
// The run is seeded: SYNC_SEED=<seed> replays the same choices (the interleaving is the machine's).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { and, eq, sql } from 'drizzle-orm'
import { openDatabase, type DatabaseHandle } from '../../src/db/client'
import { tasks } from '../../src/db/schema'
import { createTestApp, json, type TestApp } from '../support/app'
import { newUser } from '../support/factories'
import { databaseConfig, hasPostgres, neonProxy, scratchPostgres } from '../support/databases'
import { readSse } from '../support/sse'
import { recorded as previousRecorded } from '../support/previous-recorded'

const WRITERS = 4
const OPS_PER_WRITER = Number(process.env.SYNC_OPS ?? 60)

/** mulberry32: small, seedable, good enough to pick operations. */
function random(seed: number) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

type Task = { id: string; version: number } & Record<string, unknown>
type Change = { type: 'task' | 'list'; op: 'upsert' | 'delete'; id: string; data?: Task }

/** A client's copy: applies changes, and fails on any that would take a task back in time. */
class Copy {
  readonly tasks = new Map<string, Task>()
  apply(change: Change, seed: number) {
    if (change.type !== 'task') throw new Error(`seed ${seed}: a ${change.type} change, and this test makes no lists`)
    if (change.op === 'delete') return void this.tasks.delete(change.id)
    const held = this.tasks.get(change.id)
    if (held && held.version > change.data!.version) throw new Error(`seed ${seed}: task ${change.id} went from version ${held.version} back to ${change.data!.version}`)
    this.tasks.set(change.id, change.data!)
  }
}

describe.if(hasPostgres)('the sync guarantee [postgres + neon, two instances]', () => {
  let scratch: Awaited<ReturnType<typeof scratchPostgres>>
  const handles: DatabaseHandle[] = []
  let instances: TestApp[]
  beforeAll(async () => {
    scratch = await scratchPostgres()
    handles.push(await openDatabase(databaseConfig({ DATABASE_URL: scratch.url })))
    handles.push(await openDatabase(databaseConfig({ DATABASE_URL: scratch.url, DB_DRIVER: 'neon', NEON_WS_PROXY: neonProxy().address })))
    await handles[0]!.ensureSchema()
    instances = await Promise.all(handles.map((handle) => createTestApp({ handle, drop: async () => {} })))
  }, 60_000)
  afterAll(async () => {
    await Promise.all(instances?.map((i) => i.sync.close()) ?? [])
    await Promise.all(handles.map((h) => h.close()))
    await scratch?.drop()
  }, 60_000)

  test('a client that applies every page (or every event) ends with exactly the server\'s state', async () => {
    const seed = Number(process.env.SYNC_SEED ?? Math.floor(Math.random() * 2 ** 31))
    console.log(`sync property test: SYNC_SEED=${seed}`)
    const rand = random(seed)
    const user = newUser('sync')
    const ids: string[] = []
    const pickId = () => ids[Math.floor(rand() * ids.length)] ?? crypto.randomUUID()
    const instance = (i: number) => instances[i % instances.length]!

    // Some tasks before the clients start, so the snapshot has pages to walk while writes go on.
    for (let i = 0; i < 20; i++) ids.push((await json(await instance(i).request('/api/v1/tasks', { method: 'POST', as: user, json: { title: `seed ${i}` } }))).id)

    // Each writer's operations are drawn up front from the seed, so a seed names the same run.
    const plans = Array.from({ length: WRITERS }, () =>
      Array.from({ length: OPS_PER_WRITER }, () => ({ op: rand(), target: rand(), flag: rand() < 0.5, title: `t${Math.floor(rand() * 1e6)}` })),
    )
    const previousPlan = Array.from({ length: OPS_PER_WRITER }, () => ({ op: rand(), target: rand(), title: `p${Math.floor(rand() * 1e6)}` }))
    let writing = true
    const previousVersion = (async () => {
      const { db } = handles[0]!
      for (const step of previousPlan) {
        const id = ids[Math.floor(step.target * ids.length)] ?? pickId()
        const mine = and(eq(tasks.userId, user), eq(tasks.id, id))
        if (step.op < 0.3) {
          const [row] = await previousRecorded(db, user, 'task', 'upsert', db.insert(tasks).values({ id: Bun.randomUUIDv7(), userId: user, title: step.title }).returning())
          ids.push(row!.id)
        } else if (step.op < 0.85) {
          await previousRecorded(db, user, 'task', 'upsert', db.update(tasks).set({ title: step.title, version: sql`${tasks.version} + 1`, updatedAt: sql`now()` }).where(mine).returning())
        } else await previousRecorded(db, user, 'task', 'delete', db.delete(tasks).where(mine).returning({ id: tasks.id }))
      }
    })()
    const writers = plans.map(async (plan, w) => {
      const via = instance(w)
      for (const step of plan) {
        const id = ids[Math.floor(step.target * ids.length)] ?? pickId()
        let res: Response
        if (step.op < 0.3) {
          res = await via.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: step.title, completed: step.flag } })
          if (res.status === 201) ids.push((await json(res)).id)
          continue
        } else if (step.op < 0.55) res = await via.request(`/api/v1/tasks/${id}`, { method: 'PATCH', as: user, json: { title: step.title, priority: step.flag ? 'high' : 'low' } })
        else if (step.op < 0.75) res = await via.request(`/api/v1/tasks/${id}/toggle`, { method: 'PATCH', as: user })
        else if (step.op < 0.85) res = await via.request(`/api/v1/tasks/${id}`, { method: 'PUT', as: user, json: { completed: step.flag } })
        else if (step.op < 0.97) res = await via.request(`/api/v1/tasks/${id}`, { method: 'DELETE', as: user })
        else res = await via.request('/api/v1/tasks?status=completed', { method: 'DELETE', as: user })
        expect([200, 204, 404], `seed ${seed}: ${res.status} ${await res.clone().text()}`).toContain(res.status)
      }
    })

    // The puller: a paged snapshot first, then changes since its cursor, alternating instances.
    const pulled = new Copy()
    let cursor: string | undefined
    let pulls = 0
    const pull = async () => {
      const limit = 1 + Math.floor(rand() * 7)
      const query = cursor === undefined ? `?limit=${limit}` : `?limit=${limit}&since=${cursor}`
      const res = await instance(pulls++).request(`/api/v1/changes${query}`, { as: user })
      expect(res.status, `seed ${seed}: ${await res.clone().text()}`).toBe(200)
      const page = await json<{ changes: Change[]; cursor: string; has_more: boolean }>(res)
      for (const change of page.changes) pulled.apply(change, seed)
      cursor = page.cursor
      return page
    }
    const puller = (async () => {
      while (writing) await pull()
    })()

    // The follower: a full snapshot, then the event stream from its cursor, on the other instance.
    const followed = new Copy()
    let snapshot = { has_more: true, cursor: undefined as string | undefined }
    while (snapshot.has_more) {
      const res = await instance(0).request(`/api/v1/changes?limit=5${snapshot.cursor ? `&since=${snapshot.cursor}` : ''}`, { as: user })
      const page = await json<{ changes: Change[]; cursor: string; has_more: boolean }>(res)
      for (const change of page.changes) followed.apply(change, seed)
      snapshot = page
    }
    const controller = new AbortController()
    const res = await instance(1).app.handle(
      new Request(`http://localhost/api/v1/events?since=${snapshot.cursor}`, { headers: { authorization: `Bearer ${await instance(1).token(user)}` }, signal: controller.signal }),
    )
    expect(res.status).toBe(200)
    const events = readSse(res)
    let following = true
    const follower = (async () => {
      while (following) {
        const item = await events.next(60_000).catch(() => ({ kind: 'end' as const }))
        if (item.kind === 'event' && item.event === 'change') followed.apply(item.data as Change, seed)
        if (item.kind === 'end') return
      }
    })()

    await Promise.all([...writers, previousVersion])
    writing = false
    await puller
    // Drain: until a page says nothing more and a fresh read finds nothing new.
    for (;;) {
      const page = await pull()
      if (!page.has_more && page.changes.length === 0) break
    }

    const all = await instance(0).request('/api/v1/tasks?limit=1000', { as: user })
    const server = new Map((await json<Task[]>(all)).map((task) => [task.id, task]))
    expect(server.size, `seed ${seed}`).toBeGreaterThan(0)
    const sorted = (m: Map<string, Task>) => [...m.values()].sort((x, y) => x.id.localeCompare(y.id))
    expect(sorted(pulled.tasks), `seed ${seed}: the puller's copy`).toEqual(sorted(server))

    // The follower gets there within a second or two of the last write.
    const deadline = performance.now() + 5000
    while (performance.now() < deadline && !Bun.deepEquals(sorted(followed.tasks), sorted(server))) await Bun.sleep(50)
    following = false
    controller.abort()
    await follower
    expect(sorted(followed.tasks), `seed ${seed}: the event follower's copy`).toEqual(sorted(server))
    console.log(`sync property test: ${pulls} pulls, ${server.size} tasks at the end, seed ${seed}`)
  }, 120_000)
})
