// A frontend's view: Eden's typed client driving the app in process, typed data and typed errors.
import { treaty } from '@elysiajs/eden'
import { expect, test } from 'bun:test'
import type { Task } from '../src/tasks/model'
import { describeEachDriver, newUser } from './support/app'

describeEachDriver('Eden treaty client', (ctx) => {
  test('create → list → update → toggle → delete, with typed data and errors', async () => {
    const t = ctx()
    const user = newUser()
    // parseDate: false keeps timestamps as the strings the types promise (Eden turns them into Dates otherwise).
    const api = treaty(t.app, { parseDate: false, headers: { authorization: `Bearer ${await t.token(user)}` } }).api.v1

    const created = await api.tasks.post({ title: 'Write the report', priority: 'high' })
    expect(created.status, JSON.stringify(created.error)).toBe(201)
    const task: Task = created.data!
    expect(task).toMatchObject({ user_id: user, title: 'Write the report', priority: 'high', completed: false, version: 1 })
    expect(created.response.headers.get('location')).toBe(`/api/v1/tasks/${task.id}`)

    const listed = await api.tasks.get({ query: { status: 'pending' } })
    expect(listed.status).toBe(200)
    expect(listed.data).toEqual([task])

    const updated = await api.tasks({ id: task.id }).patch({ description: 'Quarterly numbers', due_at: '2026-12-01T09:00:00.000Z' })
    expect(updated.status).toBe(200)
    expect(updated.data).toMatchObject({ description: 'Quarterly numbers', due_at: '2026-12-01T09:00:00.000Z', version: 2 })

    const toggled = await api.tasks({ id: task.id }).toggle.patch()
    expect(toggled.status).toBe(200)
    expect(toggled.data?.completed).toBe(true)
    expect(toggled.data?.completed_at).toEqual(expect.any(String))
    expect(toggled.data?.version).toBe(3)

    const deleted = await api.tasks({ id: task.id }).delete()
    expect(deleted.status).toBe(204)

    const gone = await api.tasks({ id: task.id }).get()
    expect(gone.data).toBeNull()
    expect(gone.error?.status).toBe(404)
    // The error value is typed from the route's response map: the contract's problem body.
    if (gone.error?.status === 404) {
      expect(gone.error.value.error_code).toBe('TASK_NOT_FOUND')
      expect(gone.error.value.status_code).toBe(404)
    }

    const invalid = await api.tasks.post({ title: '' })
    expect(invalid.error?.status).toBe(400)
    if (invalid.error?.status === 400) {
      expect(invalid.error.value.errors).toEqual([
        { field: 'title', message: 'must be 1 to 200 characters after trimming, with no NUL characters' },
      ])
    }
  })
})
