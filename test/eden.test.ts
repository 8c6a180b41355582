// A frontend's view: Eden's typed client driving the app in process, typed data and typed errors.
import { treaty } from '@elysiajs/eden'
import { expect, test } from 'bun:test'
import type { List } from '../src/lists/model'
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

  test('lists and moves: create, rename, order, move tasks in and across lists, delete, with typed data and errors', async () => {
    const t = ctx()
    const user = newUser()
    const api = treaty(t.app, { parseDate: false, headers: { authorization: `Bearer ${await t.token(user)}` } }).api.v1

    const made = await api.lists.post({ name: 'Groceries' })
    expect(made.status, JSON.stringify(made.error)).toBe(201)
    const groceries: List = made.data!
    expect(made.response.headers.get('location')).toBe(`/api/v1/lists/${groceries.id}`)
    const work = (await api.lists.post({ name: 'Work' })).data!
    expect((await api.lists.get()).data?.map((l) => l.name)).toEqual(['Groceries', 'Work'])

    const renamed = await api.lists({ id: work.id }).patch({ name: 'Office' })
    expect(renamed.data).toMatchObject({ name: 'Office', version: 2 })
    const first = await api.lists({ id: work.id }).move.post({})
    expect(first.data?.version).toBe(3)
    expect((await api.lists.get()).data?.map((l) => l.id)).toEqual([work.id, groceries.id])
    expect((await api.lists({ id: groceries.id }).move.post({ before: work.id })).status).toBe(200)
    expect((await api.lists({ id: groceries.id }).get()).data).toMatchObject({ id: groceries.id, name: 'Groceries', version: 2 })

    const milk = (await api.tasks.post({ title: 'Milk', list_id: groceries.id })).data!
    const eggs = (await api.tasks.post({ title: 'Eggs', list_id: groceries.id })).data!
    expect(milk.list_id).toBe(groceries.id)
    const moved = await api.tasks({ id: eggs.id }).move.post({ after: milk.id })
    expect(moved.status, JSON.stringify(moved.error)).toBe(200)
    const task: Task = moved.data!
    expect(task).toMatchObject({ id: eggs.id, list_id: groceries.id, version: 2 })
    const page = await api.tasks.get({ query: { list_id: groceries.id, sort: 'position' } })
    expect(page.data?.map((x) => x.title)).toEqual(['Milk', 'Eggs'])
    const across = await api.tasks({ id: milk.id }).move.post({ list_id: work.id })
    expect(across.data).toMatchObject({ list_id: work.id, version: 2 })
    const inbox = await api.tasks({ id: milk.id }).patch({ list_id: null })
    expect(inbox.data?.list_id).toBeNull()

    const both = await api.tasks({ id: milk.id }).move.post({ after: eggs.id, before: eggs.id })
    expect(both.error?.status).toBe(400)
    if (both.error?.status === 400) expect(both.error.value.errors).toEqual([{ field: 'before', message: 'cannot be given together with after' }])

    expect((await api.lists({ id: groceries.id }).delete()).status).toBe(204)
    const gone = await api.lists({ id: groceries.id }).get()
    expect(gone.error?.status).toBe(404)
    if (gone.error?.status === 404) expect(gone.error.value.error_code).toBe('LIST_NOT_FOUND')
    expect((await api.tasks({ id: eggs.id }).get()).error?.status).toBe(404)
  })
})
