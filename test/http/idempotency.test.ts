// Idempotency-Key on every POST and PATCH under /api: replays, 422 for another request, 409 while
// the first runs, which responses are kept, per-user keys, retention and purge, and the record
// committing with the write.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { PGlite } from '@electric-sql/pglite'
import { SQL } from 'bun'
import { eq, sql } from 'drizzle-orm'
import { Elysia, t } from 'elysia'
import { createVerifier } from '../../src/auth/verify'
import { loadConfig } from '../../src/config'
import type { Database } from '../../src/db/client'
import { api } from '../../src/http/api'
import { rawBody } from '../../src/http/body'
import { ApiError, errors } from '../../src/http/errors'
import { createRateLimits } from '../../src/http/rate-limit'
import { idempotencyKeys, tasks } from '../../src/db/schema'
import { purgeExpiredKeys, schedulePurge } from '../../src/http/idempotency'
import { createLogger } from '../../src/log'
import { createTestApp, describeEachDriver, json, newUser, SECRET, signToken, type TestApp } from '../support/app'
import { drivers, type TestDatabase } from '../support/databases'
import { createList, createTask } from '../support/factories'
import { families } from '../support/endpoints'
import { expectProblem } from '../support/problems'

const titlesOf = async (t: TestApp, user: string) => (await json<{ title: string }[]>(await t.request('/api/v1/tasks?limit=1000', { as: user }))).map((task) => task.title)

/** Everything a client may read of a response, but the request id and rate-limit headers. */
async function snapshot(res: Response) {
  return {
    status: res.status,
    body: await res.clone().text(),
    location: res.headers.get('location'),
    etag: res.headers.get('etag'),
    contentType: res.headers.get('content-type'),
  }
}

/** Runs `fn` while inserts into `table` matching `condition` fail inside the database (a real 500). */
async function whileRefusing(t: TestApp, table: string, condition: string, fn: () => Promise<void>) {
  const { db } = t.db
  await db.execute(sql.raw(`create or replace function refuse_insert() returns trigger language plpgsql as $$
    begin if ${condition} then raise exception 'refused by test'; end if; return new; end $$`))
  await db.execute(sql.raw(`create trigger refuse_insert before insert on ${table} for each row execute function refuse_insert()`))
  try {
    await fn()
  } finally {
    await db.execute(sql.raw(`drop trigger refuse_insert on ${table}`))
  }
}

const keyed = (key: string, headers: Record<string, string> = {}) => ({ 'idempotency-key': key, ...headers })

// Every POST and PATCH under /api, given a task of the caller.
const keyedRoutes = [
  { name: 'create', method: 'POST', path: () => '/tasks', body: { title: 'keyed create' }, ok: 201 },
  { name: 'update', method: 'PATCH', path: (id: string) => `/tasks/${id}`, body: { title: 'keyed update' }, ok: 200 },
  { name: 'toggle', method: 'PATCH', path: (id: string) => `/tasks/${id}/toggle`, body: undefined, ok: 200 },
] as const

