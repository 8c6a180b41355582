// The shared auth and isolation suite: every endpoint, under all three path families, for two users.
import { expect, test } from 'bun:test'
import { describeEachDriver, json, newUser, type TestApp } from '../support/app'
import { endpoints, endpointsOf, families } from '../support/endpoints'
import { createTask } from '../support/factories'
import { problemKeys } from '../support/problems'


describeEachDriver('isolation', (ctx) => {
  for (const family of families) {
    for (const endpoint of endpointsOf(family)) {
      test(`${family.name} ${endpoint.name}: the owner succeeds`, async () => {
        const t = ctx()
        const alice = newUser('alice')
        const task = await createTask(t, alice)
        const res = await t.request(family.base(alice) + endpoint.path(task.id), { method: endpoint.method, as: alice, json: endpoint.body })
        // A stream's body never ends by itself: read only when it is not the expected answer.
        if (endpoint.stream && res.status === endpoint.ok) return void (await res.body?.cancel())
        expect(res.status, await res.clone().text()).toBe(endpoint.ok)
      })

      test(`${family.name} ${endpoint.name}: no token is 401`, async () => {
        const t = ctx()
        const alice = newUser('alice')
        const task = await createTask(t, alice)
        const res = await t.request(family.base(alice) + endpoint.path(task.id), { method: endpoint.method, json: endpoint.body })
        expect(res.status).toBe(401)
        expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
        expect(res.headers.get('content-type')).toBe('application/problem+json')
        const body = await json(res)
        expect(body).toMatchObject({ status: 401, status_code: 401, error_code: 'UNAUTHORIZED', title: 'Unauthorized' })
        expect(Object.keys(body).sort()).toEqual(problemKeys)
        // the task is untouched
        const after = await t.request(`/api/v1/tasks/${task.id}`, { as: alice })
        expect(await json(after)).toEqual(task)
      })

      if (endpoint.targetsTask) {
        test(`${family.name} ${endpoint.name}: another user's task is 403 and stays unchanged`, async () => {
          const t = ctx()
          const [alice, bob] = [newUser('alice'), newUser('bob')]
          const bobs = await createTask(t, bob, { description: 'secret of bob', priority: 'low' })
          const res = await t.request(family.base(alice) + endpoint.path(bobs.id), { method: endpoint.method, as: alice, json: endpoint.body })
          expect(res.status, await res.clone().text()).toBe(403)
          expect(res.headers.get('content-type')).toBe('application/problem+json')
          const body = await json(res)
          expect(body).toMatchObject({ status: 403, status_code: 403, error_code: 'FORBIDDEN', title: 'Forbidden' })
          expect(JSON.stringify(body)).not.toContain('secret of bob')
          const after = await t.request(`/api/v1/tasks/${bobs.id}`, { as: bob })
          expect(after.status).toBe(200)
          expect(await json(after)).toEqual(bobs)
          expect(t.logs).toContainEqual(
            expect.objectContaining({ message: 'authz.denied', user_id: alice, target: `task:${bobs.id}` }),
          )
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
