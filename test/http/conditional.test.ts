// Conditional requests: ETags on every task and collection response, If-None-Match → 304, and
// If-Match on every write (412 and nothing changes; of two writers with one tag exactly one wins).
import { expect, test } from 'bun:test'
import { describeEachDriver, json, type TestApp } from '../support/app'
import { createList, createTask, newUser } from '../support/factories'
import { families } from '../support/endpoints'
import { expectProblem } from '../support/problems'

async function expectNotModified(res: Response, etag: string) {
  expect(res.status, await res.clone().text()).toBe(304)
  expect(await res.text()).toBe('')
  expect(res.headers.get('etag')).toBe(etag)
  expect(res.headers.get('x-request-id')).toMatch(/./)
  expect(res.headers.get('content-type')).toBeNull()
}

// Every write that takes If-Match, with a body that changes the task.
const writes = [
  { name: 'PATCH', method: 'PATCH', path: (id: string) => `/tasks/${id}`, body: { title: 'changed' } },
  { name: 'PUT', method: 'PUT', path: (id: string) => `/tasks/${id}`, body: { priority: 'high' } },
  { name: 'toggle', method: 'PATCH', path: (id: string) => `/tasks/${id}/toggle`, body: undefined },
  { name: 'DELETE', method: 'DELETE', path: (id: string) => `/tasks/${id}`, body: undefined },
] as const