describeEachDriver('Idempotency-Key', (ctx, driver) => {
  for (const family of families) {
    for (const route of keyedRoutes) {
      test(`${family.name} ${route.name}: a retry gets the first response again, with Idempotent-Replayed, and nothing runs twice`, async () => {
        const t = ctx()
        const user = newUser()
        const task = await json(await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: 'target' } }))
        const key = crypto.randomUUID()
        const send = () => t.request(family.base(user) + route.path(task.id), { method: route.method, as: user, json: route.body, headers: keyed(key) })
        const first = await send()
        expect(first.status, await first.clone().text()).toBe(route.ok)
        expect(first.headers.get('idempotent-replayed')).toBeNull()
        const original = await snapshot(first)
        expect(original.etag).toMatch(/^"\d+"$/)
        for (let i = 0; i < 2; i++) {
          const again = await send()
          expect(await snapshot(again)).toEqual(original)
          expect(again.headers.get('idempotent-replayed')).toBe('true')
          expect(again.headers.get('x-request-id')).not.toBe(first.headers.get('x-request-id'))
        }
        if (route.method === 'POST') {
          expect(original.location).toBe(`${family.base(user)}/tasks/${JSON.parse(original.body).id}`)
          expect((await titlesOf(t, user)).sort()).toEqual(['keyed create', 'target'])
        } else {
          // Applied once: a toggle replayed twice would have flipped back; a version bumped thrice.
          expect((await json(await t.request(`/api/v1/tasks/${task.id}`, { as: user }))).version).toBe(2)
        }
      })
    }

    test(`${family.name}: the same key with another body, path or method is 422 IDEMPOTENCY_KEY_REUSED and nothing runs`, async () => {
      const t = ctx()
      const user = newUser()
      const key = crypto.randomUUID()
      const first = await t.request(`${family.base(user)}/tasks`, { method: 'POST', as: user, json: { title: 'first' }, headers: keyed(key) })
      expect(first.status).toBe(201)
      const task = await json(first)
      const reuses = [
        t.request(`${family.base(user)}/tasks`, { method: 'POST', as: user, json: { title: 'second' }, headers: keyed(key) }),
        t.request(`${family.base(user)}/tasks`, { method: 'POST', as: user, json: { title: 'first', priority: 'high' }, headers: keyed(key) }),
        t.request(`${family.base(user)}/tasks/${task.id}`, { method: 'PATCH', as: user, json: { title: 'first' }, headers: keyed(key) }),
        t.request(`${family.base(user)}/tasks/${task.id}/toggle`, { method: 'PATCH', as: user, headers: keyed(key) }),
      ]
      for (const res of await Promise.all(reuses)) {
        const body = await expectProblem(res, 422, 'IDEMPOTENCY_KEY_REUSED')
        expect(body.title).toBe('Unprocessable Content')
        expect(res.headers.get('idempotent-replayed')).toBeNull()
      }
      expect(await titlesOf(t, user)).toEqual(['first'])
      expect(await json(await t.request(`/api/v1/tasks/${task.id}`, { as: user }))).toEqual(task)
    })
  }

  // Lists and moves exist only under /api/v1.
  const v1Keyed = [
    { name: 'create a list', path: () => '/lists', method: 'POST', body: { name: 'keyed list' }, ok: 201 },
    { name: 'rename a list', path: (ids: { list: string }) => `/lists/${ids.list}`, method: 'PATCH', body: { name: 'keyed rename' }, ok: 200 },
    { name: 'move a list', path: (ids: { list: string }) => `/lists/${ids.list}/move`, method: 'POST', body: {}, ok: 200 },
    { name: 'move a task', path: (ids: { task: string }) => `/tasks/${ids.task}/move`, method: 'POST', body: {}, ok: 200 },
  ] as const
  for (const route of v1Keyed) {
    test(`/api/v1 ${route.name}: a retry gets the first response again, with Idempotent-Replayed, and nothing runs twice`, async () => {
      const t = ctx()
      const user = newUser()
      const ids = { list: (await createList(t, user)).id, task: (await createTask(t, user)).id }
      await createList(t, user)
      const key = crypto.randomUUID()
      const send = () => t.request(`/api/v1${route.path(ids)}`, { method: route.method, as: user, json: route.body, headers: keyed(key) })
      const first = await send()
      expect(first.status, await first.clone().text()).toBe(route.ok)
      const original = await snapshot(first)
      expect(original.etag).toMatch(/^"\d+"$/)
      const lists = await json(await t.request('/api/v1/lists', { as: user }))
      const tasks = await json(await t.request('/api/v1/tasks', { as: user }))
      const again = await send()
      expect(again.headers.get('idempotent-replayed')).toBe('true')
      expect(await snapshot(again)).toEqual(original)
      expect(await json(await t.request('/api/v1/lists', { as: user }))).toEqual(lists)
      expect(await json(await t.request('/api/v1/tasks', { as: user }))).toEqual(tasks)
      await expectProblem(
        await t.request(`/api/v1${route.path(ids)}`, { method: route.method, as: user, json: { ...route.body, extra: 1 }, headers: keyed(key) }),
        422,
        'IDEMPOTENCY_KEY_REUSED',
      )
    })
  }

  test('the same body however its members are ordered or spaced is the same request', async () => {
    const t = ctx()
    const user = newUser()
    const key = crypto.randomUUID()
    const post = (body: string) =>
      t.request('/api/v1/tasks', { method: 'POST', as: user, headers: keyed(key, { 'content-type': 'application/json' }), body })
    const first = await post('{"title":"ordered","priority":"high","due_at":null}')
    expect(first.status).toBe(201)
    const again = await post('{ "due_at": null,\n  "priority": "high", "title": "ordered" }')
    expect(again.status).toBe(201)
    expect(again.headers.get('idempotent-replayed')).toBe('true')
    expect(await again.text()).toBe(await first.text())
  })

  test('a key is the same bare or as a structured-field string; 255 characters is the longest', async () => {
    const t = ctx()
    const user = newUser()
    for (const [bare, quoted] of [
      ['abc-123', '"abc-123"'],
      ['with"quote\\and~', '"with\\"quote\\\\and~"'],
      ['k'.repeat(255), `"${'k'.repeat(255)}"`],
    ] as const) {
      const first = await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: bare.slice(0, 20) }, headers: keyed(bare) })
      expect(first.status, await first.clone().text()).toBe(201)
      const again = await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: bare.slice(0, 20) }, headers: keyed(quoted) })
      expect(again.headers.get('idempotent-replayed'), quoted).toBe('true')
      expect(await again.text()).toBe(await first.text())
    }
  })

  test('a key that is not 1 to 255 visible ASCII characters is a 400 naming Idempotency-Key, and nothing is created', async () => {
    const t = ctx()
    const user = newUser()
    for (const bad of ['', '""', 'k'.repeat(256), `"${'k'.repeat(256)}"`, 'has space', 'ünïcode', '"unterminated', '"bad\\escape"', '"a", "b"', 'tab\there']) {
      const res = await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: 'never' }, headers: keyed(bad) })
      const body = await expectProblem(res, 400, 'VALIDATION_ERROR')
      expect(body.errors, JSON.stringify(bad)).toEqual([{ field: 'Idempotency-Key', message: 'must be 1 to 255 visible ASCII characters, bare or as a quoted string' }])
    }
    expect(await titlesOf(t, user)).toEqual([])
  })

  test('keys are per user: the same key from two users is two requests', async () => {
    const t = ctx()
    const [alice, bob] = [newUser('alice'), newUser('bob')]
    const key = 'shared-key'
    const a = await t.request('/api/v1/tasks', { method: 'POST', as: alice, json: { title: 'same' }, headers: keyed(key) })
    const b = await t.request('/api/v1/tasks', { method: 'POST', as: bob, json: { title: 'same' }, headers: keyed(key) })
    expect([a.status, b.status]).toEqual([201, 201])
    expect(b.headers.get('idempotent-replayed')).toBeNull()
    expect((await json(b)).user_id).toBe(bob)
    expect(await titlesOf(t, alice)).toEqual(['same'])
    expect(await titlesOf(t, bob)).toEqual(['same'])
  })

  test('errors below 500 are kept and replayed: a 400 for the body, a 404, a 403, a 412', async () => {
    const t = ctx()
    const [user, other] = [newUser(), newUser('other')]
    const theirs = await json(await t.request('/api/v1/tasks', { method: 'POST', as: other, json: { title: 'theirs' } }))
    const mine = await json(await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: 'mine' } }))
    const missing = crypto.randomUUID()
    const cases = [
      { status: 400, code: 'VALIDATION_ERROR', send: (key: string) => t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: '' }, headers: keyed(key) }) },
      { status: 404, code: 'TASK_NOT_FOUND', send: (key: string) => t.request(`/api/v1/tasks/${missing}`, { method: 'PATCH', as: user, json: { title: 'x' }, headers: keyed(key) }) },
      { status: 403, code: 'FORBIDDEN', send: (key: string) => t.request(`/api/v1/tasks/${theirs.id}/toggle`, { method: 'PATCH', as: user, headers: keyed(key) }) },
      {
        status: 412,
        code: 'PRECONDITION_FAILED',
        send: (key: string) => t.request(`/api/v1/tasks/${mine.id}`, { method: 'PATCH', as: user, json: { title: 'x' }, headers: keyed(key, { 'if-match': '"9"' }) }),
      },
    ]
    for (const c of cases) {
      const key = crypto.randomUUID()
      const first = await c.send(key)
      await expectProblem(first.clone() as Response, c.status, c.code)
      const again = await c.send(key)
      expect(again.headers.get('idempotent-replayed'), c.code).toBe('true')
      expect(await snapshot(again)).toEqual(await snapshot(first))
    }
    // A corrected body under the key of the refused one is another request.
    const key = crypto.randomUUID()
    expect((await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: '' }, headers: keyed(key) })).status).toBe(400)
    await expectProblem(await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: 'fixed' }, headers: keyed(key) }), 422, 'IDEMPOTENCY_KEY_REUSED')
    expect(await titlesOf(t, user)).toEqual(['mine'])
    expect(await json(await t.request(`/api/v1/tasks/${theirs.id}`, { as: other }))).toEqual(theirs)
  })

  test('a 401 is not kept: the same key with a token then runs', async () => {
    const t = ctx()
    const user = newUser()
    const key = crypto.randomUUID()
    await expectProblem(await t.request('/api/v1/tasks', { method: 'POST', json: { title: 'later' }, headers: keyed(key) }), 401, 'UNAUTHORIZED')
    const res = await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: 'later' }, headers: keyed(key) })
    expect(res.status).toBe(201)
    expect(res.headers.get('idempotent-replayed')).toBeNull()
  })

  test('after a 5xx the key is free again, and the failed request left nothing behind', async () => {
    const t = ctx()
    const user = newUser()
    const key = crypto.randomUUID()
    // A real failure inside the write.
    await whileRefusing(t, 'tasks', `new.title = 'doomed'`, async () => {
      await expectProblem(await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: 'doomed' }, headers: keyed(key) }), 500, 'INTERNAL_ERROR')
    })
    const retry = await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: 'doomed' }, headers: keyed(key) })
    expect(retry.status, await retry.clone().text()).toBe(201)
    expect(retry.headers.get('idempotent-replayed')).toBeNull()
    expect(await titlesOf(t, user)).toEqual(['doomed'])
  })

  test('the kept response commits with the write: when keeping it fails, the task is not created either', async () => {
    const t = ctx()
    const user = newUser()
    const key = crypto.randomUUID()
    await whileRefusing(t, 'idempotency_keys', `new.key = '${key}'`, async () => {
      await expectProblem(await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: 'orphan' }, headers: keyed(key) }), 500, 'INTERNAL_ERROR')
    })
    expect(await titlesOf(t, user)).toEqual([])
    const retry = await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: 'orphan' }, headers: keyed(key) })
    expect(retry.status).toBe(201)
    expect(await titlesOf(t, user)).toEqual(['orphan'])
  })

  test('20 identical keyed POSTs at once, through three instances, make one task; every other answer is a replay of it or a 409', async () => {
    const t = ctx()
    // Three instances of the service on one database, as behind a load balancer (each also keeps
    // one user's requests in flight under its own cap of 8, which 20 at one instance would pass).
    const instances = [t, await createTestApp({ handle: t.db, drop: async () => {} }), await createTestApp({ handle: t.db, drop: async () => {} })]
    const user = newUser()
    const key = crypto.randomUUID()
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        instances[i % instances.length]!.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: 'once' }, headers: keyed(key) }),
      ),
    )
    const fresh = responses.filter((r) => r.status === 201 && r.headers.get('idempotent-replayed') === null)
    expect(fresh).toHaveLength(1)
    const original = await snapshot(fresh[0]!)
    for (const res of responses) {
      if (res === fresh[0]) continue
      if (res.status === 409) {
        await expectProblem(res.clone() as Response, 409, 'IDEMPOTENCY_KEY_IN_USE')
        expect(res.headers.get('retry-after')).toBe('1')
      } else {
        expect(res.headers.get('idempotent-replayed'), `${res.status} ${await res.clone().text()}`).toBe('true')
        expect(await snapshot(res)).toEqual(original)
      }
    }
    expect(await titlesOf(t, user)).toEqual(['once'])
  })

  if (driver.name !== 'pglite') {
    // PGlite has one connection, so requests never overlap there; on a server they do.
    test('while the first request with a key is still running, the same key is 409 IDEMPOTENCY_KEY_IN_USE with Retry-After', async () => {
      const t = ctx()
      const user = newUser()
      const key = crypto.randomUUID()
      // Another instance in the middle of that request: it holds the key's lock.
      const other = new SQL(process.env.TEST_DATABASE_URL!.replace(/\/[^/]*$/, `/${await currentDatabase(t)}`), { max: 1 })
      try {
        await other.begin(async (tx) => {
          await tx`select pg_advisory_xact_lock(hashtext(${user}), hashtext(${key}))`
          const res = await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: 'waiting' }, headers: keyed(key) })
          const body = await expectProblem(res, 409, 'IDEMPOTENCY_KEY_IN_USE')
          expect(body.title).toBe('Conflict')
          expect(res.headers.get('retry-after')).toBe('1')
        })
      } finally {
        await other.close()
      }
      expect(await titlesOf(t, user)).toEqual([])
      const after = await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: 'waiting' }, headers: keyed(key) })
      expect(after.status).toBe(201)
      expect(after.headers.get('idempotent-replayed')).toBeNull()
    })
  }

  test('kept responses expire after 24 hours: an older one is not replayed, and the purge removes only those', async () => {
    const t = ctx()
    const user = newUser()
    const send = (key: string) => t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: `for ${key}` }, headers: keyed(key) })
    for (const key of ['old-1', 'old-2', 'old-3', 'fresh']) expect((await send(key)).status).toBe(201)
    const { db } = t.db
    await db.execute(sql`update idempotency_keys set created_at = now() - interval '24 hours 1 second' where user_id = ${user} and key like 'old-%'`)
    // Expired: the key runs again (a second task), and its record is replaced by the new one.
    const rerun = await send('old-1')
    expect(rerun.status).toBe(201)
    expect(rerun.headers.get('idempotent-replayed')).toBeNull()
    expect((await send('old-1')).headers.get('idempotent-replayed')).toBe('true')
    expect((await send('fresh')).headers.get('idempotent-replayed')).toBe('true')
    // The purge works in bounded batches and leaves live records alone (other tests' included).
    const mine = sql`${idempotencyKeys.userId} = ${user}`
    const before = await db.select({ key: idempotencyKeys.key }).from(idempotencyKeys).where(mine)
    expect(before.map((r) => r.key).sort()).toEqual(['fresh', 'old-1', 'old-2', 'old-3'])
    expect(await purgeExpiredKeys(db, 1)).toBe(1)
    expect(await purgeExpiredKeys(db, 10)).toBe(1)
    expect(await purgeExpiredKeys(db, 10)).toBe(0)
    const after = await db.select({ key: idempotencyKeys.key }).from(idempotencyKeys).where(mine)
    expect(after.map((r) => r.key).sort()).toEqual(['fresh', 'old-1'])
  })

  test('requests without the header keep nothing', async () => {
    const t = ctx()
    const user = newUser()
    const task = await json(await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: 'plain' } }))
    await t.request(`/api/v1/tasks/${task.id}`, { method: 'PATCH', as: user, json: { title: 'plainer' } })
    const rows = await t.db.db.select().from(idempotencyKeys).where(sql`${idempotencyKeys.userId} = ${user}`)
    expect(rows).toEqual([])
  })

  test('PUT and DELETE are idempotent by nature: the header is neither required nor kept', async () => {
    const t = ctx()
    const user = newUser()
    const task = await json(await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: 'put me' } }))
    const put = await t.request(`/api/v1/tasks/${task.id}`, { method: 'PUT', as: user, json: { priority: 'high' }, headers: keyed('put-key') })
    expect(put.status).toBe(200)
    const del = await t.request(`/api/v1/tasks/${task.id}`, { method: 'DELETE', as: user, headers: keyed('put-key') })
    expect(del.status).toBe(204)
    const rows = await t.db.db.select().from(idempotencyKeys).where(sql`${idempotencyKeys.userId} = ${user}`)
    expect(rows).toEqual([])
  })
})

