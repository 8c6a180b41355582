// Field rules on create and update, and the task's lifecycle fields (version, completed_at,
// timestamps, id, Location), on every driver.
import { describe, expect, test } from 'bun:test'
import { describeEachDriver, json, newUser, type TestApp } from '../support/app'
import { createTask } from '../support/factories'

type Task = {
  id: string
  user_id: string
  list_id: string | null
  title: string
  description: string | null
  completed: boolean
  completed_at: string | null
  priority: 'none' | 'low' | 'medium' | 'high'
  due_at: string | null
  position: string
  created_at: string
  updated_at: string
  version: number
}

const instant = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/
const uuidV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
const jsonType = /^application\/json(; ?charset=utf-8)?$/i
const taskKeys = ['completed', 'completed_at', 'created_at', 'description', 'due_at', 'id', 'list_id', 'position', 'priority', 'title', 'updated_at', 'user_id', 'version']

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function get(t: TestApp, user: string, id: string): Promise<Task> {
  const res = await t.request(`/api/v1/tasks/${id}`, { as: user })
  expect(res.status, await res.clone().text()).toBe(200)
  return json<Task>(res)
}

/** A write that must succeed with 200 and return the task. */
async function send(t: TestApp, user: string, method: 'PATCH' | 'PUT', path: string, body?: unknown): Promise<Task> {
  const res = await t.request(`/api/v1/tasks/${path}`, { method, as: user, json: body })
  expect(res.status, await res.clone().text()).toBe(200)
  expect(res.headers.get('content-type')).toMatch(jsonType)
  return json<Task>(res)
}

/** Asserts a 400 VALIDATION_ERROR whose `errors` name exactly `fields`, each with a message. */
async function expectInvalid(res: Response, fields: string[]) {
  const text = await res.clone().text()
  expect(res.status, text).toBe(400)
  expect(res.headers.get('content-type')).toBe('application/problem+json')
  const body = await json(res)
  expect(body, text).toMatchObject({ status: 400, status_code: 400, error_code: 'VALIDATION_ERROR', title: 'Bad Request' })
  expect(Array.isArray(body.errors), text).toBe(true)
  expect(body.errors.map((e: { field: string }) => e.field), text).toEqual(fields)
  for (const e of body.errors) expect(typeof e.message === 'string' && e.message.length > 0, text).toBe(true)
  return body
}

/** Every way a body can reach a task: create, and the three updates of an existing task. */
type Writer = { name: string; write: (t: TestApp, user: string, body: unknown) => Promise<Response> }
const writers: Writer[] = [
  { name: 'POST', write: (t, user, body) => t.request('/api/v1/tasks', { method: 'POST', as: user, json: body }) },
  {
    name: 'PATCH',
    write: async (t, user, body) => t.request(`/api/v1/tasks/${(await createTask(t, user)).id}`, { method: 'PATCH', as: user, json: body }),
  },
  {
    name: 'PUT',
    write: async (t, user, body) => t.request(`/api/v1/tasks/${(await createTask(t, user)).id}`, { method: 'PUT', as: user, json: body }),
  },
]