describeEachDriver('conditional requests', (ctx) => {
  for (const family of families) {
    const base = (user: string) => family.base(user)

    test(`${family.name}: a task's ETag is "<version>", stable, and changes with it`, async () => {
      const t = ctx()
      const user = newUser()
      const created = await t.request(`${base(user)}/tasks`, { method: 'POST', as: user, json: { title: 'tagged' } })
      expect(created.status).toBe(201)
      expect(created.headers.get('etag')).toBe('"1"')
      const task = await json(created)
      for (let i = 0; i < 2; i++) {
        const res = await t.request(`${base(user)}/tasks/${task.id}`, { as: user })
        expect(res.headers.get('etag')).toBe('"1"')
        expect(await json(res)).toEqual(task)
      }
      const patched = await t.request(`${base(user)}/tasks/${task.id}`, { method: 'PATCH', as: user, json: { title: 'retagged' } })
      expect(patched.headers.get('etag')).toBe('"2"')
      const put = await t.request(`${base(user)}/tasks/${task.id}`, { method: 'PUT', as: user, json: { priority: 'low' } })
      expect(put.headers.get('etag')).toBe('"3"')
      const toggled = await t.request(`${base(user)}/tasks/${task.id}/toggle`, { method: 'PATCH', as: user })
      expect(toggled.headers.get('etag')).toBe('"4"')
      expect((await json(toggled)).version).toBe(4)
      // An empty patch changes nothing: same version, same tag.
      const unchanged = await t.request(`${base(user)}/tasks/${task.id}`, { method: 'PATCH', as: user, json: {} })
      expect(unchanged.headers.get('etag')).toBe('"4"')
      const deleted = await t.request(`${base(user)}/tasks/${task.id}`, { method: 'DELETE', as: user })
      expect(deleted.status).toBe(204)
      expect(deleted.headers.get('etag')).toBeNull()
    })

    test(`${family.name}: If-None-Match on a task: 304 with its ETag when it matches (weak comparison, lists, *), else 200`, async () => {
      const t = ctx()
      const user = newUser()
      const task = await createTask(t, user)
      const get = (ifNoneMatch: string) => t.request(`${base(user)}/tasks/${task.id}`, { as: user, headers: { 'if-none-match': ifNoneMatch } })
      for (const header of ['"1"', 'W/"1"', '"7", "1"', '"7",W/"1"', '*']) await expectNotModified(await get(header), '"1"')
      for (const header of ['"2"', '"7", "8"', '1', '']) {
        const res = await get(header)
        expect(res.status, header).toBe(200)
        expect(await json(res)).toEqual(task)
      }
      await t.request(`${base(user)}/tasks/${task.id}`, { method: 'PATCH', as: user, json: { title: 'changed' } })
      const changed = await get('"1"')
      expect(changed.status).toBe(200)
      expect(changed.headers.get('etag')).toBe('"2"')
      // Still 404 / 403 first: a condition never hides a missing or foreign task.
      await expectProblem(await t.request(`${base(user)}/tasks/${crypto.randomUUID()}`, { as: user, headers: { 'if-none-match': '*' } }), 404, 'TASK_NOT_FOUND')
      const other = newUser('other')
      const theirs = await createTask(t, other)
      await expectProblem(await t.request(`${base(user)}/tasks/${theirs.id}`, { as: user, headers: { 'if-none-match': '"1"' } }), 403, 'FORBIDDEN')
    })

    test(`${family.name}: collections (a page of tasks, stats) carry a weak ETag of their body, and 304 while it holds`, async () => {
      const t = ctx()
      const user = newUser()
      const task = await createTask(t, user)
      for (const path of ['/tasks', '/tasks?status=pending&limit=10', '/tasks/stats']) {
        const first = await t.request(base(user) + path, { as: user })
        expect(first.status).toBe(200)
        const tag = first.headers.get('etag')!
        expect(tag, path).toMatch(/^W\/"[^"]+"$/)
        const body = await first.text()
        const again = await t.request(base(user) + path, { as: user })
        expect(again.headers.get('etag'), path).toBe(tag)
        expect(await again.text()).toBe(body)
        await expectNotModified(await t.request(base(user) + path, { as: user, headers: { 'if-none-match': tag } }), tag)
        // The strong form of the same tag matches too (weak comparison).
        await expectNotModified(await t.request(base(user) + path, { as: user, headers: { 'if-none-match': tag.slice(2) } }), tag)
      }
      const before = (await t.request(`${base(user)}/tasks`, { as: user })).headers.get('etag')!
      const statsBefore = (await t.request(`${base(user)}/tasks/stats`, { as: user })).headers.get('etag')!
      await t.request(`${base(user)}/tasks/${task.id}/toggle`, { method: 'PATCH', as: user })
      for (const [path, old] of [['/tasks', before], ['/tasks/stats', statsBefore]] as const) {
        const res = await t.request(base(user) + path, { as: user, headers: { 'if-none-match': old } })
        expect(res.status, path).toBe(200)
        expect(res.headers.get('etag')).not.toBe(old)
      }
      // Another user's identical-looking collection is their own body: an empty list is an empty list.
      const empty = newUser('empty')
      const mine = await t.request(`${base(empty)}/tasks`, { as: empty })
      expect(await mine.text()).toBe('[]')
      expect(mine.headers.get('etag')).toMatch(/^W\//)
    })

    for (const write of writes) {
      test(`${family.name} ${write.name}: a stale If-Match is 412 with the current ETag, and nothing changes`, async () => {
        const t = ctx()
        const user = newUser()
        const task = await createTask(t, user)
        await t.request(`/api/v1/tasks/${task.id}`, { method: 'PATCH', as: user, json: { description: 'second version' } })
        const current = await json(await t.request(`/api/v1/tasks/${task.id}`, { as: user }))
        for (const ifMatch of ['"1"', 'W/"2"', '"3", "4"', 'garbage', '"99999999999"']) {
          const res = await t.request(base(user) + write.path(task.id), { method: write.method, as: user, json: write.body, headers: { 'if-match': ifMatch } })
          const body = await expectProblem(res, 412, 'PRECONDITION_FAILED')
          expect(body.title).toBe('Precondition Failed')
          expect(res.headers.get('etag'), ifMatch).toBe('"2"')
          expect(await json(await t.request(`/api/v1/tasks/${task.id}`, { as: user }))).toEqual(current)
        }
      })

      test(`${family.name} ${write.name}: the current tag, a list holding it, or * lets the write through`, async () => {
        const t = ctx()
        const user = newUser()
        for (const ifMatch of ['"1"', '"7", "1"', '*']) {
          const task = await createTask(t, user)
          const res = await t.request(base(user) + write.path(task.id), { method: write.method, as: user, json: write.body, headers: { 'if-match': ifMatch } })
          expect(res.status, await res.clone().text()).toBe(write.method === 'DELETE' ? 204 : 200)
          if (write.method !== 'DELETE') expect(res.headers.get('etag')).toBe('"2"')
        }
      })

      test(`${family.name} ${write.name}: a missing task is still 404 and another user's still 403 under If-Match`, async () => {
        const t = ctx()
        const [user, other] = [newUser(), newUser('other')]
        const theirs = await createTask(t, other)
        for (const ifMatch of ['"1"', '"2"', '*']) {
          const headers = { 'if-match': ifMatch }
          await expectProblem(await t.request(base(user) + write.path(crypto.randomUUID()), { method: write.method, as: user, json: write.body, headers }), 404, 'TASK_NOT_FOUND')
          await expectProblem(await t.request(base(user) + write.path(theirs.id), { method: write.method, as: user, json: write.body, headers }), 403, 'FORBIDDEN')
        }
        expect(await json(await t.request(`/api/v1/tasks/${theirs.id}`, { as: other }))).toEqual(theirs)
      })

      test(`${family.name} ${write.name}: of concurrent writers sending the same If-Match, exactly one wins`, async () => {
        const t = ctx()
        const user = newUser()
        const task = await createTask(t, user)
        const writers = 6
        const responses = await Promise.all(
          Array.from({ length: writers }, () =>
            t.request(base(user) + write.path(task.id), { method: write.method, as: user, json: write.body, headers: { 'if-match': '"1"' } }),
          ),
        )
        const statuses = responses.map((r) => r.status).sort()
        const ok = write.method === 'DELETE' ? 204 : 200
        expect(statuses).toEqual([ok, ...Array(writers - 1).fill(write.method === 'DELETE' ? 404 : 412)].sort())
        const after = await t.request(`/api/v1/tasks/${task.id}`, { as: user })
        if (write.method === 'DELETE') expect(after.status).toBe(404)
        else expect((await json(after)).version).toBe(2)
      })
    }
  }
})

// Lists and moves exist only under /api/v1: the same rules on every write of a list, and on a
// task's move.
const resourceWrites = [
  { name: 'rename a list', kind: 'list', method: 'PATCH', path: (id: string) => `/lists/${id}`, body: { name: 'renamed' } },
  { name: 'move a list', kind: 'list', method: 'POST', path: (id: string) => `/lists/${id}/move`, body: {} },
  { name: 'delete a list', kind: 'list', method: 'DELETE', path: (id: string) => `/lists/${id}`, body: undefined },
  { name: 'move a task', kind: 'task', method: 'POST', path: (id: string) => `/tasks/${id}/move`, body: {} },
] as const

describeEachDriver('conditional requests on lists and moves', (ctx) => {
  const make = (t: TestApp, user: string, kind: 'list' | 'task') => (kind === 'list' ? createList(t, user) : createTask(t, user))
  const read = (t: TestApp, user: string, kind: 'list' | 'task', id: string) => t.request(`/api/v1/${kind}s/${id}`, { as: user })

  test('a list\'s ETag is "<version>"; the lists carry a weak one; both answer If-None-Match with 304', async () => {
    const t = ctx()
    const user = newUser()
    const list = await createList(t, user)
    const one = await read(t, user, 'list', list.id)
    expect(one.headers.get('etag')).toBe('"1"')
    await expectNotModified(await t.request(`/api/v1/lists/${list.id}`, { as: user, headers: { 'if-none-match': 'W/"1"' } }), '"1"')
    const all = await t.request('/api/v1/lists', { as: user })
    const tag = all.headers.get('etag')!
    expect(tag).toMatch(/^W\/"[^"]+"$/)
    await expectNotModified(await t.request('/api/v1/lists', { as: user, headers: { 'if-none-match': tag } }), tag)
    await t.request(`/api/v1/lists/${list.id}`, { method: 'PATCH', as: user, json: { name: 'renamed' } })
    const changed = await t.request('/api/v1/lists', { as: user, headers: { 'if-none-match': tag } })
    expect(changed.status).toBe(200)
    expect((await t.request(`/api/v1/lists/${list.id}`, { as: user })).headers.get('etag')).toBe('"2"')
  })

  for (const write of resourceWrites) {
    test(`${write.name}: a stale If-Match is 412 with the current ETag and nothing changes; the current one or * goes through`, async () => {
      const t = ctx()
      const user = newUser()
      const target = await make(t, user, write.kind)
      // Something to re-space or cascade: a neighbour, and for a list a task in it.
      await make(t, user, write.kind)
      const inside = write.kind === 'list' ? await createTask(t, user, { list_id: target.id }) : null
      await t.request(`/api/v1/${write.kind}s/${target.id}`, { method: 'PATCH', as: user, json: write.kind === 'list' ? { name: 'v2' } : { title: 'v2' } })
      const current = await json(await read(t, user, write.kind, target.id))
      const neighbours = await json(await t.request(write.kind === 'list' ? '/api/v1/lists' : '/api/v1/tasks?limit=1000', { as: user }))
      for (const ifMatch of ['"1"', 'W/"2"', 'garbage']) {
        const res = await t.request(`/api/v1${write.path(target.id)}`, { method: write.method, as: user, json: write.body, headers: { 'if-match': ifMatch } })
        await expectProblem(res, 412, 'PRECONDITION_FAILED')
        expect(res.headers.get('etag'), ifMatch).toBe('"2"')
        expect(await json(await read(t, user, write.kind, target.id))).toEqual(current)
        expect(await json(await t.request(write.kind === 'list' ? '/api/v1/lists' : '/api/v1/tasks?limit=1000', { as: user }))).toEqual(neighbours)
        if (inside) expect((await t.request(`/api/v1/tasks/${inside.id}`, { as: user })).status).toBe(200)
      }
      const ok = await t.request(`/api/v1${write.path(target.id)}`, { method: write.method, as: user, json: write.body, headers: { 'if-match': '"7", "2"' } })
      expect(ok.status, await ok.clone().text()).toBe(write.method === 'DELETE' ? 204 : 200)
      if (write.method !== 'DELETE') expect(ok.headers.get('etag')).toBe('"3"')
      if (inside && write.method === 'DELETE') expect((await t.request(`/api/v1/tasks/${inside.id}`, { as: user })).status).toBe(404)
      const other = await make(t, user, write.kind)
      const any = await t.request(`/api/v1${write.path(other.id)}`, { method: write.method, as: user, json: write.body, headers: { 'if-match': '*' } })
      expect(any.status, await any.clone().text()).toBe(write.method === 'DELETE' ? 204 : 200)
    })

    test(`${write.name}: a missing one is still 404 and another user's 403 under If-Match`, async () => {
      const t = ctx()
      const [user, stranger] = [newUser(), newUser('other')]
      const theirs = await make(t, stranger, write.kind)
      const code = write.kind === 'list' ? 'LIST_NOT_FOUND' : 'TASK_NOT_FOUND'
      await expectProblem(await t.request(`/api/v1${write.path(crypto.randomUUID())}`, { method: write.method, as: user, json: write.body, headers: { 'if-match': '"1"' } }), 404, code)
      await expectProblem(await t.request(`/api/v1${write.path(theirs.id)}`, { method: write.method, as: user, json: write.body, headers: { 'if-match': '"1"' } }), 403, 'FORBIDDEN')
    })

    test(`${write.name}: of concurrent writers sending the same If-Match, exactly one wins`, async () => {
      const t = ctx()
      const user = newUser()
      const target = await make(t, user, write.kind)
      const responses = await Promise.all(
        Array.from({ length: 4 }, () => t.request(`/api/v1${write.path(target.id)}`, { method: write.method, as: user, json: write.body, headers: { 'if-match': '"1"' } })),
      )
      const ok = write.method === 'DELETE' ? 204 : 200
      const lost = write.method === 'DELETE' ? 404 : 412
      expect(responses.map((r) => r.status).sort()).toEqual([ok, lost, lost, lost].sort())
    })
  }
})
