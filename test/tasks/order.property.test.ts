// Manual order, property-tested: random sequences of task creates, moves (after, before, top, across
// lists), list_id changes, deletes, and list creates, moves and deletes, checked after every step
// against a model array per list. Then 10,000 moves into one gap. Replay a failure with
// FC_SEED=<seed>.
import { expect, test } from 'bun:test'
import fc from 'fast-check'
import { keyBetween, respaced, type Anchor, type Placement } from '../../src/db/positions'
import { appOn, json, type TestApp } from '../support/app'
import { expectOrdered, idsOf, listsOf, tasksIn } from '../support/factories'

const RUNS = Number(process.env.FC_RUNS ?? 40)

interface Model {
  user: string
  /** The lists, in order. */
  lists: string[]
  /** Each list's tasks in order; the inbox under null. */
  tasks: Map<string | null, string[]>
}

const app = appOn() // PGlite

type Command = fc.AsyncCommand<Model, TestApp>
const command = (name: string, check: (m: Model) => boolean, run: (model: Model, t: TestApp) => Promise<void>): Command => ({
  check,
  run: async (model, t) => {
    await run(model, t)
    await expectModel(model, t)
  },
  toString: () => name,
})

const allTasks = (m: Model) => [...m.tasks.values()].flat()
const listOf = (m: Model, id: string) => [...m.tasks].find(([, ids]) => ids.includes(id))![0]
const nth = <T>(items: readonly T[], i: number) => items[i % items.length]!
/** The list the index picks: the inbox, or one of the lists. */
const pickList = (m: Model, i: number) => (i % (m.lists.length + 1) === 0 ? null : m.lists[(i % (m.lists.length + 1)) - 1]!)

async function expectModel(m: Model, t: TestApp) {
  expect(idsOf(await listsOf(t, m.user))).toEqual(m.lists)
  for (const [listId, ids] of m.tasks) {
    const tasks = await tasksIn(t, m.user, listId)
    expect(idsOf(tasks), `list ${listId}`).toEqual(ids)
    expectOrdered(tasks)
  }
}

async function call(t: TestApp, m: Model, method: string, path: string, body?: unknown, status = 200) {
  const res = await t.request(path, { method, as: m.user, json: body })
  expect(res.status, `${method} ${path} ${JSON.stringify(body)}: ${await res.clone().text()}`).toBe(status)
  return status === 204 ? null : json(res)
}

const createTask = fc.nat().map((l) =>
  command(`create-task(list ${l})`, () => true, async (m, t) => {
    const listId = pickList(m, l)
    const task = await call(t, m, 'POST', '/api/v1/tasks', { title: 'task', ...(listId && { list_id: listId }) }, 201)
    m.tasks.get(listId)!.unshift(task.id)
  }),
)

const moveTask = fc.tuple(fc.nat(), fc.constantFrom('top', 'after', 'before'), fc.nat(), fc.option(fc.nat(), { nil: undefined })).map(([i, where, a, l]) =>
  command(`move-task(#${i}, ${where} #${a}, list ${l})`, (m) => allTasks(m).length > 0, async (m, t) => {
    const id = nth(allTasks(m), i)
    const target = l === undefined ? listOf(m, id) : pickList(m, l)
    const candidates = m.tasks.get(target)!.filter((x) => x !== id)
    const anchor = where === 'top' || candidates.length === 0 ? undefined : nth(candidates, a)
    const body = { ...(anchor && { [where]: anchor }), ...(l !== undefined && { list_id: target }) }
    const moved = await call(t, m, 'POST', `/api/v1/tasks/${id}/move`, body)
    expect(moved.list_id).toBe(target)
    const from = m.tasks.get(listOf(m, id))!
    from.splice(from.indexOf(id), 1)
    const to = m.tasks.get(target)!
    to.splice(anchor === undefined ? 0 : to.indexOf(anchor) + (where === 'after' ? 1 : 0), 0, id)
  }),
)

const patchList = fc.tuple(fc.nat(), fc.nat()).map(([i, l]) =>
  command(`patch-list-id(#${i}, list ${l})`, (m) => allTasks(m).length > 0, async (m, t) => {
    const id = nth(allTasks(m), i)
    const target = pickList(m, l)
    await call(t, m, 'PATCH', `/api/v1/tasks/${id}`, { list_id: target })
    if (listOf(m, id) === target) return // its own list: it stays where it is
    const from = m.tasks.get(listOf(m, id))!
    from.splice(from.indexOf(id), 1)
    m.tasks.get(target)!.unshift(id)
  }),
)

const deleteTask = fc.nat().map((i) =>
  command(`delete-task(#${i})`, (m) => allTasks(m).length > 0, async (m, t) => {
    const id = nth(allTasks(m), i)
    await call(t, m, 'DELETE', `/api/v1/tasks/${id}`, undefined, 204)
    const from = m.tasks.get(listOf(m, id))!
    from.splice(from.indexOf(id), 1)
  }),
)

const createList = fc.constant(
  command('create-list', (m) => m.lists.length < 4, async (m, t) => {
    const list = await call(t, m, 'POST', '/api/v1/lists', { name: 'list' }, 201)
    m.lists.push(list.id)
    m.tasks.set(list.id, [])
  }),
)

