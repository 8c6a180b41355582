// GET /api/v1/events on one instance, on every driver: ready first, live changes within a second,
// Last-Event-ID and ?since= replay with no gap and no duplicate, isolation, comments while idle, the
// per-user cap, token expiry, and closing every stream at shutdown.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { syncStreams } from '../../src/db/schema'
import { decodeCursor } from '../../src/sync/cursor'
import { createTestApp, json, signToken, type TestApp } from '../support/app'
import { createTask, newUser } from '../support/factories'
import { expectProblem } from '../support/problems'
import { drivers, type TestDatabase } from '../support/databases'
import { readSse, type SseReader } from '../support/sse'

const HEARTBEAT_MS = 300
const MAX_STREAMS = 3

for (const driver of drivers) {
  describe(`GET /api/v1/events [${driver.name}]`, () => {
    let database: TestDatabase
    let t: TestApp
    const open: AbortController[] = []
    beforeAll(async () => {
      database = await driver.create()
      t = await createTestApp(database, { EVENTS_MAX_STREAMS_PER_USER: String(MAX_STREAMS) }, { sync: { heartbeatMs: HEARTBEAT_MS } })
    }, 60_000)
    afterAll(async () => {
      for (const c of open) c.abort()
      await t?.sync.close()
      await database?.drop()
    }, 60_000)

    /** Opens a stream; `token` overrides the user's fresh one. */
    const connect = async (user: string, { headers = {} as Record<string, string>, query = '', token = undefined as string | undefined } = {}) => {
      const controller = new AbortController()
      open.push(controller)
      const res = await t.app.handle(
        new Request(`http://localhost/api/v1/events${query}`, {
          headers: { authorization: `Bearer ${token ?? (await t.token(user))}`, ...headers },
          signal: controller.signal,
        }),
      )
      return { res, close: () => controller.abort() }
    }
    const stream = async (user: string, options?: Parameters<typeof connect>[1]) => {
      const { res, close } = await connect(user, options)
      // (a streaming body is read only when it is an error, or this would wait for its end)
      if (res.status !== 200) expect(res.status, await res.text()).toBe(200)
      return { events: readSse(res), close }
    }
    const create = (user: string, title: string) => createTask(t, user, { title })
    const timed = async (events: SseReader) => {
      const started = performance.now()
      const item = await events.nextEvent(3000)
      return { item, ms: performance.now() - started }
    }

    test('ready first, with the current cursor as its id; then each change within a second', async () => {
      const user = newUser()
      await create(user, 'before')
      const { cursor } = await json(await t.request('/api/v1/changes', { as: user }))
      const { res } = await connect(user)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toStartWith('text/event-stream')
      const events = readSse(res)
      // (A cursor also carries the second it was issued in: two for the same place compare by position.)
      const ready = await events.next()
      expect(ready).toEqual({ kind: 'event', id: expect.any(String), event: 'ready', data: { cursor: (ready as { id: string }).id } })
      const place = ({ seq, floor }: { seq: number; floor: number }) => ({ seq, floor })
      expect(place(decodeCursor((ready as { id: string }).id))).toEqual(place(decodeCursor(cursor)))

      const task = await create(user, 'live')
      const { item, ms } = await timed(events)
      expect(ms).toBeLessThan(1000)
      expect(item).toEqual({ kind: 'event', id: expect.any(String), event: 'change', data: { type: 'task', op: 'upsert', id: task.id, data: task } })
      // The event's id is a cursor: the feed after it is empty.
      const after = await json(await t.request(`/api/v1/changes?since=${(item as { id: string }).id}`, { as: user }))
      expect(after.changes).toEqual([])

      await t.request(`/api/v1/tasks/${task.id}`, { method: 'DELETE', as: user })
      expect((await timed(events)).item).toMatchObject({ event: 'change', data: { type: 'task', op: 'delete', id: task.id } })
      await events.cancel()
    })

    test('Last-Event-ID (or ?since=) replays what came after it, with no gap and no duplicate, then goes live', async () => {
      const user = newUser()
      const first = await stream(user)
      expect((await first.events.next()).kind).toBe('event')
      const seen: string[] = []
      for (let i = 0; i < 3; i++) {
        const task = await create(user, `t${i}`)
        const e = await first.events.nextEvent()
        expect(e).toMatchObject({ event: 'change', data: { id: task.id } })
        seen.push((e as { id: string }).id)
      }
      first.close()
      // While disconnected: two more changes; resuming from the last id received gives exactly those.
      let last = seen[2]!
      for (const resume of [(id: string) => ({ headers: { 'last-event-id': id } }), (id: string) => ({ query: `?since=${id}` })]) {
        const away = [await create(user, 'while away 1'), await create(user, 'while away 2')]
        const again = await stream(user, resume(last))
        for (const task of away) expect(await again.events.nextEvent()).toMatchObject({ event: 'change', data: { op: 'upsert', id: task.id } })
        // Nothing else: the next thing is a keep-alive comment, not a repeated event.
        expect(await again.events.next(HEARTBEAT_MS * 4)).toEqual({ kind: 'comment', text: 'keep-alive' })
        const live = await create(user, 'live again')
        const event = await again.events.nextEvent(1000)
        expect(event).toMatchObject({ event: 'change', data: { id: live.id } })
        last = (event as { id: string }).id
        again.close()
      }
      // The header wins over ?since= (a reconnecting EventSource keeps its first URL).
      const newest = await create(user, 'newest')
      const both = await stream(user, { headers: { 'last-event-id': last }, query: `?since=${seen[0]}` })
      expect(await both.events.nextEvent()).toMatchObject({ data: { id: newest.id } })
      both.close()
    })

    test('only the user\'s own changes; comments keep an idle stream open', async () => {
      const [me, other] = [newUser(), newUser()]
      const { events, close } = await stream(me)
      expect(await events.next()).toMatchObject({ event: 'ready' })
      await create(other, 'not yours')
      const started = performance.now()
      expect(await events.next(HEARTBEAT_MS * 4)).toEqual({ kind: 'comment', text: 'keep-alive' })
      expect(await events.next(HEARTBEAT_MS * 4)).toEqual({ kind: 'comment', text: 'keep-alive' })
      expect(performance.now() - started).toBeGreaterThanOrEqual(HEARTBEAT_MS * 2 - 50)
      close()
    })

    test('the stream ends when its token expires', async () => {
      const user = newUser()
      const token = await signToken({ sub: user }, { expiresIn: Math.floor(Date.now() / 1000) + 2 })
      const { events } = await stream(user, { token })
      expect(await events.next()).toMatchObject({ event: 'ready' })
      const started = performance.now()
      let item
      do item = await events.next(4000)
      while (item.kind === 'comment')
      expect(item).toEqual({ kind: 'end' })
      expect(performance.now() - started).toBeLessThan(3000)
    })

    test(`more than ${MAX_STREAMS} streams for one user: 429 with Retry-After; closing one frees a place`, async () => {
      const user = newUser()
      const streams = []
      for (let i = 0; i < MAX_STREAMS; i++) streams.push(await stream(user))
      const refused = await connect(user)
      expect(refused.res.headers.get('retry-after')).toBe('30')
      await expectProblem(refused.res, 429, 'RATE_LIMITED')
      // Another user is not affected.
      const otherUser = await stream(newUser())
      otherUser.close()
      // A closed stream frees its place at once (its lease is deleted as it ends, not left to lapse
      // after a minute).
      streams[0]!.close()
      const { db } = database.handle
      const leases = async () => (await db.select().from(syncStreams).where(eq(syncStreams.userId, user))).length
      const deadline = performance.now() + 1000
      while ((await leases()) >= MAX_STREAMS && performance.now() < deadline) await Bun.sleep(10)
      expect(await leases()).toBe(MAX_STREAMS - 1)
      const admitted = await stream(user)
      expect(await admitted.events.next()).toMatchObject({ event: 'ready' })
      await expectProblem((await connect(user)).res, 429, 'RATE_LIMITED')
      for (const s of [...streams, admitted]) s.close()
    })

    test('the cap counts streams held elsewhere (leases), until they lapse', async () => {
      const user = newUser()
      const { db } = database.handle
      // Another instance's streams: live leases, as a crashed one leaves them.
      const elsewhere = Array.from({ length: MAX_STREAMS }, () => ({ userId: user, streamId: crypto.randomUUID(), expiresAt: new Date(Date.now() + 60_000) }))
      await db.insert(syncStreams).values(elsewhere)
      await expectProblem((await connect(user)).res, 429, 'RATE_LIMITED')
      // One lapses (its instance stopped renewing): its place is free, and the lapsed lease goes.
      await db.update(syncStreams).set({ expiresAt: new Date(Date.now() - 1000) }).where(eq(syncStreams.streamId, elsewhere[0]!.streamId))
      const admitted = await stream(user)
      expect(await admitted.events.next()).toMatchObject({ event: 'ready' })
      const held = await db.select({ streamId: syncStreams.streamId }).from(syncStreams).where(eq(syncStreams.userId, user))
      expect(held.map((r) => r.streamId)).not.toContain(elsewhere[0]!.streamId)
      expect(held).toHaveLength(MAX_STREAMS)
      await expectProblem((await connect(user)).res, 429, 'RATE_LIMITED')
      admitted.close()
    })

    test('bad resume points: junk is 400 INVALID_CURSOR; no token is 401', async () => {
      const user = newUser()
      for (const init of [{ headers: { 'last-event-id': 'junk' } }, { query: '?since=%25' }]) {
        await expectProblem((await connect(user, init)).res, 400, 'INVALID_CURSOR')
      }
      await expectProblem(await t.app.handle(new Request('http://localhost/api/v1/events')), 401, 'UNAUTHORIZED')
    })
  })
}

describe('GET /api/v1/events at shutdown [pglite]', () => {
  test('closing the hub ends every open stream at once, and new streams are refused', async () => {
    const database = await drivers[0]!.create()
    const t = await createTestApp(database)
    try {
      const readers = []
      for (const user of [newUser(), newUser()]) {
        const res = await t.app.handle(new Request('http://localhost/api/v1/events', { headers: { authorization: `Bearer ${await t.token(user)}` } }))
        const events = readSse(res)
        expect(await events.next()).toMatchObject({ event: 'ready' })
        readers.push(events)
      }
      expect(t.sync.openStreams).toBe(2)
      const started = performance.now()
      await t.sync.close()
      for (const events of readers) expect(await events.next(1000)).toEqual({ kind: 'end' })
      expect(performance.now() - started).toBeLessThan(500)
      expect(t.sync.openStreams).toBe(0)
      await expectProblem(await t.request('/api/v1/events', { as: newUser() }), 503, 'SERVICE_UNAVAILABLE')
    } finally {
      await database.drop()
    }
  }, 60_000)
})
