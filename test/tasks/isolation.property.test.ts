// Isolation, property-tested: random sequences of operations by three users over every endpoint
// (lists and moves included) and all three path families, checked after every step against an
// in-memory model of what each user should see. No response may ever carry another user's id or text. Replay a failure with
// FC_SEED=<seed> (fast-check prints the seed and the shrunk path).
import { expect, test } from 'bun:test'
import fc from 'fast-check'
import { appOn, json, type TestApp } from '../support/app'
import { families } from '../support/endpoints'

interface ModelTask {
  id: string
  user_id: string
  list_id: string | null
  title: string
  description: string | null
  completed: boolean
  priority: string
  due_at: string | null
  version: number
}

interface ModelList {
  id: string
  user_id: string
  name: string
  version: number
}

interface Model {
  users: string[]
  tasks: Map<string, ModelTask>
  lists: Map<string, ModelList>
}

interface Real {
  t: TestApp
  /** Every id ever seen, deleted ones included, so commands can aim at them. */
  ids: string[]
  listIds: string[]
}

const RUNS = Number(process.env.FC_RUNS ?? 200)
const MISSING = '01936b2e-7c4f-7a10-9d8e-4a3b2c1d0e5f'

const app = appOn() // PGlite

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

function pickList(real: Real, index: number) {
  return index < real.listIds.length ? real.listIds[index]! : MISSING
}

/** Any id seen so far (deleted ones included), or the missing one for the highest index. */
function pickAny(ids: string[], index: number, max = 8) {
  return index === max || ids.length === 0 ? MISSING : ids[index % ids.length]!
}

const owns = (model: Model, user: string, listId: string) => model.lists.get(listId)?.user_id === user

/** What a response must never carry: any other user's id or any of their task text. */
function assertNoLeak(model: Model, viewer: string, body: string) {
  for (const other of model.users) if (other !== viewer) expect(body).not.toContain(other)
  for (const task of model.tasks.values()) {
    if (task.user_id === viewer) continue
    expect(body).not.toContain(`«${task.id}»`)
    expect(body).not.toContain(task.title)
  }
  for (const list of model.lists.values()) if (list.user_id !== viewer) expect(body).not.toContain(list.name)
}

