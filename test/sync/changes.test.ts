// GET /api/v1/changes: the snapshot, paging, changes since a cursor (each object once, latest
// state, order of last change, deletes as delete), and the errors.
import { expect, test } from 'bun:test'
import { decodeCursor } from '../../src/sync/cursor'
import { describeEachDriver, json, type TestApp } from '../support/app'
import type { Task } from '../../src/tasks/model'
import { createTask, newUser } from '../support/factories'
import { expectProblem } from '../support/problems'

interface Page {
  changes: { type: string; op: 'upsert' | 'delete'; id: string; data?: Record<string, unknown> }[]
  cursor: string
  has_more: boolean
}

const changes = async (t: TestApp, user: string, query = '') => {
  const res = await t.request(`/api/v1/changes${query}`, { as: user })
  expect(res.status, await res.clone().text()).toBe(200)
  return json<Page>(res)
}
// A cursor also carries the second it was issued in: two for the same place compare by position.
const at = (cursor: string) => decodeCursor(cursor).seq
const create = (t: TestApp, user: string, title: string, extra: Record<string, unknown> = {}) => createTask(t, user, { title, ...extra })

describeEachDriver('GET /api/v1/changes', (ctx) => {
  test('a new user gets an empty snapshot and a cursor that works', async () => {
    const t = ctx()
    const user = newUser()
    const first = await changes(t, user)
    expect(first).toEqual({ changes: [], cursor: expect.any(String), has_more: false })
    const again = await changes(t, user, `?since=${first.cursor}`)
    expect(again).toEqual({ changes: [], cursor: expect.any(String), has_more: false })
    expect(at(again.cursor)).toBe(at(first.cursor))
  })

  test('without since: every live task as an upsert, as GET returns it, in the order of last change', async () => {
    const t = ctx()
    const user = newUser()
    const a = await create(t, user, 'a')
    const b = await create(t, user, 'b', { priority: 'high' })
    const c = await create(t, user, 'c')
    await t.request(`/api/v1/tasks/${a.id}/toggle`, { method: 'PATCH', as: user })
    await t.request(`/api/v1/tasks/${c.id}`, { method: 'DELETE', as: user })
    const aNow = await json(await t.request(`/api/v1/tasks/${a.id}`, { as: user }))
    const page = await changes(t, user)
    expect(page.changes).toEqual([
      { type: 'task', op: 'upsert', id: b.id, data: b },
      { type: 'task', op: 'upsert', id: a.id, data: aNow },
    ])
    expect(page.has_more).toBe(false)
  })

  test('with since: each changed object once, latest state, in order of last change; deletes as delete', async () => {
    const t = ctx()
    const user = newUser()
    const a = await create(t, user, 'a')
    const b = await create(t, user, 'b')
    const c = await create(t, user, 'c', { completed: true })
    const { cursor } = await changes(t, user)

    await t.request(`/api/v1/tasks/${a.id}`, { method: 'PATCH', as: user, json: { title: 'a1' } })
    await t.request(`/api/v1/tasks/${b.id}`, { method: 'DELETE', as: user })
    const d = await create(t, user, 'd')
    await t.request(`/api/v1/tasks/${a.id}`, { method: 'PUT', as: user, json: { title: 'a2' } })
    const cleared = await t.request('/api/v1/tasks?status=completed', { method: 'DELETE', as: user })
    expect(await json(cleared)).toEqual({ deleted: 1 })

    const page = await changes(t, user, `?since=${cursor}`)
    const aNow = await json(await t.request(`/api/v1/tasks/${a.id}`, { as: user }))
    expect(aNow).toMatchObject({ title: 'a2', version: 3 })
    expect(page.changes).toEqual([
      { type: 'task', op: 'delete', id: b.id },
      { type: 'task', op: 'upsert', id: d.id, data: d },
      { type: 'task', op: 'upsert', id: a.id, data: aNow },
      { type: 'task', op: 'delete', id: c.id },
    ])
    expect(page.has_more).toBe(false)
    const after = await changes(t, user, `?since=${page.cursor}`)
    expect(after).toEqual({ changes: [], cursor: expect.any(String), has_more: false })
    expect(at(after.cursor)).toBe(at(page.cursor))
  })

  test('a write that changes nothing enters nothing: a 404, a PATCH with no fields', async () => {
    const t = ctx()
    const user = newUser()
    const a = await create(t, user, 'a')
    const { cursor } = await changes(t, user)
    expect((await t.request(`/api/v1/tasks/${crypto.randomUUID()}`, { method: 'PATCH', as: user, json: { title: 'x' } })).status).toBe(404)
    expect((await t.request(`/api/v1/tasks/${a.id}`, { method: 'PATCH', as: user, json: {} })).status).toBe(200)
    expect((await t.request('/api/v1/tasks?status=completed', { method: 'DELETE', as: user })).status).toBe(200)
    const after = await changes(t, user, `?since=${cursor}`)
    expect(after).toEqual({ changes: [], cursor: expect.any(String), has_more: false })
    expect(at(after.cursor)).toBe(at(cursor))
  })

  test('pages: limit, has_more and cursor, through the snapshot and through changes', async () => {
    const t = ctx()
    const user = newUser()
    const made: Task[] = []
    for (let i = 0; i < 5; i++) made.push(await create(t, user, `t${i}`))
    const p1 = await changes(t, user, '?limit=2')
    expect(p1.changes.map((c) => c.id)).toEqual([made[0]!.id, made[1]!.id])
    expect(p1.has_more).toBe(true)
    const p2 = await changes(t, user, `?limit=2&since=${p1.cursor}`)
    expect(p2.changes.map((c) => c.id)).toEqual([made[2]!.id, made[3]!.id])
    expect(p2.has_more).toBe(true)
    const p3 = await changes(t, user, `?limit=2&since=${p2.cursor}`)
    expect(p3.changes.map((c) => c.id)).toEqual([made[4]!.id])
    expect(p3.has_more).toBe(false)
    const full = await changes(t, user, '?limit=1000')
    expect(full.changes).toHaveLength(5)
    expect(at(full.cursor)).toBe(at(p3.cursor))
  })

  test('a snapshot paged while tasks change: deletions of tasks already sent arrive as deletes; older ones never appear', async () => {
    const t = ctx()
    const user = newUser()
    const gone = await create(t, user, 'deleted before the snapshot')
    await t.request(`/api/v1/tasks/${gone.id}`, { method: 'DELETE', as: user })
    const made: Task[] = []
    for (let i = 0; i < 4; i++) made.push(await create(t, user, `t${i}`))
    const p1 = await changes(t, user, '?limit=2')
    expect(p1.changes.map((c) => [c.op, c.id])).toEqual([['upsert', made[0]!.id], ['upsert', made[1]!.id]])
    // While the client pages: a sent task is deleted, an unsent one is changed.
    await t.request(`/api/v1/tasks/${made[0]!.id}`, { method: 'DELETE', as: user })
    await t.request(`/api/v1/tasks/${made[2]!.id}/toggle`, { method: 'PATCH', as: user })
    const p2 = await changes(t, user, `?limit=2&since=${p1.cursor}`)
    const p3 = await changes(t, user, `?limit=2&since=${p2.cursor}`)
    const rest = [...p2.changes, ...p3.changes]
    expect(rest.map((c) => [c.op, c.id])).toEqual([['upsert', made[3]!.id], ['delete', made[0]!.id], ['upsert', made[2]!.id]])
    expect(rest[2]!.data).toMatchObject({ completed: true, version: 2 })
    expect(p3.has_more).toBe(false)
  })

  test('never another user\'s changes', async () => {
    const t = ctx()
    const [me, other] = [newUser(), newUser()]
    const mine = await create(t, me, 'mine')
    const { cursor } = await changes(t, other)
    await create(t, other, 'theirs')
    await t.request(`/api/v1/tasks/${mine.id}`, { method: 'DELETE', as: me })
    const snapshot = await changes(t, me)
    expect(snapshot.changes).toEqual([])
    const since = await changes(t, me, `?since=${(await changes(t, me)).cursor}`)
    expect(since.changes).toEqual([])
    // Another user's cursor says nothing about mine: it is either ahead of my changes (400) or shows only mine.
    const res = await t.request(`/api/v1/changes?since=${cursor}`, { as: me })
    if (res.status === 200) expect((await json<Page>(res)).changes.every((c) => c.id === mine.id)).toBe(true)
    else await expectProblem(res, 400, 'INVALID_CURSOR')
  })

  test('bad input: limit out of range, junk cursors, a cursor ahead of the user\'s changes', async () => {
    const t = ctx()
    const user = newUser()
    for (const limit of ['0', '1001', 'abc', '-1', '1.5']) {
      const res = await t.request(`/api/v1/changes?limit=${limit}`, { as: user })
      expect(res.status, limit).toBe(400)
      expect(await json(res)).toMatchObject({ error_code: 'VALIDATION_ERROR', errors: [{ field: 'limit', message: 'must be an integer from 1 to 1000' }] })
    }
    for (const junk of ['abc', '', '%%%', Buffer.from('1.2').toString('base64url'), Buffer.from('x.0.1').toString('base64url'), 'A'.repeat(100)]) {
      await expectProblem(await t.request(`/api/v1/changes?since=${encodeURIComponent(junk)}`, { as: user }), 400, 'INVALID_CURSOR')
    }
    const ahead = Buffer.from(`999.0.${Math.floor(Date.now() / 1000)}`).toString('base64url')
    await expectProblem(await t.request(`/api/v1/changes?since=${ahead}`, { as: user }), 400, 'INVALID_CURSOR')
  })

  test('only under /api/v1, and only with a valid token', async () => {
    const t = ctx()
    await expectProblem(await t.request('/api/v1/changes'), 401, 'UNAUTHORIZED')
    await expectProblem(await t.request('/api/changes', { as: newUser() }), 404, 'NOT_FOUND')
  })
})
