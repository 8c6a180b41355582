// The shared auth and isolation suite: every endpoint, under every path family that serves it, for
// two users.
import { expect, test } from 'bun:test'
import { describeEachDriver, json, newUser, type TestApp } from '../support/app'
import { endpoints, endpointsOf, families, type Endpoint } from '../support/endpoints'
import { createList, createTask } from '../support/factories'
import { problemKeys } from '../support/problems'

/** An object of the kind the endpoint targets (a task when it targets none), and how to read it back. */
async function targetOf(t: TestApp, user: string, endpoint: Endpoint, secret = '') {
  if (endpoint.target === 'list') {
    const list = await createList(t, user, `list of ${user}${secret}`)
    // A task in it, so a change to the list's tasks would show too.
    const task = await createTask(t, user, { list_id: list.id, description: secret || null })
    const read = async () => [await json(await t.request(`/api/v1/lists/${list.id}`, { as: user })), await json(await t.request(`/api/v1/tasks/${task.id}`, { as: user }))]
    return { object: list, read, target: `list:${list.id}` }
  }
  const task = await createTask(t, user, secret ? { description: secret, priority: 'low' } : {})
  const read = async () => [await json(await t.request(`/api/v1/tasks/${task.id}`, { as: user }))]
  return { object: task, read, target: `task:${task.id}` }
}

