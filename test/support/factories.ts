// Test data, made through the API as a client would: users (random ids, so no two tests share
// one), their tasks and lists; moves, and an order read back.
import { expect } from 'bun:test'
import type { List } from '../../src/lists/model'
import type { Task } from '../../src/tasks/model'
import { json, type TestApp } from './app'

/** A random user id, so no two tests share users. */
export const newUser = (label = 'user') => `${label}_${crypto.randomUUID().slice(0, 8)}`

/** Creates a task for `user` (title "a task" unless given), expecting 201. */
export async function createTask(t: TestApp, user: string, body: Record<string, unknown> = {}): Promise<Task> {
  const res = await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: 'a task', ...body } })
  expect(res.status, await res.clone().text()).toBe(201)
  return json<Task>(res)
}

/** Creates the tasks one after another, so their created_at follows the order given. */
export async function createTasks(t: TestApp, user: string, bodies: Record<string, unknown>[], { gapMs = 0 } = {}): Promise<Task[]> {
  const created: Task[] = []
  for (const body of bodies) {
    created.push(await createTask(t, user, body))
    if (gapMs) await Bun.sleep(gapMs)
  }
  return created
}

export async function createList(t: TestApp, user: string, name = 'a list'): Promise<List> {
  const res = await t.request('/api/v1/lists', { method: 'POST', as: user, json: { name } })
  expect(res.status, await res.clone().text()).toBe(201)
  return json(res)
}

/** Moves a task (or, with `kind: 'lists'`, a list), expecting 200. */
export async function move<T = Task>(t: TestApp, user: string, id: string, body?: Record<string, unknown>, kind: 'tasks' | 'lists' = 'tasks'): Promise<T> {
  const res = await t.request(`/api/v1/${kind}/${id}/move`, { method: 'POST', as: user, json: body })
  expect(res.status, await res.clone().text()).toBe(200)
  return json(res)
}

/** A list's tasks in their order (null: the inbox), read through the API in one page. */
export async function tasksIn(t: TestApp, user: string, listId: string | null): Promise<Task[]> {
  const res = await t.request(`/api/v1/tasks?list_id=${listId ?? 'none'}&sort=position&limit=1000`, { as: user })
  expect(res.status, await res.clone().text()).toBe(200)
  return json(res)
}

export async function listsOf(t: TestApp, user: string): Promise<List[]> {
  const res = await t.request('/api/v1/lists', { as: user })
  expect(res.status, await res.clone().text()).toBe(200)
  return json(res)
}

export const idsOf = (items: { id: string }[]) => items.map((item) => item.id)

/** Expects the items in strictly ascending (position, id) order, every key at most 64 characters. */
export function expectOrdered(items: { id: string; position: string }[]) {
  for (const [i, item] of items.entries()) {
    expect(item.position.length).toBeLessThanOrEqual(64)
    const prev = items[i - 1]
    if (prev) expect(prev.position < item.position || (prev.position === item.position && prev.id < item.id), `${prev.position} / ${item.position}`).toBe(true)
  }
}
