// Test data, made through the API as a client would: users (random ids, so no two tests share
// one) and their tasks. Lists join here when they land.
import { expect } from 'bun:test'
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