describeEachDriver('task validation', (ctx) => {
  describe('title', () => {
    test('is trimmed on create and on update', async () => {
      const t = ctx()
      const user = newUser()
      const task = await createTask(t, user, { title: '  Buy milk  ' })
      expect(task.title).toBe('Buy milk')
      expect((await get(t, user, task.id)).title).toBe('Buy milk')
      expect((await send(t, user, 'PATCH', task.id, { title: '\t Buy bread \n' })).title).toBe('Buy bread')
      expect((await send(t, user, 'PUT', task.id, { title: '  Buy eggs ' })).title).toBe('Buy eggs')
      expect((await get(t, user, task.id)).title).toBe('Buy eggs')
    })

    test('200 emoji are accepted and returned intact; 201 are refused', async () => {
      const t = ctx()
      const user = newUser()
      const title = '😀'.repeat(200)
      const task = await createTask(t, user, { title })
      expect(task.title).toBe(title)
      expect((await get(t, user, task.id)).title).toBe(title)
      for (const w of writers) await expectInvalid(await w.write(t, user, { title: '😀'.repeat(201) }), ['title'])
      expect((await get(t, user, task.id)).title).toBe(title)
    })

    test('200 ASCII characters are accepted; 201 are refused', async () => {
      const t = ctx()
      const user = newUser()
      const title = 'a'.repeat(200)
      expect((await createTask(t, user, { title })).title).toBe(title)
      const updated = await send(t, user, 'PATCH', (await createTask(t, user)).id, { title: 'b'.repeat(200) })
      expect(updated.title).toBe('b'.repeat(200))
      for (const w of writers) await expectInvalid(await w.write(t, user, { title: 'a'.repeat(201) }), ['title'])
    })

    test('length is counted after trimming', async () => {
      const t = ctx()
      const user = newUser()
      expect((await createTask(t, user, { title: `  ${'a'.repeat(200)}  ` })).title).toBe('a'.repeat(200))
    })

    test('empty or whitespace-only is refused', async () => {
      const t = ctx()
      const user = newUser()
      for (const title of ['', ' ', '   ', '\t\n '])
        for (const w of writers) await expectInvalid(await w.write(t, user, { title }), ['title'])
    })

    test('missing on create is "is required"', async () => {
      const t = ctx()
      const user = newUser()
      const res = await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { description: 'no title' } })
      const body = await expectInvalid(res, ['title'])
      expect(body.errors).toEqual([{ field: 'title', message: 'is required' }])
      const empty = await t.request('/api/v1/tasks', { method: 'POST', as: user, json: {} })
      expect((await expectInvalid(empty, ['title'])).errors).toEqual([{ field: 'title', message: 'is required' }])
      // nothing was created
      expect(await json(await t.request('/api/v1/tasks', { as: user }))).toEqual([])
    })

    test('not a string is refused', async () => {
      const t = ctx()
      const user = newUser()
      for (const title of [123, true, null, ['x'], { text: 'x' }])
        for (const w of writers) await expectInvalid(await w.write(t, user, { title }), ['title'])
    })

    test('a NUL character is a 400, never a 500', async () => {
      const t = ctx()
      const user = newUser()
      for (const title of ['\u0000', 'Buy\u0000milk', 'Buy milk\u0000'])
        for (const w of writers) await expectInvalid(await w.write(t, user, { title }), ['title'])
    })

    test('a lone surrogate (not Unicode text) is a 400, never a 500', async () => {
      const t = ctx()
      const user = newUser()
      for (const w of writers) await expectInvalid(await w.write(t, user, { title: 'Buy \ud800 milk' }), ['title'])
    })
  })

  describe('description', () => {
    test('2000 code points are accepted, emoji included; 2001 are refused', async () => {
      const t = ctx()
      const user = newUser()
      for (const description of ['d'.repeat(2000), '😀'.repeat(2000), `${'é'.repeat(1000)}${'😀'.repeat(1000)}`]) {
        const task = await createTask(t, user, { description })
        expect(task.description).toBe(description)
        expect((await get(t, user, task.id)).description).toBe(description)
        const patched = await send(t, user, 'PATCH', (await createTask(t, user)).id, { description })
        expect(patched.description).toBe(description)
      }
      for (const description of ['d'.repeat(2001), '😀'.repeat(2001)])
        for (const w of writers) await expectInvalid(await w.write(t, user, { title: 'x', description }), ['description'])
    })

    test('is null when absent, accepts null, and null clears it', async () => {
      const t = ctx()
      const user = newUser()
      expect((await createTask(t, user)).description).toBeNull()
      expect((await createTask(t, user, { description: null })).description).toBeNull()
      const task = await createTask(t, user, { description: 'some words' })
      expect(task.description).toBe('some words')
      expect((await send(t, user, 'PATCH', task.id, { description: null })).description).toBeNull()
      expect((await get(t, user, task.id)).description).toBeNull()
    })

    test('a NUL character is a 400, never a 500', async () => {
      const t = ctx()
      const user = newUser()
      for (const w of writers) await expectInvalid(await w.write(t, user, { title: 'x', description: 'a\u0000b' }), ['description'])
    })

    test('not a string is refused', async () => {
      const t = ctx()
      const user = newUser()
      for (const description of [1, false, ['x'], {}])
        for (const w of writers) await expectInvalid(await w.write(t, user, { title: 'x', description }), ['description'])
    })
  })

  describe('unknown and read-only fields', () => {
    test('an unknown field is a 400 naming it', async () => {
      const t = ctx()
      const user = newUser()
      for (const w of writers) {
        const body = await expectInvalid(await w.write(t, user, { title: 'x', colour: 'red' }), ['colour'])
        expect(body.errors).toEqual([{ field: 'colour', message: 'is not a known field' }])
      }
      const task = await createTask(t, user)
      const toggle = await t.request(`/api/v1/tasks/${task.id}/toggle`, { method: 'PATCH', as: user, json: { done: true } })
      expect((await expectInvalid(toggle, ['done'])).errors).toEqual([{ field: 'done', message: 'is not a known field' }])
      expect(await get(t, user, task.id)).toEqual(task)
    })

    for (const method of ['PATCH', 'PUT'] as const) {
      test(`${method}: a task sent back as GET returned it, with a new title, is accepted and read-only fields are ignored`, async () => {
        const t = ctx()
        const user = newUser()
        const original = await get(t, user, (await createTask(t, user, { title: 'before', description: 'words', priority: 'low' })).id)
        await sleep(5)
        const updated = await send(t, user, method, original.id, { ...original, title: 'after' })
        expect(updated).toMatchObject({
          id: original.id,
          user_id: user,
          created_at: original.created_at,
          title: 'after',
          description: 'words',
          priority: 'low',
          completed: false,
          completed_at: null,
          version: original.version + 1,
        })
        expect(updated.updated_at > original.updated_at).toBe(true)
        expect(await get(t, user, original.id)).toEqual(updated)
      })

      test(`${method}: forged read-only values are ignored, not applied`, async () => {
        const t = ctx()
        const user = newUser()
        const other = newUser('other')
        const original = await createTask(t, user)
        const updated = await send(t, user, method, original.id, {
          id: '01936b2e-7c4f-7a10-9d8e-4a3b2c1d0e5f',
          user_id: other,
          created_at: '2000-01-01T00:00:00.000Z',
          updated_at: '2000-01-01T00:00:00.000Z',
          completed_at: '2000-01-01T00:00:00.000Z',
          version: 99,
          title: 'forged',
        })
        expect(updated).toMatchObject({ id: original.id, user_id: user, created_at: original.created_at, completed_at: null, version: 2, title: 'forged' })
        expect(updated.updated_at >= original.updated_at).toBe(true)
        // still the owner's, and not the other user's
        expect(await get(t, user, original.id)).toEqual(updated)
        expect(await json(await t.request('/api/v1/tasks', { as: other }))).toEqual([])
      })
    }

    test('create: a forged user_id (and other read-only fields) is ignored; the task is the token user\'s', async () => {
      const t = ctx()
      const user = newUser()
      const sentId = '01936b2e-7c4f-7a10-9d8e-4a3b2c1d0e5f'
      const res = await t.request('/api/v1/tasks', {
        method: 'POST',
        as: user,
        json: {
          title: 'mine',
          user_id: 'someone-else',
          id: sentId,
          version: 42,
          created_at: '2000-01-01T00:00:00.000Z',
          updated_at: '2000-01-01T00:00:00.000Z',
          completed_at: '2000-01-01T00:00:00.000Z',
        },
      })
      expect(res.status, await res.clone().text()).toBe(201)
      const task = await json<Task>(res)
      expect(task.user_id).toBe(user)
      expect(task.id).not.toBe(sentId)
      expect(task.version).toBe(1)
      expect(task.completed_at).toBeNull()
      expect(task.created_at).not.toBe('2000-01-01T00:00:00.000Z')
      expect(task.updated_at).toBe(task.created_at)
      expect(await json(await t.request('/api/v1/tasks', { as: user }))).toEqual([task])
      expect(await json(await t.request('/api/v1/tasks', { as: 'someone-else' }))).toEqual([])
    })
  })

  describe('priority', () => {
    test('each of the four values is accepted; the default is none', async () => {
      const t = ctx()
      const user = newUser()
      expect((await createTask(t, user)).priority).toBe('none')
      for (const priority of ['none', 'low', 'medium', 'high'] as const) {
        expect((await createTask(t, user, { priority })).priority).toBe(priority)
      }
      const task = await createTask(t, user, { priority: 'high' })
      expect((await send(t, user, 'PATCH', task.id, { priority: 'low' })).priority).toBe('low')
      expect((await send(t, user, 'PUT', task.id, { priority: 'medium' })).priority).toBe('medium')
    })

    test('anything else is a 400 naming priority', async () => {
      const t = ctx()
      const user = newUser()
      for (const priority of ['urgent', 'HIGH', '', 1, null, true])
        for (const w of writers) await expectInvalid(await w.write(t, user, { title: 'x', priority }), ['priority'])
    })
  })

  describe('due_at', () => {
    test('an RFC 3339 timestamp with an offset is stored as the UTC instant, with milliseconds', async () => {
      const t = ctx()
      const user = newUser()
      const task = await createTask(t, user, { due_at: '2026-12-01T10:00:00+02:00' })
      expect(task.due_at).toBe('2026-12-01T08:00:00.000Z')
      expect((await get(t, user, task.id)).due_at).toBe('2026-12-01T08:00:00.000Z')
      for (const [given, stored] of [
        ['2026-12-01T10:00:00Z', '2026-12-01T10:00:00.000Z'],
        ['2026-12-01T10:00:00.5Z', '2026-12-01T10:00:00.500Z'],
        ['2026-12-01T10:00:00.123-05:30', '2026-12-01T15:30:00.123Z'],
      ]) {
        expect((await createTask(t, user, { due_at: given })).due_at).toBe(stored!)
        expect((await send(t, user, 'PATCH', task.id, { due_at: given })).due_at).toBe(stored!)
      }
    })

    test('is null when absent, and null clears it', async () => {
      const t = ctx()
      const user = newUser()
      expect((await createTask(t, user)).due_at).toBeNull()
      expect((await createTask(t, user, { due_at: null })).due_at).toBeNull()
      const task = await createTask(t, user, { due_at: '2026-12-01T10:00:00Z' })
      expect((await send(t, user, 'PATCH', task.id, { due_at: null })).due_at).toBeNull()
      expect((await get(t, user, task.id)).due_at).toBeNull()
      const again = await send(t, user, 'PUT', task.id, { due_at: '2026-12-02T00:00:00Z' })
      expect(again.due_at).toBe('2026-12-02T00:00:00.000Z')
      expect((await send(t, user, 'PUT', task.id, { due_at: null })).due_at).toBeNull()
    })

    test('anything but an RFC 3339 timestamp with a time zone is a 400 naming due_at', async () => {
      const t = ctx()
      const user = newUser()
      const invalid = [
        'tomorrow',
        '2026-02-30T00:00:00Z',
        '2026-12-01T10:00:00',
        '2026-12-01',
        '2026-13-01T00:00:00Z',
        '2026-12-01T25:00:00Z',
        '',
        1796119200000,
        true,
      ]
      const existing = await createTask(t, user, { due_at: '2026-12-01T10:00:00Z' })
      for (const due_at of invalid) {
        for (const w of writers) await expectInvalid(await w.write(t, user, { title: 'x', due_at }), ['due_at'])
        await expectInvalid(await t.request(`/api/v1/tasks/${existing.id}`, { method: 'PATCH', as: user, json: { due_at } }), ['due_at'])
      }
      expect(await get(t, user, existing.id)).toEqual(existing)
    })
  })

  describe('completed', () => {
    test('must be a boolean', async () => {
      const t = ctx()
      const user = newUser()
      for (const completed of ['true', 'false', 1, 0, null, 'yes'])
        for (const w of writers) await expectInvalid(await w.write(t, user, { title: 'x', completed }), ['completed'])
      const task = await createTask(t, user)
      for (const completed of ['true', 1, null]) {
        const res = await t.request(`/api/v1/tasks/${task.id}/toggle`, { method: 'PATCH', as: user, json: { completed } })
        await expectInvalid(res, ['completed'])
      }
      expect(await get(t, user, task.id)).toEqual(task)
    })
  })

  describe('the body', () => {
    test('a JSON array, string, number or null is a 400 VALIDATION_ERROR on create and update', async () => {
      const t = ctx()
      const user = newUser()
      for (const body of [[{ title: 'x' }], [], 'Buy milk', 42, null]) {
        for (const w of writers) {
          const res = await w.write(t, user, body)
          const text = await res.clone().text()
          expect(res.status, `${w.name} ${JSON.stringify(body)}: ${text}`).toBe(400)
          expect(res.headers.get('content-type')).toBe('application/problem+json')
          const problem = await json(res)
          expect(problem.error_code, text).toBe('VALIDATION_ERROR')
          expect(Array.isArray(problem.errors), text).toBe(true)
        }
      }
      expect(await json(await t.request('/api/v1/tasks', { as: user }))).toHaveLength(2 * 5) // only the tasks the PATCH and PUT writers made to update, one per body each
    })

    test('toggle: an optional body, but one that is not an object is a 400 VALIDATION_ERROR and changes nothing', async () => {
      const t = ctx()
      const user = newUser()
      const task = await createTask(t, user)
      for (const body of [[{ completed: true }], [], 'Buy milk', 42, true]) {
        const res = await t.request(`/api/v1/tasks/${task.id}/toggle`, { method: 'PATCH', as: user, json: body })
        const text = await res.clone().text()
        expect(res.status, `${JSON.stringify(body)}: ${text}`).toBe(400)
        expect(res.headers.get('content-type')).toBe('application/problem+json')
        expect((await json(res)).error_code, text).toBe('VALIDATION_ERROR')
      }
      expect(await get(t, user, task.id)).toEqual(task)
    })
  })

  describe('lifecycle', () => {
    test('a new task has the contract\'s shape: UUIDv7 id, version 1, RFC 3339 UTC timestamps with milliseconds', async () => {
      const t = ctx()
      const user = newUser()
      const before = Date.now()
      const task = await createTask(t, user, { title: 'Buy milk' })
      const after = Date.now()
      expect(Object.keys(task).sort()).toEqual(taskKeys)
      expect(task).toMatchObject({ user_id: user, list_id: null, title: 'Buy milk', description: null, completed: false, completed_at: null, priority: 'none', due_at: null, position: 'a0', version: 1 })
      expect(task.id).toMatch(uuidV7)
      expect(task.created_at).toMatch(instant)
      expect(task.updated_at).toBe(task.created_at)
      const created = Date.parse(task.created_at)
      expect(created).toBeGreaterThanOrEqual(before - 1000)
      expect(created).toBeLessThanOrEqual(after + 1000)
      // a UUIDv7's first 48 bits are its creation time in milliseconds
      const idTime = parseInt(task.id.replaceAll('-', '').slice(0, 12), 16)
      expect(Math.abs(idTime - created)).toBeLessThan(5000)
    })

    test('ids are distinct and grow with creation time', async () => {
      const t = ctx()
      const user = newUser()
      const ids: string[] = []
      for (let i = 0; i < 5; i++) {
        const task = await createTask(t, user)
        expect(task.id).toMatch(uuidV7)
        ids.push(task.id)
        await sleep(2)
      }
      expect(new Set(ids).size).toBe(5)
      expect([...ids].sort()).toEqual(ids)
    })

    test('version grows by one on every PATCH, PUT and toggle; updated_at moves forward; created_at stays', async () => {
      const t = ctx()
      const user = newUser()
      let task = await createTask(t, user)
      expect(task.version).toBe(1)
      const steps: [string, () => Promise<Task>][] = [
        ['PATCH', () => send(t, user, 'PATCH', task.id, { title: 'patched' })],
        ['PUT', () => send(t, user, 'PUT', task.id, { priority: 'high' })],
        ['toggle', () => send(t, user, 'PATCH', `${task.id}/toggle`)],
        ['toggle with body', () => send(t, user, 'PATCH', `${task.id}/toggle`, { completed: false })],
        ['PATCH due_at', () => send(t, user, 'PATCH', task.id, { due_at: '2030-01-01T00:00:00Z' })],
      ]
      for (const [name, step] of steps) {
        await sleep(5)
        const next = await step()
        expect(next.version, name).toBe(task.version + 1)
        expect(next.updated_at, name).toMatch(instant)
        expect(next.updated_at > task.updated_at, `${name}: ${next.updated_at} > ${task.updated_at}`).toBe(true)
        expect(next.created_at, name).toBe(task.created_at)
        expect(next.id, name).toBe(task.id)
        expect(await get(t, user, task.id), name).toEqual(next)
        task = next
      }
      expect(task).toMatchObject({ title: 'patched', priority: 'high', completed: false, due_at: '2030-01-01T00:00:00.000Z', version: 6 })
    })

    test('PUT has PATCH\'s partial semantics: fields not sent are kept', async () => {
      const t = ctx()
      const user = newUser()
      const task = await createTask(t, user, { title: 'keep me', description: 'and me', priority: 'low', due_at: '2026-12-01T10:00:00Z' })
      const updated = await send(t, user, 'PUT', task.id, { priority: 'high' })
      expect(updated).toEqual({ ...task, priority: 'high', version: 2, updated_at: updated.updated_at })
    })

    test('PATCH with {} changes nothing: the task comes back as it was, version untouched', async () => {
      const t = ctx()
      const user = newUser()
      const task = await createTask(t, user, { description: 'd', priority: 'medium' })
      await sleep(5)
      expect(await send(t, user, 'PATCH', task.id, {})).toEqual(task)
      expect(await send(t, user, 'PUT', task.id, {})).toEqual(task)
      expect(await get(t, user, task.id)).toEqual(task)
    })

    test('completed_at: set by create with completed true, null otherwise', async () => {
      const t = ctx()
      const user = newUser()
      const done = await createTask(t, user, { completed: true })
      expect(done.completed).toBe(true)
      expect(done.completed_at).toMatch(instant)
      expect(done.completed_at! >= done.created_at).toBe(true)
      const open = await createTask(t, user, { completed: false })
      expect(open.completed).toBe(false)
      expect(open.completed_at).toBeNull()
    })

    for (const method of ['PATCH', 'PUT'] as const) {
      test(`completed_at via ${method}: set when completed becomes true, kept when set true again, cleared when false`, async () => {
        const t = ctx()
        const user = newUser()
        const task = await createTask(t, user)
        await sleep(5)
        const done = await send(t, user, method, task.id, { completed: true })
        expect(done.completed).toBe(true)
        expect(done.completed_at).toMatch(instant)
        expect(done.completed_at! > task.updated_at).toBe(true)
        expect(done.completed_at! <= done.updated_at).toBe(true)
        await sleep(5)
        const again = await send(t, user, method, task.id, { completed: true, title: 'renamed' })
        expect(again.completed).toBe(true)
        expect(again.completed_at).toBe(done.completed_at)
        const notCompletedChange = await send(t, user, method, task.id, { title: 'renamed again' })
        expect(notCompletedChange.completed_at).toBe(done.completed_at)
        const undone = await send(t, user, method, task.id, { completed: false })
        expect(undone.completed).toBe(false)
        expect(undone.completed_at).toBeNull()
        expect(await get(t, user, task.id)).toEqual(undone)
      })
    }

    test('toggle flips completed, setting and clearing completed_at', async () => {
      const t = ctx()
      const user = newUser()
      const task = await createTask(t, user)
      await sleep(5)
      const on = await send(t, user, 'PATCH', `${task.id}/toggle`)
      expect(on).toMatchObject({ completed: true, version: 2 })
      expect(on.completed_at).toMatch(instant)
      expect(on.completed_at! > task.updated_at).toBe(true)
      const off = await send(t, user, 'PATCH', `${task.id}/toggle`)
      expect(off).toMatchObject({ completed: false, completed_at: null, version: 3 })
      const onAgain = await send(t, user, 'PATCH', `${task.id}/toggle`)
      expect(onAgain).toMatchObject({ completed: true, version: 4 })
      expect(onAgain.completed_at).toMatch(instant)
      expect(await get(t, user, task.id)).toEqual(onAgain)
    })

    test('toggle with {"completed": true} sets it, and keeps completed_at when already set', async () => {
      const t = ctx()
      const user = newUser()
      const task = await createTask(t, user)
      const on = await send(t, user, 'PATCH', `${task.id}/toggle`, { completed: true })
      expect(on.completed).toBe(true)
      expect(on.completed_at).toMatch(instant)
      await sleep(5)
      const still = await send(t, user, 'PATCH', `${task.id}/toggle`, { completed: true })
      expect(still.completed).toBe(true)
      expect(still.completed_at).toBe(on.completed_at)
    })

    test('toggle with {"completed": false} sets false, from true and from false', async () => {
      const t = ctx()
      const user = newUser()
      const task = await createTask(t, user, { completed: true })
      const off = await send(t, user, 'PATCH', `${task.id}/toggle`, { completed: false })
      expect(off).toMatchObject({ completed: false, completed_at: null })
      const stillOff = await send(t, user, 'PATCH', `${task.id}/toggle`, { completed: false })
      expect(stillOff).toMatchObject({ completed: false, completed_at: null })
      expect((await get(t, user, task.id)).completed).toBe(false)
    })

    test('toggle with an empty object flips, as with no body', async () => {
      const t = ctx()
      const user = newUser()
      const task = await createTask(t, user)
      expect((await send(t, user, 'PATCH', `${task.id}/toggle`, {})).completed).toBe(true)
      expect((await send(t, user, 'PATCH', `${task.id}/toggle`, {})).completed).toBe(false)
    })
  })

  describe('create and delete responses', () => {
    test('POST is 201 with the task and a Location under the path family it was made on', async () => {
      const t = ctx()
      const user = newUser()
      for (const base of ['/api/v1', '/api', `/api/${user}`]) {
        const res = await t.request(`${base}/tasks`, { method: 'POST', as: user, json: { title: 'located' } })
        expect(res.status, await res.clone().text()).toBe(201)
        expect(res.headers.get('content-type')).toMatch(jsonType)
        const task = await json<Task>(res)
        expect(res.headers.get('location')).toBe(`${base}/tasks/${task.id}`)
        expect(await get(t, user, task.id)).toEqual(task)
        // the Location resolves to the task
        const there = await t.request(res.headers.get('location')!, { as: user })
        expect(there.status).toBe(200)
        expect(await json(there)).toEqual(task)
      }
    })

    test('DELETE is 204 with an empty body; the task is then 404, and deleting it again is 404', async () => {
      const t = ctx()
      const user = newUser()
      const task = await createTask(t, user)
      const res = await t.request(`/api/v1/tasks/${task.id}`, { method: 'DELETE', as: user })
      expect(res.status).toBe(204)
      expect(await res.text()).toBe('')
      const after = await t.request(`/api/v1/tasks/${task.id}`, { as: user })
      expect(after.status).toBe(404)
      expect(await json(after)).toMatchObject({ error_code: 'TASK_NOT_FOUND', status: 404 })
      const again = await t.request(`/api/v1/tasks/${task.id}`, { method: 'DELETE', as: user })
      expect(again.status).toBe(404)
      expect(await json(again)).toMatchObject({ error_code: 'TASK_NOT_FOUND', status: 404 })
      expect(await json(await t.request('/api/v1/tasks', { as: user }))).toEqual([])
    })
  })
})