async function currentDatabase(t: TestApp): Promise<string> {
  const [row] = await t.db.db.select({ name: sql<string>`current_database()` }).from(sql`(select 1) as one`)
  return row!.name
}

describeEachDriver('Idempotency-Key purge schedule', (ctx) => {
  test('expired records are purged on schedule, in batches until none is left', async () => {
    const t = ctx()
    const user = newUser()
    const { db } = t.db
    const rows = Array.from({ length: 1203 }, (_, i) => ({ userId: user, key: `k${i}`, fingerprint: 'f', status: 201, headers: '{}', body: null }))
    for (let i = 0; i < rows.length; i += 500) await db.insert(idempotencyKeys).values(rows.slice(i, i + 500))
    await db.execute(sql`update idempotency_keys set created_at = now() - interval '25 hours' where user_id = ${user} and key <> 'k0'`)
    const purge = schedulePurge(t.db, createLogger('info', (line) => t.logs.push(JSON.parse(line))), 20)
    try {
      const deadline = Date.now() + 10_000
      while (Date.now() < deadline && !t.logs.some((l) => l.message === 'idempotency.purged')) await Bun.sleep(20)
    } finally {
      await purge.stop()
    }
    expect(t.logs).toContainEqual(expect.objectContaining({ message: 'idempotency.purged', records: 1202 }))
    const left = await db.select({ key: idempotencyKeys.key }).from(idempotencyKeys).where(sql`${idempotencyKeys.userId} = ${user}`)
    expect(left).toEqual([{ key: 'k0' }])
  })
})