describeEachDriver('isolation', (ctx) => {
  for (const family of families) {
    for (const endpoint of endpointsOf(family)) {
      test(`${family.name} ${endpoint.name}: the owner succeeds`, async () => {
        const t = ctx()
        const alice = newUser('alice')
        const { object } = await targetOf(t, alice, endpoint)
        const res = await t.request(family.base(alice) + endpoint.path(object.id), { method: endpoint.method, as: alice, json: endpoint.body })
        // A stream's body never ends by itself: read only when it is not the expected answer.
        if (endpoint.stream && res.status === endpoint.ok) return void (await res.body?.cancel())
        expect(res.status, await res.clone().text()).toBe(endpoint.ok)
      })

      test(`${family.name} ${endpoint.name}: no token is 401`, async () => {
        const t = ctx()
        const alice = newUser('alice')
        const { object, read } = await targetOf(t, alice, endpoint)
        const before = await read()
        const res = await t.request(family.base(alice) + endpoint.path(object.id), { method: endpoint.method, json: endpoint.body })
        expect(res.status).toBe(401)
        expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
        expect(res.headers.get('content-type')).toBe('application/problem+json')
        const body = await json(res)
        expect(body).toMatchObject({ status: 401, status_code: 401, error_code: 'UNAUTHORIZED', title: 'Unauthorized' })
        expect(Object.keys(body).sort()).toEqual(problemKeys)
        // the object is untouched
        expect(await read()).toEqual(before)
      })

      if (endpoint.target) {
        test(`${family.name} ${endpoint.name}: another user's ${endpoint.target} is 403 and stays unchanged`, async () => {
          const t = ctx()
          const [alice, bob] = [newUser('alice'), newUser('bob')]
          const bobs = await targetOf(t, bob, endpoint, 'secret of bob')
          const before = await bobs.read()
          const res = await t.request(family.base(alice) + endpoint.path(bobs.object.id), { method: endpoint.method, as: alice, json: endpoint.body })
          expect(res.status, await res.clone().text()).toBe(403)
          expect(res.headers.get('content-type')).toBe('application/problem+json')
          const body = await json(res)
          expect(body).toMatchObject({ status: 403, status_code: 403, error_code: 'FORBIDDEN', title: 'Forbidden' })
          expect(JSON.stringify(body)).not.toContain('secret of bob')
          expect(await bobs.read()).toEqual(before)
          expect(t.logs).toContainEqual(expect.objectContaining({ message: 'authz.denied', user_id: alice, target: bobs.target }))
        })
      }
    }

    test(`${family.name}: lists and stats never show another user's tasks`, async () => {
      const t = ctx()
      const [alice, bob] = [newUser('alice'), newUser('bob')]
      const mine = await createTask(t, alice, { completed: true })
      await createTask(t, bob)
      await createTask(t, bob, { completed: true, due_at: '2000-01-01T00:00:00.000Z' })
      for (const query of ['', '?status=pending', '?status=completed', '?q=task', '?sort=title', '?sort=-due_at']) {
        const res = await t.request(`${family.base(alice)}/tasks${query}`, { as: alice })
        expect(res.status).toBe(200)
        const list = await json<{ user_id: string; id: string }[]>(res)
        expect(list.every((task) => task.user_id === alice)).toBe(true)
      }
      const all = await json(await t.request(`${family.base(alice)}/tasks`, { as: alice }))
      expect(all).toEqual([mine])
      const stats = await t.request(`${family.base(alice)}/tasks/stats`, { as: alice })
      expect(await json(stats)).toEqual({ total: 1, completed: 1, pending: 0, overdue: 0 })
    })

    test(`${family.name}: clearing completed tasks leaves other users' tasks alone`, async () => {
      const t = ctx()
      const [alice, bob] = [newUser('alice'), newUser('bob')]
      await createTask(t, alice, { completed: true })
      const bobsDone = await createTask(t, bob, { completed: true })
      const res = await t.request(`${family.base(alice)}/tasks?status=completed`, { method: 'DELETE', as: alice })
      expect(await json(res)).toEqual({ deleted: 1 })
      expect(await json(await t.request(`/api/v1/tasks/${bobsDone.id}`, { as: bob }))).toEqual(bobsDone)
    })
  }

  test('/api/v1: another user\'s lists and tasks never show, and a body or query naming them is a 400 that changes nothing', async () => {
    const t = ctx()
    const [alice, bob] = [newUser('alice'), newUser('bob')]
    const bobsList = await createList(t, bob, 'bob secret list')
    const bobsTask = await createTask(t, bob, { list_id: bobsList.id, title: 'bob secret task' })
    const alicesList = await createList(t, alice)
    const alicesTask = await createTask(t, alice, { list_id: alicesList.id })
    const lists = await json(await t.request('/api/v1/lists', { as: alice }))
    expect(lists).toEqual([alicesList])
    const attempts: [string, string, unknown][] = [
      ['GET', `/api/v1/tasks?list_id=${bobsList.id}`, undefined],
      ['DELETE', `/api/v1/tasks?status=completed&list_id=${bobsList.id}`, undefined],
      ['POST', '/api/v1/tasks', { title: 'x', list_id: bobsList.id }],
      ['PATCH', `/api/v1/tasks/${alicesTask.id}`, { list_id: bobsList.id }],
      ['POST', `/api/v1/tasks/${alicesTask.id}/move`, { list_id: bobsList.id }],
      ['POST', `/api/v1/tasks/${alicesTask.id}/move`, { after: bobsTask.id }],
      ['POST', `/api/v1/tasks/${alicesTask.id}/move`, { before: bobsTask.id }],
      ['POST', `/api/v1/lists/${alicesList.id}/move`, { after: bobsList.id }],
    ]
    for (const [method, path, body] of attempts) {
      const res = await t.request(path, { method, as: alice, json: body })
      const text = await res.text()
      expect(res.status, `${method} ${path}: ${text}`).toBe(400)
      expect(JSON.parse(text).error_code).toBe('VALIDATION_ERROR')
      expect(text).not.toContain('secret')
    }
    expect(await json(await t.request(`/api/v1/tasks/${bobsTask.id}`, { as: bob }))).toEqual(bobsTask)
    expect(await json(await t.request('/api/v1/lists', { as: bob }))).toEqual([bobsList])
    expect(await json(await t.request(`/api/v1/tasks/${alicesTask.id}`, { as: alice }))).toEqual(alicesTask)
  })

  for (const endpoint of endpoints.filter((e) => !e.v1Only)) {
    test(`/api/{user_id} ${endpoint.name}: another user's path is 403 before any other check`, async () => {
      const t = ctx()
      const [alice, bob] = [newUser('alice'), newUser('bob')]
      const bobs = await createTask(t, bob)
      // A body that would fail validation, and an id that is not a UUID: the path check comes first.
      for (const [id, body] of [
        [bobs.id, endpoint.body],
        ['not-a-uuid', endpoint.body === undefined ? undefined : { unknown_field: 1 }],
      ] as const) {
        const res = await t.request(`/api/${bob}${endpoint.path(id)}`, { method: endpoint.method, as: alice, json: body })
        expect(res.status, await res.clone().text()).toBe(403)
        expect(await json(res)).toMatchObject({ error_code: 'FORBIDDEN', detail: 'This path belongs to another user' })
      }
      expect(await json(await t.request(`/api/v1/tasks/${bobs.id}`, { as: bob }))).toEqual(bobs)
      expect(t.logs).toContainEqual(expect.objectContaining({ message: 'authz.denied', user_id: alice, target: `user:${bob}` }))
    })
  }
})
