// Lists: create (at the end), read, rename, move, delete with their tasks; validation and errors.
import { expect, test } from 'bun:test'
import { describeEachDriver, json, newUser } from '../support/app'
import { generateKeyBetween } from 'fractional-indexing'
import type { List } from '../../src/lists/model'
import { createList, createTask, expectOrdered, idsOf, listsOf, move, tasksIn } from '../support/factories'
import { whileOrderLocked } from '../support/order-lock'
import { expectFieldError } from '../support/problems'

const listKeys = ['created_at', 'id', 'name', 'position', 'updated_at', 'version']
const MISSING = '01936b2e-7c4f-7a10-9d8e-4a3b2c1d0e5f'
const nameMessage = 'must be 1 to 100 characters after trimming, with no NUL characters'
const anchorMessage = 'must be the id of one of your lists'

describeEachDriver('lists', (ctx, driver) => {
  test('POST creates a list at the end: 201, Location, the contract\'s shape, the name trimmed', async () => {
    const t = ctx()
    const user = newUser()
    const res = await t.request('/api/v1/lists', { method: 'POST', as: user, json: { name: '  Groceries ' } })
    expect(res.status, await res.clone().text()).toBe(201)
    const first = await json(res)
    expect(Object.keys(first).sort()).toEqual(listKeys)
    expect(first).toMatchObject({ name: 'Groceries', position: 'a0', version: 1 })
    expect(first.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(first.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)
    expect(first.updated_at).toBe(first.created_at)
    expect(res.headers.get('location')).toBe(`/api/v1/lists/${first.id}`)
    const second = await createList(t, user, 'Work')
    const third = await createList(t, user, 'Home')
    expect([first.position, second.position, third.position]).toEqual(['a0', 'a1', 'a2'])
    expect(await listsOf(t, user)).toEqual([first, second, third])
    expect(await json(await t.request(`/api/v1/lists/${second.id}`, { as: user }))).toEqual(second)
  })

  test('names: 1 to 100 code points after trimming, no NUL; unknown fields refused; read-only fields ignored', async () => {
    const t = ctx()
    const user = newUser()
    for (const name of ['', '   ', 'x'.repeat(101), 'a\u0000b', 7, null]) {
      const res = await t.request('/api/v1/lists', { method: 'POST', as: user, json: { name } })
      await expectFieldError(res, 'name', nameMessage)
    }
    await expectFieldError(await t.request('/api/v1/lists', { method: 'POST', as: user, json: {} }), 'name', 'is required')
    await expectFieldError(await t.request('/api/v1/lists', { method: 'POST', as: user, json: { name: 'x', color: 'red' } }), 'color', 'is not a known field')
    const emoji = await createList(t, user, '😀'.repeat(100))
    expect(emoji.name).toBe('😀'.repeat(100))
    const res = await t.request('/api/v1/lists', { method: 'POST', as: user, json: { ...emoji, name: 'copy' } })
    expect(res.status).toBe(201)
    const copy = await json(res)
    expect(copy.id).not.toBe(emoji.id)
    expect(copy).toMatchObject({ name: 'copy', version: 1, position: 'a1' })
    expect(await listsOf(t, user)).toHaveLength(2)
  })

  test('PATCH renames: version + 1, updated_at moves on; an empty patch changes nothing; the list sent back as got is fine', async () => {
    const t = ctx()
    const user = newUser()
    const list = await createList(t, user, 'Old')
    await Bun.sleep(5)
    const res = await t.request(`/api/v1/lists/${list.id}`, { method: 'PATCH', as: user, json: { name: ' New ' } })
    expect(res.status, await res.clone().text()).toBe(200)
    const renamed = await json(res)
    expect(renamed).toMatchObject({ id: list.id, name: 'New', position: list.position, version: 2, created_at: list.created_at })
    expect(Date.parse(renamed.updated_at)).toBeGreaterThan(Date.parse(list.updated_at))
    const same = await t.request(`/api/v1/lists/${list.id}`, { method: 'PATCH', as: user, json: {} })
    expect(await json(same)).toEqual(renamed)
    const back = await t.request(`/api/v1/lists/${list.id}`, { method: 'PATCH', as: user, json: { ...renamed, name: 'Again' } })
    expect(await json(back)).toMatchObject({ name: 'Again', version: 3 })
    await expectFieldError(await t.request(`/api/v1/lists/${list.id}`, { method: 'PATCH', as: user, json: { name: '' } }), 'name', nameMessage)
  })

  test('a missing or malformed list id is 404 LIST_NOT_FOUND on every list route', async () => {
    const t = ctx()
    const user = newUser()
    for (const id of [MISSING, 'not-a-uuid', '123']) {
      for (const [method, suffix, body] of [
        ['GET', '', undefined],
        ['PATCH', '', { name: 'x' }],
        ['POST', '/move', {}],
        ['DELETE', '', undefined],
      ] as const) {
        const res = await t.request(`/api/v1/lists/${id}${suffix}`, { method, as: user, json: body })
        expect(res.status, `${method} ${id}${suffix}: ${await res.clone().text()}`).toBe(404)
        expect(await json(res)).toMatchObject({ error_code: 'LIST_NOT_FOUND', status: 404, detail: 'List not found' })
      }
    }
  })

  test('moves: after, before, first; the version bumps and no other list changes', async () => {
    const t = ctx()
    const user = newUser()
    const [a, b, c, d] = [await createList(t, user, 'a'), await createList(t, user, 'b'), await createList(t, user, 'c'), await createList(t, user, 'd')]
    const movedD = await move(t, user, d.id, { after: a.id }, 'lists')
    expect(movedD).toMatchObject({ id: d.id, name: 'd', version: 2 })
    expect(idsOf(await listsOf(t, user))).toEqual([a.id, d.id, b.id, c.id])
    await move(t, user, a.id, { before: c.id }, 'lists')
    expect(idsOf(await listsOf(t, user))).toEqual([d.id, b.id, a.id, c.id])
    const top = await move(t, user, c.id, undefined, 'lists')
    expect(top.version).toBe(2)
    const all = await listsOf(t, user)
    expect(idsOf(all)).toEqual([c.id, d.id, b.id, a.id])
    expectOrdered(all)
    // b was never moved: untouched.
    expect(all.find((l) => l.id === b.id)).toEqual(b)
  })

  test('move errors: both anchors, itself, and an anchor that is not one of the caller\'s lists', async () => {
    const t = ctx()
    const [user, other] = [newUser(), newUser('other')]
    const [a, b] = [await createList(t, user, 'a'), await createList(t, user, 'b')]
    const foreign = await createList(t, other, 'secret')
    const post = (body: unknown) => t.request(`/api/v1/lists/${a.id}/move`, { method: 'POST', as: user, json: body })
    await expectFieldError(await post({ after: b.id, before: b.id }), 'before', 'cannot be given together with after')
    await expectFieldError(await post({ after: a.id }), 'after', 'must not be the one being moved')
    const unknown = await expectFieldError(await post({ after: MISSING }), 'after', anchorMessage)
    const theirs = await expectFieldError(await post({ before: foreign.id }), 'before', anchorMessage)
    await expectFieldError(await post({ after: foreign.id }), 'after', anchorMessage)
    await expectFieldError(await post({ after: 'nope' }), 'after', anchorMessage)
    await expectFieldError(await post({ after: b.id, extra: 1 }), 'extra', 'is not a known field')
    // Nothing tells another user's list from one that does not exist.
    expect({ ...unknown, request_id: '' }).toEqual({ ...theirs, request_id: '', errors: [{ field: 'after', message: anchorMessage }] })
    expect(await listsOf(t, user)).toEqual([a, b])
    expect(await listsOf(t, other)).toEqual([foreign])
  })

  test('DELETE removes the list and every task in it, and nothing else', async () => {
    const t = ctx()
    const user = newUser()
    const [doomed, kept] = [await createList(t, user, 'doomed'), await createList(t, user, 'kept')]
    const inDoomed = [await createTask(t, user, { list_id: doomed.id }), await createTask(t, user, { list_id: doomed.id, completed: true })]
    const inKept = await createTask(t, user, { list_id: kept.id })
    const inbox = await createTask(t, user)
    const res = await t.request(`/api/v1/lists/${doomed.id}`, { method: 'DELETE', as: user })
    expect(res.status, await res.clone().text()).toBe(204)
    expect(await res.text()).toBe('')
    for (const task of inDoomed) expect((await t.request(`/api/v1/tasks/${task.id}`, { as: user })).status).toBe(404)
    expect(await tasksIn(t, user, kept.id)).toEqual([inKept])
    expect(await tasksIn(t, user, null)).toEqual([inbox])
    expect(await listsOf(t, user)).toEqual([kept])
    expect((await t.request(`/api/v1/lists/${doomed.id}`, { as: user })).status).toBe(404)
    expect((await t.request(`/api/v1/lists/${doomed.id}`, { method: 'DELETE', as: user })).status).toBe(404)
    expect(await json(await t.request('/api/v1/tasks/stats', { as: user }))).toMatchObject({ total: 2 })
  })

  test('another user\'s list is 403 FORBIDDEN on its own path, logged as authz.denied, and stays unchanged with its tasks', async () => {
    const t = ctx()
    const [alice, bob] = [newUser('alice'), newUser('bob')]
    const bobs = await createList(t, bob, 'bob secret list')
    const bobsTask = await createTask(t, bob, { list_id: bobs.id, title: 'bob secret task' })
    for (const [method, suffix, body] of [
      ['GET', '', undefined],
      ['PATCH', '', { name: 'stolen' }],
      ['POST', '/move', {}],
      ['DELETE', '', undefined],
    ] as const) {
      const res = await t.request(`/api/v1/lists/${bobs.id}${suffix}`, { method, as: alice, json: body })
      const text = await res.text()
      expect(res.status, `${method} ${suffix}: ${text}`).toBe(403)
      expect(JSON.parse(text)).toMatchObject({ error_code: 'FORBIDDEN', detail: 'This list belongs to another user' })
      expect(text).not.toContain('secret')
    }
    expect(t.logs.filter((l) => l.message === 'authz.denied' && l.user_id === alice && l.target === `list:${bobs.id}`)).toHaveLength(4)
    expect(JSON.stringify(t.logs)).not.toContain('secret')
    expect(await listsOf(t, bob)).toEqual([bobs])
    expect(await tasksIn(t, bob, bobs.id)).toEqual([bobsTask])
  })

  test('lists and list moves exist only under /api/v1', async () => {
    const t = ctx()
    const user = newUser()
    const list = await createList(t, user)
    const task = await createTask(t, user)
    for (const path of ['/api/lists', `/api/lists/${list.id}`, `/api/${user}/lists`, `/api/tasks/${task.id}/move`, `/api/${user}/tasks/${task.id}/move`]) {
      const res = await t.request(path, { method: path.endsWith('move') ? 'POST' : 'GET', as: user })
      expect(res.status, path).toBe(404)
      expect(await json(res)).toMatchObject({ error_code: 'NOT_FOUND' })
    }
    // A known path with the wrong method says which ones it takes.
    for (const [path, allow] of [[`/api/v1/lists/${list.id}/move`, 'OPTIONS, POST'], [`/api/v1/tasks/${task.id}/move`, 'OPTIONS, POST'], ['/api/v1/lists', 'GET, HEAD, OPTIONS, POST']] as const) {
      const res = await t.request(path, { method: 'PUT', as: user, json: {} })
      expect(res.status, path).toBe(405)
      expect(res.headers.get('allow')).toBe(allow)
    }
  })

  if (driver.name !== 'pglite') {
    // PGlite has one connection: nothing else can hold the lock while a move waits for it.
    test('a move that waited for the ordering lock reads the gap as the move before it left it', async () => {
      const t = ctx()
      const user = newUser()
      for (const name of ['a', 'b', 'c', 'd']) await createList(t, user, name)
      const [a, b, c, d] = await listsOf(t, user)
      // Another instance moves c right after a (the key a move would give it) while d's move after a waits.
      const cKey = generateKeyBetween(a!.position, b!.position)
      const res = await whileOrderLocked(
        t,
        user,
        () => t.request(`/api/v1/lists/${d!.id}/move`, { method: 'POST', as: user, json: { after: a!.id } }),
        (tx) => tx`update lists set position = ${cKey}, version = version + 1 where id = ${c!.id}`,
      )
      expect(res.status, await res.clone().text()).toBe(200)
      const moved = await json<List>(res)
      // Between a and c: had its read's snapshot predated the lock, d would have c's key (a to b's midpoint).
      expect(moved.position > a!.position && moved.position < cKey, moved.position).toBe(true)
      const order = await listsOf(t, user)
      expect(idsOf(order)).toEqual([a!.id, d!.id, c!.id, b!.id])
      expectOrdered(order)
    })
  }
})