const visible = (task: ModelTask) => ({
  id: task.id,
  user_id: task.user_id,
  list_id: task.list_id,
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

/** Checks a task-targeting answer: the owner gets `ok` (or `bad`, when the body is not valid for them), another user 403, a missing id 404. */
function expectOutcome(model: Model, user: string, id: string, status: number, ok: number, bad = false) {
  const task = model.tasks.get(id)
  const expected = task === undefined ? 404 : task.user_id !== user ? 403 : bad ? 400 : ok
  expect(status).toBe(expected)
  return expected === ok ? task! : undefined
}

/** The same for a list-targeting answer. */
function expectListOutcome(model: Model, user: string, id: string, status: number, ok: number, bad = false) {
  const list = model.lists.get(id)
  const expected = list === undefined ? 404 : list.user_id !== user ? 403 : bad ? 400 : ok
  expect(status).toBe(expected)
  return expected === ok ? list! : undefined
}

type Command = fc.AsyncCommand<Model, Real>

const command = (name: string, run: (model: Model, real: Real) => Promise<void>): Command => ({
  check: () => true,
  run,
  toString: () => name,
})

// Half the tasks go into a list: any live list of any user, or a missing one.
const listTarget = fc.option(fc.nat({ max: 4 }), { nil: undefined, freq: 1 })

const create = fc.tuple(userIndex, family, text, patch, listTarget).map(([u, f, title, p, l]) =>
  command(`create(u${u}, ${f.name}, ${JSON.stringify(p)}, list #${l})`, async (model, real) => {
    const user = model.users[u]!
    const listId = l === undefined ? undefined : pickAny([...model.lists.keys()], l, 4)
    // Titles carry the user's marker so a leak of text is recognisable.
    const body = { ...p, title: `${user} ${title}`, ...(listId && { list_id: listId }) }
    const res = await send(model, real, user, `${f.base(user)}/tasks`, { method: 'POST', json: body })
    if (listId && !owns(model, user, listId)) {
      expect(res.status).toBe(400)
      return
    }
    expect(res.status).toBe(201)
    const task: ModelTask = {
      id: res.body.id,
      user_id: user,
      list_id: listId ?? null,
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

// Aimed at the first few ids, so that many moves find their task and anchor.
const near = fc.nat({ max: 8 })
/** How the moves that passed the body checks were answered, over all runs. */
const outcomes = new Map<number, number>()
const moveTask = fc
  .tuple(fc.option(userIndex, { nil: undefined, freq: 2 }), near, fc.constantFrom('top', 'after', 'before'), near, listTarget, fc.boolean())
  .map(([u, i, where, j, l, toInbox]) =>
    command(`move(${u === undefined ? 'owner' : `u${u}`}, #${i}, ${where} #${j}, list #${l}${toInbox ? ' or inbox' : ''})`, async (model, real) => {
      // Live tasks and lists of any user (deleted ids are the other commands' business).
      const live = [...model.tasks.keys()]
      const id = pickAny(live, i)
      // Mostly the task's owner, sometimes another user.
      const user = u === undefined ? (model.tasks.get(id)?.user_id ?? model.users[0]!) : model.users[u]!
      const anchor = pickAny(live, j)
      const listId = l !== undefined ? pickAny([...model.lists.keys()], l, 4) : toInbox ? null : undefined
      const body = { ...(where !== 'top' && { [where]: anchor }), ...(listId !== undefined && { list_id: listId }) }
      const res = await send(model, real, user, `/api/v1/tasks/${id}/move`, { method: 'POST', json: body })
      if (where !== 'top' && anchor === id) {
        expect(res.status).toBe(400) // a body error, before any lookup
        return
      }
      const task = model.tasks.get(id)
      const targetList = listId !== undefined ? listId : task?.list_id ?? null
      const anchorTask = model.tasks.get(anchor)
      const bad =
        (typeof listId === 'string' && !owns(model, user, listId)) ||
        (where !== 'top' && (anchorTask?.user_id !== user || anchorTask.list_id !== targetList))
      const moved = expectOutcome(model, user, id, res.status, 200, bad)
      outcomes.set(res.status, (outcomes.get(res.status) ?? 0) + 1)
      if (!moved) return
      moved.list_id = targetList
      moved.version++
      expect(res.body).toMatchObject(visible(moved))
    }),
  )

const createList = fc.tuple(userIndex, text).map(([u, name]) =>
  command(`create-list(u${u})`, async (model, real) => {
    const user = model.users[u]!
    const body = { name: `${user} ${name}` }
    const res = await send(model, real, user, '/api/v1/lists', { method: 'POST', json: body })
    expect(res.status).toBe(201)
    const list: ModelList = { id: res.body.id, user_id: user, name: body.name.trim(), version: 1 }
    expect(res.body).toMatchObject({ id: list.id, name: list.name, version: 1 })
    model.lists.set(list.id, list)
    real.listIds.push(list.id)
  }),
)

const getList = fc.tuple(userIndex, fc.nat({ max: 12 })).map(([u, l]) =>
  command(`get-list(u${u}, #${l})`, async (model, real) => {
    const user = model.users[u]!
    const id = pickList(real, l)
    const res = await send(model, real, user, `/api/v1/lists/${id}`)
    const list = expectListOutcome(model, user, id, res.status, 200)
    if (list) expect(res.body).toMatchObject({ id, name: list.name, version: list.version })
  }),
)

const renameList = fc.tuple(userIndex, fc.nat({ max: 12 }), text).map(([u, l, name]) =>
  command(`rename-list(u${u}, #${l})`, async (model, real) => {
    const user = model.users[u]!
    const id = pickList(real, l)
    const body = { name: `${user} ${name}` }
    const res = await send(model, real, user, `/api/v1/lists/${id}`, { method: 'PATCH', json: body })
    const list = expectListOutcome(model, user, id, res.status, 200)
    if (!list) return
    list.name = body.name.trim()
    list.version++
    expect(res.body).toMatchObject({ id, name: list.name, version: list.version })
  }),
)

const moveList = fc.tuple(userIndex, fc.nat({ max: 12 }), fc.constantFrom('top', 'after', 'before'), fc.nat({ max: 12 })).map(([u, l, where, a]) =>
  command(`move-list(u${u}, #${l}, ${where} #${a})`, async (model, real) => {
    const user = model.users[u]!
    const id = pickList(real, l)
    const anchor = pickList(real, a)
    const res = await send(model, real, user, `/api/v1/lists/${id}/move`, { method: 'POST', json: where === 'top' ? {} : { [where]: anchor } })
    if (where !== 'top' && anchor === id) {
      expect(res.status).toBe(400)
      return
    }
    const list = expectListOutcome(model, user, id, res.status, 200, where !== 'top' && !owns(model, user, anchor))
    if (!list) return
    list.version++
    expect(res.body).toMatchObject({ id, name: list.name, version: list.version })
  }),
)

const deleteList = fc.tuple(userIndex, fc.nat({ max: 12 })).map(([u, l]) =>
  command(`delete-list(u${u}, #${l})`, async (model, real) => {
    const user = model.users[u]!
    const id = pickList(real, l)
    const res = await send(model, real, user, `/api/v1/lists/${id}`, { method: 'DELETE' })
    if (!expectListOutcome(model, user, id, res.status, 204)) return
    model.lists.delete(id)
    for (const task of [...model.tasks.values()]) if (task.list_id === id) model.tasks.delete(task.id)
  }),
)

const allLists = fc.tuple(userIndex, fc.option(fc.nat({ max: 12 }), { nil: undefined })).map(([u, l]) =>
  command(`lists(u${u}, tasks of #${l})`, async (model, real) => {
    const user = model.users[u]!
    const res = await send(model, real, user, '/api/v1/lists')
    expect(res.status).toBe(200)
    const mine = [...model.lists.values()].filter((list) => list.user_id === user)
    expect((res.body as ModelList[]).map((list) => list.id).sort()).toEqual(mine.map((list) => list.id).sort())
    if (l === undefined) return
    const listId = pickList(real, l)
    const tasks = await send(model, real, user, `/api/v1/tasks?list_id=${listId}&sort=position&limit=1000`)
    if (!owns(model, user, listId)) {
      expect(tasks.status).toBe(400)
      return
    }
    expect(tasks.status).toBe(200)
    const expected = [...model.tasks.values()].filter((task) => task.list_id === listId).map((task) => task.id)
    expect((tasks.body as ModelTask[]).map((task) => task.id).sort()).toEqual(expected.sort())
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
    fc.asyncProperty(
      fc.commands([create, create, create, create, get, update, toggle, remove, list, stats, clear, foreignPath, createList, createList, getList, renameList, moveList, deleteList, allLists, moveTask, moveTask, moveTask], { maxCommands: 30, size: 'max' }),
      async (commands) => {
      const run = crypto.randomUUID().slice(0, 8)
      const setup = () => ({
        model: { users: [`ua${run}`, `ub${run}`, `uc${run}`], tasks: new Map<string, ModelTask>(), lists: new Map<string, ModelList>() },
        real: { t: app(), ids: [] as string[], listIds: [] as string[] },
      })
      await fc.asyncModelRun(setup, commands)
    },
    ),
    { numRuns: RUNS, ...(process.env.FC_SEED && { seed: Number(process.env.FC_SEED) }), verbose: 1 },
  )
  // The moves reached every answer: done, another user's task, a body naming what is not the caller's, missing.
  expect([...outcomes.keys()].sort()).toEqual([200, 400, 403, 404])
}, 600_000)
