// Tasks in lists and their manual order: list_id on create, PATCH and the filters, moves within
// and across lists, clearing completed tasks within a list, re-spacing, concurrent moves.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Task } from '../../src/tasks/model'
import { openDatabase } from '../../src/db/client'
import { migrate } from '../../src/db/migrate'
import { createTestApp, describeEachDriver, json, newUser, type TestApp } from '../support/app'
import { databaseConfig, hasPostgres, scratchPostgres } from '../support/databases'
import { generateKeyBetween } from 'fractional-indexing'
import { createList, createTask, expectOrdered, idsOf, move, tasksIn } from '../support/factories'
import { whileOrderLocked } from '../support/order-lock'
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy'
import { expectFieldError } from '../support/problems'

const MISSING = '01936b2e-7c4f-7a10-9d8e-4a3b2c1d0e5f'
const listMessage = 'must be the id of one of your lists, or null'
const filterMessage = 'must be the id of one of your lists, or none'
const taskMessage = 'must be the id of one of your tasks'

describeEachDriver('tasks in lists', (ctx, driver) => {
  test('a new task goes to the top of its list (the inbox by default)', async () => {
    const t = ctx()
    const user = newUser()
    const list = await createList(t, user)
    const [one, two, three] = [await createTask(t, user, { list_id: list.id }), await createTask(t, user, { list_id: list.id }), await createTask(t, user, { list_id: list.id })]
    expect(one).toMatchObject({ list_id: list.id, position: 'a0' })
    expect(idsOf(await tasksIn(t, user, list.id))).toEqual([three.id, two.id, one.id])
    const inbox = [await createTask(t, user), await createTask(t, user, { list_id: null })]
    expect(inbox.map((task) => task.list_id)).toEqual([null, null])
    expect(idsOf(await tasksIn(t, user, null))).toEqual([inbox[1]!.id, inbox[0]!.id])
  })

  test('list_id on create must be one of the caller\'s lists: malformed, unknown and another user\'s get one answer', async () => {
    const t = ctx()
    const [user, other] = [newUser(), newUser('other')]
    const theirs = await createList(t, other, 'their list')
    const answers = []
    for (const listId of [MISSING, theirs.id, 'not-a-uuid', 42]) {
      const res = await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: 'x', list_id: listId } })
      const body = await expectFieldError(res, 'list_id', listMessage)
      answers.push({ ...body, request_id: '' })
    }
    expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1)
    expect(await json(await t.request('/api/v1/tasks/stats', { as: user }))).toMatchObject({ total: 0 })
    expect(await tasksIn(t, other, theirs.id)).toEqual([])
  })

  test('the list_id filter: a list, none for the inbox; anything else is a 400 naming list_id', async () => {
    const t = ctx()
    const [user, other] = [newUser(), newUser('other')]
    const [a, b] = [await createList(t, user, 'a'), await createList(t, user, 'b')]
    const theirs = await createList(t, other)
    await createTask(t, other, { list_id: theirs.id })
    const inA = await createTask(t, user, { list_id: a.id })
    const inbox = await createTask(t, user)
    expect(await tasksIn(t, user, a.id)).toEqual([inA])
    expect(await tasksIn(t, user, b.id)).toEqual([])
    expect(await tasksIn(t, user, null)).toEqual([inbox])
    for (const listId of [theirs.id, MISSING, 'nope', 'NONE', '']) {
      const res = await t.request(`/api/v1/tasks?list_id=${listId}`, { as: user })
      await expectFieldError(res, 'list_id', filterMessage)
    }
    // The older families serve the same handlers.
    expect(idsOf(await json(await t.request(`/api/tasks?list_id=${a.id}`, { as: user })))).toEqual([inA.id])
    expect(idsOf(await json(await t.request(`/api/${user}/tasks?list_id=none`, { as: user })))).toEqual([inbox.id])
  })

  test('sort=position and -position page through one list by (position, id)', async () => {
    const t = ctx()
    const user = newUser()
    const list = await createList(t, user)
    const created: Task[] = []
    for (let i = 0; i < 7; i++) created.push(await createTask(t, user, { list_id: list.id, title: `t${i}` }))
    await createTask(t, user, { title: 'inbox' })
    const expected = [...created].reverse()
    for (const [sort, order] of [['position', expected], ['-position', [...expected].reverse()]] as const) {
      const seen: string[] = []
      let path: string | null = `/api/v1/tasks?list_id=${list.id}&sort=${sort}&limit=3`
      while (path) {
        const res = await t.request(path, { as: user })
        expect(res.status, await res.clone().text()).toBe(200)
        seen.push(...idsOf(await json(res)))
        const link = res.headers.get('link')
        path = link === null ? null : new URL(/^<([^>]+)>/.exec(link)![1]!, 'http://localhost').toString().replace('http://localhost', '')
      }
      expect(seen).toEqual(idsOf(order))
    }
  })

  test('moves within a list: after, before, to the top; the version bumps, no other task changes', async () => {
    const t = ctx()
    const user = newUser()
    const list = await createList(t, user)
    const [d, c, b, a] = [await createTask(t, user, { list_id: list.id, title: 'd' }), await createTask(t, user, { list_id: list.id, title: 'c' }), await createTask(t, user, { list_id: list.id, title: 'b' }), await createTask(t, user, { list_id: list.id, title: 'a' })]
    expect(idsOf(await tasksIn(t, user, list.id))).toEqual([a.id, b.id, c.id, d.id])
    await Bun.sleep(5)
    const moved = await move(t, user, a.id, { after: c.id })
    expect(moved).toMatchObject({ id: a.id, list_id: list.id, version: 2, title: 'a' })
    expect(Date.parse(moved.updated_at)).toBeGreaterThan(Date.parse(a.updated_at))
    let order = await tasksIn(t, user, list.id)
    expect(idsOf(order)).toEqual([b.id, c.id, a.id, d.id])
    expect(order.filter((x) => x.id !== a.id)).toEqual([b, c, d])
    await move(t, user, d.id, { before: b.id })
    expect(idsOf(await tasksIn(t, user, list.id))).toEqual([d.id, b.id, c.id, a.id])
    await move(t, user, c.id, {})
    expect(idsOf(await tasksIn(t, user, list.id))).toEqual([c.id, d.id, b.id, a.id])
    // No body at all is the top too.
    const res = await t.request(`/api/v1/tasks/${a.id}/move`, { method: 'POST', as: user })
    expect(res.status, await res.clone().text()).toBe(200)
    order = await tasksIn(t, user, list.id)
    expect(idsOf(order)).toEqual([a.id, c.id, d.id, b.id])
    expectOrdered(order)
    expect(order.find((x) => x.id === b.id)).toEqual(b)
  })

  test('moves across lists: list_id alone is the top of that list; with an anchor, next to it; null is the inbox', async () => {
    const t = ctx()
    const user = newUser()
    const [one, two] = [await createList(t, user, 'one'), await createList(t, user, 'two')]
    const x = await createTask(t, user, { list_id: one.id, title: 'x' })
    const [q, p] = [await createTask(t, user, { list_id: two.id, title: 'q' }), await createTask(t, user, { list_id: two.id, title: 'p' })]
    expect(await move(t, user, x.id, { list_id: two.id })).toMatchObject({ list_id: two.id, version: 2 })
    expect(idsOf(await tasksIn(t, user, two.id))).toEqual([x.id, p.id, q.id])
    expect(await tasksIn(t, user, one.id)).toEqual([])
    await move(t, user, x.id, { list_id: null })
    expect(idsOf(await tasksIn(t, user, null))).toEqual([x.id])
    await move(t, user, x.id, { list_id: two.id, after: p.id })
    expect(idsOf(await tasksIn(t, user, two.id))).toEqual([p.id, x.id, q.id])
    await move(t, user, x.id, { list_id: two.id, before: p.id })
    expect(idsOf(await tasksIn(t, user, two.id))).toEqual([x.id, p.id, q.id])
    const inbox = await createTask(t, user)
    const back = await move(t, user, x.id, { list_id: null, after: inbox.id })
    expect(back).toMatchObject({ list_id: null, version: 6 })
    expect(idsOf(await tasksIn(t, user, null))).toEqual([inbox.id, x.id])
  })

  test('move errors: both anchors, itself, an anchor not the caller\'s or in another list, a list not the caller\'s', async () => {
    const t = ctx()
    const [user, other] = [newUser(), newUser('other')]
    const [one, two] = [await createList(t, user, 'one'), await createList(t, user, 'two')]
    const theirs = await createList(t, other)
    const theirTask = await createTask(t, other, { list_id: theirs.id, title: 'their secret' })
    const [x, y] = [await createTask(t, user, { list_id: one.id }), await createTask(t, user, { list_id: one.id })]
    const elsewhere = await createTask(t, user, { list_id: two.id })
    const post = (body: unknown) => t.request(`/api/v1/tasks/${x.id}/move`, { method: 'POST', as: user, json: body })
    await expectFieldError(await post({ after: y.id, before: y.id }), 'before', 'cannot be given together with after')
    await expectFieldError(await post({ before: x.id }), 'before', 'must not be the one being moved')
    for (const anchor of [MISSING, theirTask.id, 'nope']) await expectFieldError(await post({ after: anchor }), 'after', taskMessage)
    await expectFieldError(await post({ after: elsewhere.id }), 'after', 'must be a task in the list the task is moved to')
    await expectFieldError(await post({ list_id: one.id, before: elsewhere.id }), 'before', 'must be a task in the list the task is moved to')
    await expectFieldError(await post({ list_id: null, after: y.id }), 'after', 'must be a task in the list the task is moved to')
    for (const listId of [MISSING, theirs.id, 'nope']) await expectFieldError(await post({ list_id: listId, after: theirTask.id }), 'list_id', listMessage)
    await expectFieldError(await post({ after: y.id, extra: true }), 'extra', 'is not a known field')
    // Nothing changed anywhere.
    expect(idsOf(await tasksIn(t, user, one.id))).toEqual([y.id, x.id])
    expect(await json(await t.request(`/api/v1/tasks/${x.id}`, { as: user }))).toEqual(x)
    expect(await tasksIn(t, other, theirs.id)).toEqual([theirTask])
  })

  test('moving another user\'s task is 403, logged; a missing or malformed one 404 TASK_NOT_FOUND', async () => {
    const t = ctx()
    const [alice, bob] = [newUser('alice'), newUser('bob')]
    const bobs = await createTask(t, bob, { title: 'bob secret' })
    const res = await t.request(`/api/v1/tasks/${bobs.id}/move`, { method: 'POST', as: alice, json: {} })
    const text = await res.text()
    expect(res.status, text).toBe(403)
    expect(JSON.parse(text)).toMatchObject({ error_code: 'FORBIDDEN', detail: 'This task belongs to another user' })
    expect(t.logs).toContainEqual(expect.objectContaining({ message: 'authz.denied', user_id: alice, target: `task:${bobs.id}` }))
    expect(await json(await t.request(`/api/v1/tasks/${bobs.id}`, { as: bob }))).toEqual(bobs)
    for (const id of [MISSING, 'not-a-uuid']) {
      const missing = await t.request(`/api/v1/tasks/${id}/move`, { method: 'POST', as: alice, json: {} })
      expect(missing.status).toBe(404)
      expect(await json(missing)).toMatchObject({ error_code: 'TASK_NOT_FOUND' })
    }
  })

  test('PATCH list_id moves the task to the top of that list; its own list_id sent back changes nothing', async () => {
    const t = ctx()
    const [user, other] = [newUser(), newUser('other')]
    const [one, two] = [await createList(t, user, 'one'), await createList(t, user, 'two')]
    const theirs = await createList(t, other)
    const x = await createTask(t, user, { list_id: one.id, title: 'x' })
    const y = await createTask(t, user, { list_id: one.id, title: 'y' })
    const z = await createTask(t, user, { list_id: two.id, title: 'z' })
    // Sent back as got (with its own list_id): only the title changes, the place stays.
    const res = await t.request(`/api/v1/tasks/${x.id}`, { method: 'PATCH', as: user, json: { ...x, title: 'x2' } })
    expect(await json(res)).toMatchObject({ title: 'x2', list_id: one.id, position: x.position, version: 2 })
    const same = await t.request(`/api/v1/tasks/${x.id}`, { method: 'PUT', as: user, json: { list_id: one.id } })
    expect(await json(same)).toMatchObject({ title: 'x2', version: 2 })
    const moved = await json(await t.request(`/api/v1/tasks/${x.id}`, { method: 'PATCH', as: user, json: { list_id: two.id, priority: 'high' } }))
    expect(moved).toMatchObject({ list_id: two.id, priority: 'high', version: 3 })
    expect(idsOf(await tasksIn(t, user, two.id))).toEqual([x.id, z.id])
    expect(idsOf(await tasksIn(t, user, one.id))).toEqual([y.id])
    await t.request(`/api/tasks/${y.id}`, { method: 'PATCH', as: user, json: { list_id: null } })
    expect(idsOf(await tasksIn(t, user, null))).toEqual([y.id])
    for (const listId of [MISSING, theirs.id, 'nope']) {
      await expectFieldError(await t.request(`/api/v1/tasks/${x.id}`, { method: 'PATCH', as: user, json: { list_id: listId, title: 'no' } }), 'list_id', listMessage)
    }
    expect(await json(await t.request(`/api/v1/tasks/${x.id}`, { as: user }))).toEqual(moved)
  })

  test('clearing completed tasks within a list (none: the inbox) leaves every other list alone', async () => {
    const t = ctx()
    const [user, other] = [newUser(), newUser('other')]
    const [one, two] = [await createList(t, user, 'one'), await createList(t, user, 'two')]
    const theirs = await createList(t, other)
    await createTask(t, user, { list_id: one.id, completed: true })
    await createTask(t, user, { list_id: one.id, completed: true })
    const open = await createTask(t, user, { list_id: one.id })
    const doneInTwo = await createTask(t, user, { list_id: two.id, completed: true })
    const doneInbox = await createTask(t, user, { completed: true })
    const clear = (query: string) => t.request(`/api/v1/tasks?status=completed${query}`, { method: 'DELETE', as: user })
    expect(await json(await clear(`&list_id=${one.id}`))).toEqual({ deleted: 2 })
    expect(await tasksIn(t, user, one.id)).toEqual([open])
    expect(await tasksIn(t, user, two.id)).toEqual([doneInTwo])
    expect(await json(await clear(`&list_id=${one.id}`))).toEqual({ deleted: 0 })
    for (const listId of [theirs.id, MISSING, 'nope']) await expectFieldError(await clear(`&list_id=${listId}`), 'list_id', filterMessage)
    expect(await json(await clear('&list_id=none'))).toEqual({ deleted: 1 })
    expect(await tasksIn(t, user, null)).toEqual([])
    expect(await tasksIn(t, user, two.id)).toEqual([doneInTwo])
    expect(doneInbox.list_id).toBeNull()
  })

  test('repeated moves into one gap keep keys at most 64 characters: the list is re-spaced, order kept, re-keyed versions bumped', async () => {
    const t = ctx()
    const user = newUser()
    const list = await createList(t, user)
    const [last, b, a, first] = [await createTask(t, user, { list_id: list.id }), await createTask(t, user, { list_id: list.id }), await createTask(t, user, { list_id: list.id }), await createTask(t, user, { list_id: list.id })]
    // Alternately move a and b right after `first`: each move halves the gap below `first`.
    let order = [first.id, a.id, b.id, last.id]
    // About 370 halvings fit in 64 base-62 characters: 400 moves re-space the list at least once.
    for (let i = 0; i < 400; i++) {
      const mover = i % 2 === 0 ? b : a
      const moved = await move(t, user, mover.id, { after: first.id })
      expect(moved.position.length).toBeLessThanOrEqual(64)
      order = [first.id, mover.id, ...order.filter((id) => id !== first.id && id !== mover.id)]
      if (i % 50 === 0) {
        const now = await tasksIn(t, user, list.id)
        expect(idsOf(now)).toEqual(order)
        expectOrdered(now)
      }
    }
    const final = await tasksIn(t, user, list.id)
    expect(idsOf(final)).toEqual(order)
    expectOrdered(final)
    // first and last were only ever re-keyed: each re-spacing bumped them by one.
    const firstFinal = final.find((x) => x.id === first.id)!
    expect(firstFinal.version).toBeGreaterThan(1)
    expect(firstFinal.title).toBe(first.title)
  }, 120_000)

  test('creates at once all land above the tasks that were there, in a total order', async () => {
    const t = ctx()
    const user = newUser()
    const list = await createList(t, user)
    const old = [await createTask(t, user, { list_id: list.id }), await createTask(t, user, { list_id: list.id })]
    const made = await Promise.all(Array.from({ length: 8 }, () => createTask(t, user, { list_id: list.id })))
    const order = await tasksIn(t, user, list.id)
    expectOrdered(order)
    expect(new Set(idsOf(order.slice(0, 8)))).toEqual(new Set(idsOf(made)))
    expect(idsOf(order.slice(8))).toEqual([old[1]!.id, old[0]!.id])
  })

  // PGlite has one connection and runs the two one after the other; the servers run them at once.
  test('two moves into one gap at once both succeed and the order stays total', async () => {
    const t = ctx()
    const user = newUser()
    const list = await createList(t, user)
    const tasks: Task[] = []
    for (let i = 0; i < 6; i++) tasks.push(await createTask(t, user, { list_id: list.id }))
    const [a, b, c, d] = (await tasksIn(t, user, list.id)).map((x) => x.id)
    for (let round = 0; round < 5; round++) {
      const results = await Promise.all([c, d].map((id) => t.request(`/api/v1/tasks/${id}/move`, { method: 'POST', as: user, json: { after: a } })))
      for (const res of results) expect(res.status, await res.clone().text()).toBe(200)
      const order = await tasksIn(t, user, list.id)
      expectOrdered(order)
      expect(idsOf(order).slice(0, 1)).toEqual([a!])
      expect(new Set(idsOf(order).slice(1, 3))).toEqual(new Set([c!, d!]))
      expect(idsOf(order)[3]).toBe(b!)
      expect(new Set(order.map((x) => x.position)).size).toBe(order.length)
    }
  })

  if (driver.name !== 'pglite') {
    // PGlite has one connection: nothing else can hold the lock while a move waits for it.
    test('a move that waited for the ordering lock reads the gap as the move before it left it', async () => {
      const t = ctx()
      const user = newUser()
      const list = await createList(t, user)
      for (let i = 0; i < 4; i++) await createTask(t, user, { list_id: list.id })
      const [a, b, c, d] = await tasksIn(t, user, list.id)
      // Another instance moves c right after a (the key a move would give it) while d's move after a waits.
      const cKey = generateKeyBetween(a!.position, b!.position)
      const res = await whileOrderLocked(
        t,
        user,
        () => t.request(`/api/v1/tasks/${d!.id}/move`, { method: 'POST', as: user, json: { after: a!.id } }),
        (tx) => tx`update tasks set position = ${cKey}, version = version + 1 where id = ${c!.id}`,
      )
      expect(res.status, await res.clone().text()).toBe(200)
      const moved = await json<Task>(res)
      // Between a and c: had its read's snapshot predated the lock, d would have c's key (a to b's midpoint).
      expect(moved.position > a!.position && moved.position < cKey, moved.position).toBe(true)
      const order = await tasksIn(t, user, list.id)
      expect(idsOf(order)).toEqual([a!.id, d!.id, c!.id, b!.id])
      expectOrdered(order)
    })
  }
})

