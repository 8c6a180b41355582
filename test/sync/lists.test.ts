// Lists in the change feed: list writes (create, rename, move), a list deleted with its tasks,
// tasks moved between lists, and a re-spacing's re-keyed tasks all enter it, and a copy that
// applies it ends equal to the server.
import { expect, test } from 'bun:test'
import { describeEachDriver, json, type TestApp } from '../support/app'
import { createList, createTask, newUser } from '../support/factories'

type Change = { type: 'task' | 'list'; op: 'upsert' | 'delete'; id: string; data?: Record<string, any> }
type Page = { changes: Change[]; cursor: string; has_more: boolean }

const since = async (t: TestApp, user: string, cursor?: string) => {
  const res = await t.request(`/api/v1/changes${cursor ? `?since=${cursor}` : ''}`, { as: user })
  expect(res.status, await res.clone().text()).toBe(200)
  return json<Page>(res)
}
const write = async (t: TestApp, user: string, method: string, path: string, body?: unknown) => {
  const res = await t.request(`/api/v1${path}`, { method, as: user, json: body })
  expect(res.status, await res.clone().text()).toBeLessThan(300)
  return res.status === 204 ? undefined : json(res)
}
/** The server's state as a client would hold it: every list and task by type and id. */
const serverState = async (t: TestApp, user: string) => {
  const state = new Map<string, unknown>()
  for (const list of await json<{ id: string }[]>(await t.request('/api/v1/lists', { as: user }))) state.set(`list:${list.id}`, list)
  for (const task of await json<{ id: string }[]>(await t.request('/api/v1/tasks?limit=1000', { as: user }))) state.set(`task:${task.id}`, task)
  return state
}
const applyAll = async (t: TestApp, user: string, copy = new Map<string, unknown>(), cursor?: string) => {
  for (;;) {
    const page = await since(t, user, cursor)
    for (const c of page.changes) c.op === 'delete' ? copy.delete(`${c.type}:${c.id}`) : copy.set(`${c.type}:${c.id}`, c.data)
    cursor = page.cursor
    if (!page.has_more) return { copy, cursor }
  }
}

describeEachDriver('lists in the change feed', (ctx) => {
  test('list writes, tasks moved between lists, and a list deleted with its tasks', async () => {
    const t = ctx()
    const user = newUser()
    const groceries = await createList(t, user, 'Groceries')
    const milk = await createTask(t, user, { title: 'milk', list_id: groceries.id })
    const { copy, cursor } = await applyAll(t, user)
    expect(copy).toEqual(await serverState(t, user))
    expect([...copy.keys()]).toEqual([`list:${groceries.id}`, `task:${milk.id}`])

    const work = await createList(t, user, 'Work')
    await write(t, user, 'PATCH', `/lists/${groceries.id}`, { name: 'Food' })
    await write(t, user, 'POST', `/lists/${work.id}/move`, {})
    const report = await createTask(t, user, { title: 'report', list_id: work.id })
    await write(t, user, 'POST', `/tasks/${milk.id}/move`, { list_id: work.id })
    await write(t, user, 'DELETE', `/lists/${groceries.id}`)
    const page = await since(t, user, cursor)
    expect(page.changes.map((c) => `${c.op} ${c.type} ${c.data?.name ?? c.data?.title ?? c.id}`)).toEqual([
      `upsert list Work`,
      `upsert task report`,
      `upsert task milk`,
      `delete list ${groceries.id}`,
    ])
    expect(page.changes[2]!.data).toMatchObject({ list_id: work.id, version: 2 })

    // The deleted list's tasks go with it: a task left in it arrives as a delete too.
    const bread = await createTask(t, user, { title: 'bread', list_id: work.id })
    const before = page.cursor
    await write(t, user, 'DELETE', `/lists/${work.id}`)
    const gone = await since(t, user, before)
    expect(gone.changes.map((c) => `${c.op} ${c.type} ${c.id}`).sort()).toEqual(
      [`delete list ${work.id}`, `delete task ${bread.id}`, `delete task ${milk.id}`, `delete task ${report.id}`].sort(),
    )
    const after = await applyAll(t, user, copy, cursor)
    expect(after.copy).toEqual(await serverState(t, user))
  })

  test('a list delete refused by If-Match records nothing; one that goes records its tasks\' tombstones', async () => {
    const t = ctx()
    const user = newUser()
    const list = await createList(t, user, 'Chores')
    const [dishes, laundry] = [await createTask(t, user, { title: 'dishes', list_id: list.id }), await createTask(t, user, { title: 'laundry', list_id: list.id })]
    const { cursor } = await since(t, user)
    const stale = await t.request(`/api/v1/lists/${list.id}`, { method: 'DELETE', as: user, headers: { 'if-match': '"7"' } })
    expect(stale.status, await stale.clone().text()).toBe(412)
    expect((await since(t, user, cursor)).changes).toEqual([])
    const gone = await t.request(`/api/v1/lists/${list.id}`, { method: 'DELETE', as: user, headers: { 'if-match': `"${list.version}"` } })
    expect(gone.status, await gone.clone().text()).toBe(204)
    const page = await since(t, user, cursor)
    expect(page.changes.map((c) => `${c.op} ${c.type} ${c.id}`).sort()).toEqual([`delete list ${list.id}`, `delete task ${dishes.id}`, `delete task ${laundry.id}`].sort())
  })

  test('a re-spacing\'s re-keyed tasks enter the feed with their new keys and versions', async () => {
    const t = ctx()
    const user = newUser()
    const list = await createList(t, user)
    const [last, b, a, first] = [
      await createTask(t, user, { list_id: list.id }),
      await createTask(t, user, { list_id: list.id }),
      await createTask(t, user, { list_id: list.id }),
      await createTask(t, user, { list_id: list.id }),
    ]
    const { copy, cursor } = await applyAll(t, user)
    // Moves into one gap until a re-spacing re-keys `first` and `last`, which are never moved.
    for (let i = 0; i < 400; i++) await write(t, user, 'POST', `/tasks/${(i % 2 === 0 ? b : a).id}/move`, { after: first.id })
    const server = await serverState(t, user)
    expect((server.get(`task:${first.id}`) as { version: number }).version).toBeGreaterThan(1)
    const after = await applyAll(t, user, copy, cursor)
    expect(after.copy).toEqual(server)
    expect((after.copy.get(`task:${last.id}`) as { position: string }).position).toBe((server.get(`task:${last.id}`) as { position: string }).position)
  }, 120_000)
})
