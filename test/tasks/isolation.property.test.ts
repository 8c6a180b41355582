// Isolation, property-tested: random sequences of operations by three users over every endpoint and
// all three path families, checked after every step against an in-memory model of what each user
// should see. No response may ever carry another user's id or text. Replay a failure with
// FC_SEED=<seed> (fast-check prints the seed and the shrunk path).
import { afterAll, beforeAll, expect, test } from 'bun:test'
import fc from 'fast-check'
import { createTestApp, json, type TestApp } from '../support/app'
import { drivers, type TestDatabase } from '../support/databases'
import { families } from '../support/endpoints'

interface ModelTask {
  id: string
  user_id: string
  title: string
  description: string | null
  completed: boolean
  priority: string
  due_at: string | null
  version: number
}

interface Model {
  users: string[]
  tasks: Map<string, ModelTask>
}

interface Real {
  t: TestApp
  /** Every id ever seen, deleted ones included, so commands can aim at them. */
  ids: string[]
}

const RUNS = Number(process.env.FC_RUNS ?? 200)
const MISSING = '01936b2e-7c4f-7a10-9d8e-4a3b2c1d0e5f'

let database: TestDatabase
let t: TestApp
beforeAll(async () => {
  database = await drivers[0]!.create() // PGlite
  t = await createTestApp(database)
}, 60_000)
afterAll(() => database?.drop())

const userIndex = fc.nat({ max: 2 })
const family = fc.constantFrom(...families)
const text = fc.string({ minLength: 1, maxLength: 20 }).filter((s) => s.trim().length > 0 && !s.includes('\u0000'))
const priority = fc.constantFrom('none', 'low', 'medium', 'high')
const target = fc.nat({ max: 50 }) // an index into the ids seen so far; past the end, a missing id
const patch = fc.record(
  {
    title: text,
    description: fc.option(text, { nil: null }),
    completed: fc.boolean(),
    priority,
    due_at: fc.option(fc.constantFrom('2020-01-01T00:00:00.000Z', '2030-06-15T12:30:00.000Z'), { nil: null }),
  },
  { requiredKeys: [] },
)

function pick(real: Real, index: number) {
  return index < real.ids.length ? real.ids[index]! : MISSING
}

/** What a response must never carry: any other user's id or any of their task text. */
function assertNoLeak(model: Model, viewer: string, body: string) {
  for (const other of model.users) if (other !== viewer) expect(body).not.toContain(other)
  for (const task of model.tasks.values()) {
    if (task.user_id === viewer) continue
    expect(body).not.toContain(`«${task.id}»`)
    expect(body).not.toContain(task.title)
  }
}

const visible = (task: ModelTask) => ({
  id: task.id,
  user_id: task.user_id,
  title: task.title,
  description: task.description,
  completed: task.completed,
  priority: task.priority,
  due_at: task.due_at,
  version: task.version,
})

async function send(model: Model, real: Real, user: string, path: string, init: { method?: string; json?: unknown } = {}) {
  const res = await real.t.request(path, { as: user, ...init })
  const body = await res.text()
  assertNoLeak(model, user, body)
  return { status: res.status, body: body === '' ? null : JSON.parse(body) }
}

/** Checks a task-targeting answer: the owner gets `ok`, another user 403, a missing id 404. */
function expectOutcome(model: Model, user: string, id: string, status: number, ok: number) {
  const task = model.tasks.get(id)
  const expected = task === undefined ? 404 : task.user_id === user ? ok : 403
  expect(status).toBe(expected)
  return expected === ok ? task! : undefined
}

type Command = fc.AsyncCommand<Model, Real>

const command = (name: string, run: (model: Model, real: Real) => Promise<void>): Command => ({
  check: () => true,
  run,
  toString: () => name,
})

const create = fc.tuple(userIndex, family, text, patch).map(([u, f, title, p]) =>
  command(`create(u${u}, ${f.name}, ${JSON.stringify(p)})`, async (model, real) => {
    const user = model.users[u]!
    // Titles carry the user's marker so a leak of text is recognisable.
    const body = { ...p, title: `${user} ${title}` }
    const res = await send(model, real, user, `${f.base(user)}/tasks`, { method: 'POST', json: body })
    expect(res.status).toBe(201)
    const task: ModelTask = {
      id: res.body.id,
      user_id: user,
      title: body.title.trim(),
      description: p.description ?? null,
      completed: p.completed ?? false,
      priority: p.priority ?? 'none',
      due_at: p.due_at ?? null,
      version: 1,
    }
    expect(res.body).toMatchObject(visible(task))
    model.tasks.set(task.id, task)
    real.ids.push(task.id)
  }),
)

const get = fc.tuple(userIndex, family, target).map(([u, f, i]) =>
  command(`get(u${u}, ${f.name}, #${i})`, async (model, real) => {
    const user = model.users[u]!
    const id = pick(real, i)
    const res = await send(model, real, user, `${f.base(user)}/tasks/${id}`)
    const task = expectOutcome(model, user, id, res.status, 200)
    if (task) expect(res.body).toMatchObject(visible(task))
  }),
)