describe.if(hasPostgres)('round trips of a move [postgres]', () => {
  let scratch: Awaited<ReturnType<typeof scratchPostgres>>
  let relay: TcpProxy
  let t: TestApp
  beforeAll(async () => {
    scratch = await scratchPostgres()
    const direct = new URL(scratch.url)
    relay = startTcpProxy({ host: direct.hostname, port: Number(direct.port || 5432) })
    direct.port = String(relay.port)
    // One connection, so that every statement of a request goes over the relay's one socket.
    const handle = await openDatabase(databaseConfig({ DATABASE_URL: direct.href, DB_POOL_MAX: '1' }))
    await migrate(handle.db)
    t = await createTestApp({ handle, drop: () => handle.close() })
  })
  afterAll(async () => {
    await t?.sync.close()
    await t?.db.close()
    relay?.stop()
    await scratch?.drop()
  })

  test('four: BEGIN, the ordering lock and the read in one flight, the update, COMMIT', async () => {
    const user = newUser()
    const [one, two] = [await createList(t, user, 'one'), await createList(t, user, 'two')]
    const tasks: Task[] = []
    for (let i = 0; i < 4; i++) tasks.push(await createTask(t, user, { list_id: one.id }))
    const [a, b, c] = tasks.map((x) => x.id)
    const moves: [string, Record<string, unknown>, 'tasks' | 'lists'][] = [
      [a!, {}, 'tasks'],
      [a!, { after: b }, 'tasks'],
      [b!, { before: c }, 'tasks'],
      [c!, { list_id: two.id }, 'tasks'],
      [c!, { list_id: null }, 'tasks'],
      [one.id, { after: two.id }, 'lists'],
      [one.id, {}, 'lists'],
    ]
    for (const [id, body, kind] of moves) {
      // The first run of each statement on a connection also prepares it (a round trip of its own).
      await move(t, user, id, body, kind)
      const before = relay.flights
      await move(t, user, id, body, kind)
      expect({ kind, body, flights: relay.flights - before }).toEqual({ kind, body, flights: 4 })
    }
  })
})