describe('Idempotency-Key round trips [pglite]', () => {
  let database: TestDatabase
  let t: TestApp
  beforeAll(async () => {
    database = await drivers[0]!.create()
    t = await createTestApp(database)
  }, 60_000)
  afterAll(() => database?.drop())

  test('a request without the header costs no statement and no transaction more than its write; with it, one transaction', async () => {
    const user = newUser()
    const task = await json(await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: 'warm-up' } }))
    // Count what reaches the one PGlite connection: statements outside a transaction, and transactions.
    const client = (database.handle.db as unknown as { $client: PGlite }).$client
    const counts = { statements: 0, transactions: 0 }
    const { query, transaction } = client
    client.query = ((...args: Parameters<PGlite['query']>) => (counts.statements++, query.apply(client, args))) as PGlite['query']
    client.transaction = ((...args: Parameters<PGlite['transaction']>) => (counts.transactions++, transaction.apply(client, args))) as PGlite['transaction']
    try {
      const measure = async (init: Parameters<TestApp['request']>[1], path = '/api/v1/tasks') => {
        counts.statements = counts.transactions = 0
        const res = await t.request(path, { as: user, ...init })
        expect(res.status, await res.clone().text()).toBeLessThan(300)
        return { ...counts }
      }
      // A create reads its list's first key, then inserts: two statements, no transaction.
      expect(await measure({ method: 'POST', json: { title: 'plain' } })).toEqual({ statements: 2, transactions: 0 })
      expect(await measure({ method: 'PATCH', json: { title: 'plainer' } }, `/api/v1/tasks/${task.id}`)).toEqual({ statements: 1, transactions: 0 })
      expect(await measure({ method: 'PATCH', headers: { 'if-match': '"2"' } }, `/api/v1/tasks/${task.id}/toggle`)).toEqual({ statements: 1, transactions: 0 })
      // Keyed: one transaction, the create's statements in it.
      expect(await measure({ method: 'POST', json: { title: 'keyed' }, headers: { 'idempotency-key': crypto.randomUUID() } })).toEqual({ statements: 0, transactions: 1 })
      expect(await measure({ method: 'PATCH', json: { title: 'keyed' }, headers: { 'idempotency-key': crypto.randomUUID() } }, `/api/v1/tasks/${task.id}`)).toEqual({ statements: 0, transactions: 1 })
    } finally {
      Object.assign(client, { query, transaction })
    }
  })
})