const update = fc.tuple(userIndex, family, target, patch, fc.constantFrom('PATCH', 'PUT')).map(([u, f, i, p, method]) =>
  command(`${method.toLowerCase()}(u${u}, ${f.name}, #${i}, ${JSON.stringify(p)})`, async (model, real) => {
    const user = model.users[u]!
    const id = pick(real, i)
    const body = p.title === undefined ? p : { ...p, title: `${user} ${p.title}` }
    const res = await send(model, real, user, `${f.base(user)}/tasks/${id}`, { method, json: body })
    const task = expectOutcome(model, user, id, res.status, 200)
    if (!task) return
    if (Object.keys(p).length > 0) {
      Object.assign(task, { ...body, ...(body.title !== undefined && { title: body.title.trim() }) })
      task.version++
    }
    expect(res.body).toMatchObject(visible(task))
    expect(res.body.completed_at === null).toBe(!task.completed)
  }),
)

const toggle = fc.tuple(userIndex, family, target, fc.option(fc.boolean(), { nil: undefined })).map(([u, f, i, completed]) =>
  command(`toggle(u${u}, ${f.name}, #${i}, ${completed})`, async (model, real) => {
    const user = model.users[u]!
    const id = pick(real, i)
    const res = await send(model, real, user, `${f.base(user)}/tasks/${id}/toggle`, {
      method: 'PATCH',
      ...(completed !== undefined && { json: { completed } }),
    })
    const task = expectOutcome(model, user, id, res.status, 200)
    if (!task) return
    task.completed = completed ?? !task.completed
    task.version++
    expect(res.body).toMatchObject(visible(task))
  }),
)

const remove = fc.tuple(userIndex, family, target).map(([u, f, i]) =>
  command(`delete(u${u}, ${f.name}, #${i})`, async (model, real) => {
    const user = model.users[u]!
    const id = pick(real, i)
    const res = await send(model, real, user, `${f.base(user)}/tasks/${id}`, { method: 'DELETE' })
    if (expectOutcome(model, user, id, res.status, 204)) model.tasks.delete(id)
  }),
)

const list = fc.tuple(userIndex, family, fc.constantFrom('all', 'pending', 'completed')).map(([u, f, status]) =>
  command(`list(u${u}, ${f.name}, ${status})`, async (model, real) => {
    const user = model.users[u]!
    const res = await send(model, real, user, `${f.base(user)}/tasks?status=${status}&limit=1000&sort=created_at`)
    expect(res.status).toBe(200)
    const expected = [...model.tasks.values()]
      .filter((task) => task.user_id === user && (status === 'all' || task.completed === (status === 'completed')))
      .map((task) => task.id)
    expect((res.body as ModelTask[]).map((task) => task.id).sort()).toEqual(expected.sort())
    for (const task of res.body as ModelTask[]) expect(task).toMatchObject(visible(model.tasks.get(task.id)!))
  }),
)

const stats = fc.tuple(userIndex, family).map(([u, f]) =>
  command(`stats(u${u}, ${f.name})`, async (model, real) => {
    const user = model.users[u]!
    const res = await send(model, real, user, `${f.base(user)}/tasks/stats`)
    const mine = [...model.tasks.values()].filter((task) => task.user_id === user)
    const completed = mine.filter((task) => task.completed).length
    const overdue = mine.filter((task) => !task.completed && task.due_at !== null && Date.parse(task.due_at) < Date.now()).length
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ total: mine.length, completed, pending: mine.length - completed, overdue })
  }),
)

const clear = fc.tuple(userIndex, family).map(([u, f]) =>
  command(`clear(u${u}, ${f.name})`, async (model, real) => {
    const user = model.users[u]!
    const res = await send(model, real, user, `${f.base(user)}/tasks?status=completed`, { method: 'DELETE' })
    const done = [...model.tasks.values()].filter((task) => task.user_id === user && task.completed)
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ deleted: done.length })
    for (const task of done) model.tasks.delete(task.id)
  }),
)

const foreignPath = fc.tuple(userIndex, fc.nat({ max: 1 }), target).map(([u, offset, i]) =>
  command(`foreign-path(u${u}, +${offset + 1}, #${i})`, async (model, real) => {
    const user = model.users[u]!
    const other = model.users[(u + offset + 1) % 3]!
    const res = await send(model, real, user, `/api/${other}/tasks/${pick(real, i)}`)
    expect(res.status).toBe(403)
  }),
)

test(`isolation holds over ${RUNS} random sequences of three users' operations [pglite]`, async () => {
  await fc.assert(
    fc.asyncProperty(fc.commands([create, create, get, update, toggle, remove, list, stats, clear, foreignPath], { maxCommands: 25 }), async (commands) => {
      const run = crypto.randomUUID().slice(0, 8)
      const setup = () => ({
        model: { users: [`ua${run}`, `ub${run}`, `uc${run}`], tasks: new Map<string, ModelTask>() },
        real: { t, ids: [] as string[] },
      })
      await fc.asyncModelRun(setup, commands)
    }),
    { numRuns: RUNS, ...(process.env.FC_SEED && { seed: Number(process.env.FC_SEED) }), verbose: 1 },
  )
}, 600_000)
