// Test data for lists and manual order: make lists and tasks, move them, read an order back.
import { expect } from 'bun:test'
import type { List } from '../../src/lists/model'
import type { Task } from '../../src/tasks/model'
import { json, type TestApp } from './app'

export async function createList(t: TestApp, user: string, name = 'a list'): Promise<List> {
  const res = await t.request('/api/v1/lists', { method: 'POST', as: user, json: { name } })
  expect(res.status, await res.clone().text()).toBe(201)
  return json(res)
}

export async function createTask(t: TestApp, user: string, body: Record<string, unknown> = {}): Promise<Task> {
  const res = await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: 'a task', ...body } })
  expect(res.status, await res.clone().text()).toBe(201)
  return json(res)
}

/** Moves a task (or, with `kind: 'lists'`, a list), expecting 200. */
export async function move<T = Task>(t: TestApp, user: string, id: string, body?: Record<string, unknown>, kind: 'tasks' | 'lists' = 'tasks'): Promise<T> {
  const res = await t.request(`/api/v1/${kind}/${id}/move`, { method: 'POST', as: user, json: body })
  expect(res.status, await res.clone().text()).toBe(200)
  return json(res)
}

/** A list's tasks in their order (`none`: the inbox), read through the API in one page. */
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

/** Expects the items to be in strictly ascending (position, id) order, every key at most 64 characters. */
export function expectOrdered(items: { id: string; position: string }[]) {
  for (const [i, item] of items.entries()) {
    expect(item.position.length).toBeLessThanOrEqual(64)
    const prev = items[i - 1]
    if (prev) expect(prev.position < item.position || (prev.position === item.position && prev.id < item.id), `${prev.position} / ${item.position}`).toBe(true)
  }
}

/** Expects a 400 VALIDATION_ERROR naming exactly `field` with `message`. */
export async function expectFieldError(res: Response, field: string, message: string | RegExp) {
  const text = await res.clone().text()
  expect(res.status, text).toBe(400)
  const body = await json(res)
  expect(body).toMatchObject({ error_code: 'VALIDATION_ERROR', status: 400 })
  expect(body.errors).toHaveLength(1)
  expect(body.errors[0].field).toBe(field)
  if (typeof message === 'string') expect(body.errors[0].message).toBe(message)
  else expect(body.errors[0].message).toMatch(message)
  return body
}