// The route option on a feature of its own: a keyed request's writes and kept answer share one
// transaction (which `transaction: true` joins), and an error answer keeps nothing the handler wrote.
describeEachDriver('Idempotency-Key as a route option of the /api base plugin', (ctx) => {
  async function probe() {
    const { db: database } = ctx()
    const config = loadConfig({ JWT_SECRET: SECRET, RATE_LIMIT_PER_IP: '0', RATE_LIMIT_PER_USER: '0' })
    const base = api({ database, verify: await createVerifier(config.jwt), log: createLogger('silent'), limits: createRateLimits(config.rateLimit) })
    const Body = t.Object({ title: t.String(), fail: t.Boolean() })
    const handler = async ({ db, userId, body }: { db: Database; userId: string; body: { title: string; fail: boolean } }) => {
      // Two writes, then perhaps a failure after them.
      const [first] = await db.insert(tasks).values({ id: Bun.randomUUIDv7(), userId, title: body.title }).returning({ id: tasks.id })
      await db.insert(tasks).values({ id: Bun.randomUUIDv7(), userId, title: `${body.title} too` })
      if (body.fail) throw new ApiError('VALIDATION_ERROR', 'failed after writing', { errors: [{ field: 'fail', message: 'was true' }] })
      return { id: first!.id }
    }
    const feature = new Elysia({ prefix: '/api/probe' })
      .use(base)
      .post('/keyed', handler, { idempotent: true, body: Body, parse: 'application/json' })
      .post('/keyed-transaction', handler, { idempotent: true, transaction: true, body: Body, parse: 'application/json' })
    const app = new Elysia().use(errors({ log: createLogger('silent') })).use(rawBody).use(feature)
    return {
      async post(path: string, user: string, key: string, body: { title: string; fail: boolean }) {
        const headers = { authorization: `Bearer ${await signToken({ sub: user })}`, 'content-type': 'application/json', 'idempotency-key': key }
        return app.handle(new Request(`http://localhost/api/probe${path}`, { method: 'POST', headers, body: JSON.stringify(body) }))
      },
      titles: async (user: string) => (await database.db.select({ title: tasks.title }).from(tasks).where(eq(tasks.userId, user))).map((r) => r.title).sort(),
      records: async (user: string) => (await database.db.select({ status: idempotencyKeys.status }).from(idempotencyKeys).where(eq(idempotencyKeys.userId, user))).map((r) => r.status),
    }
  }

  for (const path of ['/keyed', '/keyed-transaction']) {
    test(`${path}: the writes and the kept answer commit together; a retry runs nothing`, async () => {
      const p = await probe()
      const user = newUser()
      const first = await p.post(path, user, 'k', { title: 'one', fail: false })
      expect(first.status, await first.clone().text()).toBe(200)
      const again = await p.post(path, user, 'k', { title: 'one', fail: false })
      expect(again.headers.get('idempotent-replayed')).toBe('true')
      expect(await again.text()).toBe(await first.text())
      expect(await p.titles(user)).toEqual(['one', 'one too'])
      expect(await p.records(user)).toEqual([200])
    })

    test(`${path}: an error answer after writes keeps the answer and none of the writes`, async () => {
      const p = await probe()
      const user = newUser()
      const first = await p.post(path, user, 'k', { title: 'lost', fail: true })
      expect(first.status, await first.clone().text()).toBe(400)
      expect((await json(first)).detail).toBe('failed after writing')
      expect(await p.titles(user)).toEqual([])
      expect(await p.records(user)).toEqual([400])
      const again = await p.post(path, user, 'k', { title: 'lost', fail: true })
      expect(again.status).toBe(400)
      expect(again.headers.get('idempotent-replayed')).toBe('true')
      expect(await p.titles(user)).toEqual([])
    })
  }
})