const moveList = fc.tuple(fc.nat(), fc.constantFrom('top', 'after', 'before'), fc.nat()).map(([i, where, a]) =>
  command(`move-list(#${i}, ${where} #${a})`, (m) => m.lists.length > 0, async (m, t) => {
    const id = nth(m.lists, i)
    const others = m.lists.filter((x) => x !== id)
    const anchor = where === 'top' || others.length === 0 ? undefined : nth(others, a)
    await call(t, m, 'POST', `/api/v1/lists/${id}/move`, anchor ? { [where]: anchor } : {})
    m.lists = others
    m.lists.splice(anchor === undefined ? 0 : others.indexOf(anchor) + (where === 'after' ? 1 : 0), 0, id)
  }),
)

const deleteList = fc.nat().map((i) =>
  command(`delete-list(#${i})`, (m) => m.lists.length > 0, async (m, t) => {
    const id = nth(m.lists, i)
    await call(t, m, 'DELETE', `/api/v1/lists/${id}`, undefined, 204)
    m.lists = m.lists.filter((x) => x !== id)
    m.tasks.delete(id)
  }),
)

test(`the order of every list matches a model over ${RUNS} random sequences [pglite]`, async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.commands([createTask, createTask, createTask, moveTask, moveTask, moveTask, moveTask, patchList, deleteTask, createList, moveList, deleteList], { maxCommands: 25, size: 'max' }),
      async (commands) => {
        const setup = () => ({ model: { user: `order_${crypto.randomUUID().slice(0, 8)}`, lists: [], tasks: new Map([[null, []]]) } as Model, real: app() })
        await fc.asyncModelRun(setup, commands)
      },
    ),
    { numRuns: RUNS, ...(process.env.FC_SEED && { seed: Number(process.env.FC_SEED) }), verbose: 1 },
  )
}, 600_000)

/**
 * An in-memory collection placed by the service's own key functions (keyBetween, and respaced when
 * no short key fits), with the neighbours the service's indexed lookup would read.
 */
let respacings = 0
function place(items: Anchor[], moving: string, placement: Placement): Anchor[] {
  const others = items.filter((x) => x.id !== moving)
  const at = 'after' in placement ? others.findIndex((x) => x.id === placement.after.id) + 1 : 'before' in placement ? others.findIndex((x) => x.id === placement.before.id) : 0
  const lo = others[at - 1]?.position ?? null
  const hi = others[at]?.position ?? null
  const key = keyBetween(lo, hi)
  if (key !== null) return [...others.slice(0, at), { id: moving, position: key }, ...others.slice(at)]
  respacings++
  const { changed, position } = respaced(others, placement)
  const rekeyed = others.map((x) => changed.find((c) => c.id === x.id) ?? x)
  return [...rekeyed.slice(0, at), { id: moving, position }, ...rekeyed.slice(at)]
}

test('10,000 moves into one gap keep every key at most 64 characters and the order right', () => {
  // Alternately move two items right after `first`: every move halves the same gap.
  let items: Anchor[] = ['first', 'a', 'b', 'last'].map((id, i) => ({ id, position: `a${i}` }))
  let order = ['first', 'a', 'b', 'last']
  for (let i = 0; i < 10_000; i++) {
    const mover = i % 2 === 0 ? 'b' : 'a'
    items = place(items, mover, { after: items.find((x) => x.id === 'first')! })
    order = ['first', mover, ...order.filter((id) => id !== 'first' && id !== mover)]
    expect(items.map((x) => x.id)).toEqual(order)
    for (const [j, item] of items.entries()) {
      expect(item.position.length).toBeLessThanOrEqual(64)
      if (j > 0) expect(items[j - 1]!.position < item.position).toBe(true)
    }
  }
  // A gap holds about 370 halvings in 64 base-62 characters: the list was re-spaced about 27 times.
  expect(respacings).toBeGreaterThan(20)
  expect(respacings).toBeLessThan(40)
})

test('a re-spacing keeps order, gives short keys, and never lowers the first key (so a create racing it stays on top)', () => {
  const rows: Anchor[] = [
    { id: '1', position: 'a5V' },
    { id: '2', position: 'a5V' }, // a tie: no key fits between these two
    { id: '3', position: 'a5Vz' },
    { id: '4', position: 'b01' },
  ]
  for (const placement of [{ at: 'top' }, { at: 'end' }, { after: rows[1]! }, { before: rows[0]! }] as Placement[]) {
    const { changed, position } = respaced(rows, placement)
    const keys = rows.map((r) => changed.find((c) => c.id === r.id)?.position ?? r.position)
    const all = [...keys, position].sort()
    expect(all[0]! > 'a5V').toBe(true)
    expect(new Set(all).size).toBe(5)
    for (let i = 1; i < keys.length; i++) expect(keys[i - 1]! < keys[i]!).toBe(true)
    for (const key of all) expect(key.length).toBeLessThanOrEqual(3)
  }
  expect(respaced(rows, { after: rows[1]! }).position).toBe(respaced(rows, { before: rows[2]! }).position)
})
