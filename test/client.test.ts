// taskapi-client (client/index.ts) against the app served on a real socket: the bearer header from
// a string or a function, timestamps as strings, Link paging, and a failed fetch as NetworkError.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createClient, NetworkError, nextCursor, pages } from '../client/index'
import { createTestApp, newUser, type TestApp } from './support/app'
import { drivers, type TestDatabase } from './support/databases'

const pglite = drivers.find((d) => d.name === 'pglite')!

describe('taskapi-client', () => {
  let database: TestDatabase
  let t: TestApp
  let server: ReturnType<typeof Bun.serve>
  let base = ''

  beforeAll(async () => {
    database = await pglite.create()
    t = await createTestApp(database)
    server = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: (request) => t.app.handle(request) })
    base = `http://127.0.0.1:${server.port}`
  }, 30_000)
  afterAll(async () => {
    await server?.stop(true)
    await database?.drop()
  })

  test('a string token; timestamps stay strings; typed 400 and 404', async () => {
    const user = newUser()
    const api = createClient(`${base}/`, { token: await t.token(user) })
    const created = await api.tasks.post({ title: 'Buy milk', due_at: '2026-12-01T09:00:00.000Z' })
    expect(created.status, JSON.stringify(created.error)).toBe(201)
    expect(created.data).toMatchObject({ user_id: user, title: 'Buy milk', due_at: '2026-12-01T09:00:00.000Z' })
    expect(typeof created.data!.created_at).toBe('string')

    const invalid = await api.tasks.post({ title: ' ' })
    expect(invalid.error?.status).toBe(400)
    expect(invalid.error?.value).toMatchObject({
      error_code: 'VALIDATION_ERROR',
      errors: [{ field: 'title', message: 'must be 1 to 200 characters after trimming, with no NUL characters' }],
    })
    const gone = await api.tasks({ id: crypto.randomUUID() }).get()
    expect(gone.error?.status).toBe(404)
    expect(gone.error?.value.error_code).toBe('TASK_NOT_FOUND')
  })

  test('a token function is called before every request, and may be async', async () => {
    const user = newUser()
    let calls = 0
    const api = createClient(base, {
      token: async () => {
        calls++
        return t.token(user)
      },
    })
    expect((await api.tasks.get()).status).toBe(200)
    expect((await api.tasks.stats.get()).data).toEqual({ total: 0, completed: 0, pending: 0, overdue: 0 })
    expect(calls).toBe(2)
  })

  test('no token, or a function giving none: 401 from the service', async () => {
    for (const api of [createClient(base), createClient(base, { token: () => null })]) {
      const res = await api.tasks.get()
      expect(res.error?.status).toBe(401)
      expect(res.error?.value.error_code).toBe('UNAUTHORIZED')
    }
  })

  test('safe writes: a conditional update with the ETag it read, a 412 handled by refetching, and a retried keyed create', async () => {
    const user = newUser()
    const api = createClient(base, { token: await t.token(user) })

    const created = await api.tasks.post({ title: 'Shared list item' }, { headers: { 'idempotency-key': 'create-1' } })
    expect(created.status).toBe(201)
    const retried = await api.tasks.post({ title: 'Shared list item' }, { headers: { 'idempotency-key': 'create-1' } })
    expect(retried.response.headers.get('idempotent-replayed')).toBe('true')
    expect(retried.data).toEqual(created.data!)

    const id = created.data!.id
    const read = await api.tasks({ id }).get()
    const etag = read.response.headers.get('etag')!
    expect(etag).toBe('"1"')

    // Another device changes the task in between.
    expect((await api.tasks({ id }).patch({ priority: 'high' })).status).toBe(200)

    const stale = await api.tasks({ id }).patch({ title: 'Renamed on the phone' }, { headers: { 'if-match': etag } })
    expect(stale.data).toBeNull()
    expect(stale.error?.status).toBe(412)
    if (stale.error?.status === 412) expect(stale.error.value.error_code).toBe('PRECONDITION_FAILED')
    const current = stale.response.headers.get('etag')!
    expect(current).toBe('"2"')

    // The client refetches, merges, and sends the update again with the current tag.
    const fresh = await api.tasks({ id }).get()
    expect(fresh.data?.priority).toBe('high')
    const retry = await api.tasks({ id }).patch({ title: 'Renamed on the phone' }, { headers: { 'if-match': current } })
    expect(retry.status).toBe(200)
    expect(retry.data).toMatchObject({ title: 'Renamed on the phone', priority: 'high', version: 3 })
    expect(retry.response.headers.get('etag')).toBe('"3"')

    const notModified = await api.tasks({ id }).get({ headers: { 'if-none-match': '"3"' } })
    expect(notModified.status).toBe(304)
  })

  test('pages() follows the Link header to the last page', async () => {
    const user = newUser()
    const api = createClient(base, { token: await t.token(user) })
    for (const title of ['a', 'b', 'c', 'd', 'e']) expect((await api.tasks.post({ title })).status).toBe(201)
    const seen: string[][] = []
    const cursors: (string | undefined)[] = []
    for await (const page of pages((cursor) => {
      cursors.push(cursor)
      return api.tasks.get({ query: { sort: 'title', limit: 2, cursor } })
    })) {
      expect(page.status).toBe(200)
      seen.push(page.data!.map((task) => task.title))
    }
    expect(seen).toEqual([['a', 'b'], ['c', 'd'], ['e']])
    expect(cursors[0]).toBeUndefined()
    expect(cursors.slice(1)).toEqual([expect.any(String), expect.any(String)])
  })

  test('pages() stops after an error, yielding it', async () => {
    const api = createClient(base, { token: await t.token(newUser()) })
    const seen: (number | undefined)[] = []
    for await (const page of pages((cursor) => api.tasks.get({ query: { cursor: cursor ?? 'not-a-cursor' } }))) seen.push(page.error?.status)
    expect(seen).toEqual([400])
  })

  test('nextCursor reads a relative or absolute Link, and nothing else', () => {
    const link = (value: string) => new Response(null, { headers: { link: value } })
    expect(nextCursor(link('</api/v1/tasks?limit=2&cursor=abc_-1>; rel="next"'))).toBe('abc_-1')
    expect(nextCursor(link('<https://tasks.example.com/api/v1/tasks?cursor=xyz>; rel="next"'))).toBe('xyz')
    expect(nextCursor(link('</api/v1/tasks?cursor=xyz>; rel="prev"'))).toBeUndefined()
    expect(nextCursor(new Response(null))).toBeUndefined()
    expect(nextCursor(undefined)).toBeUndefined()
  })

  test('no answer (nothing listening) rejects with NetworkError, not a 503', async () => {
    const closed = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response() })
    const dead = `http://127.0.0.1:${closed.port}`
    await closed.stop(true)
    const api = createClient(dead, { token: 'x' })
    const error = await api.tasks.get().then(
      () => null,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(NetworkError)
    expect((error as NetworkError).url).toBe(dead)
    expect((error as NetworkError).cause).toBeInstanceOf(Error)
    // A 503 the service does send stays an answer.
    const down = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      fetch: () => Response.json({ error_code: 'SERVICE_UNAVAILABLE', status_code: 503 }, { status: 503 }),
    })
    try {
      const res = await createClient(`http://127.0.0.1:${down.port}`).tasks.get()
      expect(res.error?.status).toBe(503)
      expect(res.error?.value.error_code).toBe('SERVICE_UNAVAILABLE')
    } finally {
      await down.stop(true)
    }
  })
})
