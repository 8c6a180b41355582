// Instants Postgres cannot store (year 0000, or past 9999 once an offset is applied) are refused as
// 400s naming the field, wherever a timestamp enters: a task's due_at, the due filters, a cursor.
import { expect, test } from 'bun:test'
import { describeEachDriver, json, newUser } from '../support/app'

const unstorable = ['0000-01-01T00:00:00Z', '0000-12-31T23:59:59.999Z', '9999-12-31T23:00:00-05:00', '0001-01-01T00:30:00+01:00']
const edges = ['0001-01-01T00:00:00Z', '0050-06-01T12:34:56.789+01:00', '9999-12-31T23:59:59.999Z', '9999-12-31T23:00:00+05:00']

describeEachDriver('timestamps Postgres cannot store', (ctx) => {
  const expectFieldError = async (res: Response, field: string) => {
    const text = await res.clone().text()
    expect(res.status, text).toBe(400)
    const body = await json(res)
    expect(body.error_code, text).toBe('VALIDATION_ERROR')
    expect(body.errors.map((e: { field: string }) => e.field), text).toEqual([field])
  }

  test('due_at on create, PATCH and PUT is a 400 naming due_at', async () => {
    const t = ctx()
    const user = newUser()
    const made = await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: 'x' } })
    expect(made.status).toBe(201)
    const { id } = await json(made)
    for (const due_at of unstorable) {
      await expectFieldError(await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: 'x', due_at } }), 'due_at')
      for (const method of ['PATCH', 'PUT']) {
        await expectFieldError(await t.request(`/api/v1/tasks/${id}`, { method, as: user, json: { due_at } }), 'due_at')
      }
    }
    const list = await json(await t.request('/api/v1/tasks', { as: user }))
    expect(list.map((x: { due_at: string | null }) => x.due_at)).toEqual([null])
  })

  test('the first and last storable instants, and years below 100, are kept exactly', async () => {
    const t = ctx()
    const user = newUser()
    for (const due_at of edges) {
      const res = await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: 'edge', due_at } })
      expect(res.status, await res.clone().text()).toBe(201)
      expect((await json(res)).due_at).toBe(new Date(due_at).toISOString())
    }
  })

  test('due_after and due_before are 400s naming the parameter', async () => {
    const t = ctx()
    for (const field of ['due_after', 'due_before']) {
      for (const value of unstorable) {
        await expectFieldError(await t.request(`/api/v1/tasks?${field}=${encodeURIComponent(value)}`, { as: newUser() }), field)
      }
    }
  })

  test('a cursor holding an unstorable instant is INVALID_CURSOR', async () => {
    const t = ctx()
    const id = '01900000-0000-7000-8000-000000000000'
    for (const value of ['0000-01-01T00:00:00.000Z', '+010000-01-01T00:00:00.000Z']) {
      for (const sort of ['-created_at', 'due_at']) {
        const cursor = Buffer.from(JSON.stringify([sort, value, id])).toString('base64url')
        const res = await t.request(`/api/v1/tasks?sort=${sort}&cursor=${cursor}`, { as: newUser() })
        const text = await res.clone().text()
        expect(res.status, text).toBe(400)
        expect((await json(res)).error_code, text).toBe('INVALID_CURSOR')
      }
    }
  })
})
