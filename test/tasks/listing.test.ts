// Listing tasks: the filters, the six sorts, keyset pagination and its Link header, cursor errors,
// the older path families, stats and clearing completed tasks. Expected orders are computed from the
// task objects the API returned, so ties in created_at (millisecond precision) are handled by id.
import { expect, test } from 'bun:test'
import type { Task } from '../../src/tasks/model'
import { describeEachDriver, json, newUser, type TestApp } from '../support/app'
import { createTask, createTasks } from '../support/factories'
import { expectProblem } from '../support/problems'

type Body = Record<string, unknown>

const rank = { none: 0, low: 1, medium: 2, high: 3 } as const
const sortKeys = ['created_at', 'updated_at', 'due_at', 'priority', 'title', 'position'] as const
const allSorts = sortKeys.flatMap((key) => [key, `-${key}`])

async function patchTask(t: TestApp, user: string, id: string, body: Body): Promise<Task> {
  const res = await t.request(`/api/v1/tasks/${id}`, { method: 'PATCH', as: user, json: body })
  expect(res.status, await res.clone().text()).toBe(200)
  return json(res)
}

async function deleteTask(t: TestApp, user: string, id: string) {
  const res = await t.request(`/api/v1/tasks/${id}`, { method: 'DELETE', as: user })
  expect(res.status, await res.clone().text()).toBe(204)
}

/** GETs a list, expecting 200 and a JSON array. */
async function list(t: TestApp, user: string, path: string): Promise<{ res: Response; tasks: Task[] }> {
  const res = await t.request(path, { as: user })
  expect(res.status, `${path}: ${await res.clone().text()}`).toBe(200)
  expect(res.headers.get('content-type')).toStartWith('application/json')
  const tasks = await json<Task[]>(res)
  expect(Array.isArray(tasks)).toBe(true)
  return { res, tasks }
}

const ids = (tasks: Task[]) => tasks.map((task) => task.id)
const titles = (tasks: Task[]) => tasks.map((task) => task.title)
const byId = (a: Task, b: Task) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
const instant = (s: string) => Date.parse(s)

/**
 * The contract's order for `sort`: by key, ties by id, both in the sort's direction; tasks without
 * a due date last in both directions of due_at. Titles here are ASCII, so lower-casing and comparing
 * code units is the byte order the service promises.
 */
function compareFor(sort: string): (a: Task, b: Task) => number {
  const descending = sort.startsWith('-')
  const key = descending ? sort.slice(1) : sort
  const dir = descending ? -1 : 1
  return (a, b) => {
    let primary: number
    switch (key) {
      case 'created_at':
        primary = instant(a.created_at) - instant(b.created_at)
        break
      case 'updated_at':
        primary = instant(a.updated_at) - instant(b.updated_at)
        break
      case 'due_at':
        if (a.due_at === null && b.due_at !== null) return 1
        if (a.due_at !== null && b.due_at === null) return -1
        primary = a.due_at === null || b.due_at === null ? 0 : instant(a.due_at) - instant(b.due_at)
        break
      case 'priority':
        primary = rank[a.priority] - rank[b.priority]
        break
      case 'title': {
        const [x, y] = [a.title.toLowerCase(), b.title.toLowerCase()]
        primary = x < y ? -1 : x > y ? 1 : 0
        break
      }
      case 'position':
        // Keys are ASCII: comparing code units is the byte order.
        primary = a.position < b.position ? -1 : a.position > b.position ? 1 : 0
        break
      default:
        throw new Error(`unknown sort ${sort}`)
    }
    return dir * (Math.sign(primary) || byId(a, b))
  }
}

const sorted = (tasks: Task[], sort: string) => [...tasks].sort(compareFor(sort))

/** The path and query of the next page from a Link header, or null when there is none. */
function nextPage(res: Response): string | null {
  const link = res.headers.get('link')
  if (link === null) return null
  const m = /^<([^>]+)>; rel="next"$/.exec(link)
  expect(m, `Link: ${link}`).not.toBeNull()
  const url = new URL(m![1]!, 'http://localhost')
  return url.pathname + url.search
}

const paramsOf = (path: string) => new URL(path, 'http://localhost').searchParams
const withoutCursor = (path: string) => [...paramsOf(path)].filter(([k]) => k !== 'cursor')

/**
 * Follows Link headers from `first` to the last page. Every next link must keep the path and the
 * query of the first request and carry one cursor. `between` runs after each page that has a next.
 */
async function walk(
  t: TestApp,
  user: string,
  first: string,
  between?: (seen: Task[], page: Task[]) => Promise<void>,
): Promise<{ pages: Task[][]; responses: Response[] }> {
  const pages: Task[][] = []
  const responses: Response[] = []
  const seen: Task[] = []
  let path: string | null = first
  while (path !== null) {
    if (pages.length > 200) throw new Error('the Link headers never end')
    const { res, tasks } = await list(t, user, path)
    pages.push(tasks)
    responses.push(res)
    seen.push(...tasks)
    path = nextPage(res)
    if (path !== null) {
      expect(new URL(path, 'http://localhost').pathname).toBe(new URL(first, 'http://localhost').pathname)
      expect(withoutCursor(path)).toEqual(withoutCursor(first))
      expect(paramsOf(path).getAll('cursor')).toHaveLength(1)
      if (between) await between(seen, tasks)
    }
  }
  return { pages, responses }
}

/** A 400 VALIDATION_ERROR naming exactly `field`. */
async function expectInvalid(res: Response, field: string) {
  const body = await expectProblem(res, 400, 'VALIDATION_ERROR')
  expect(body.title).toBe('Bad Request')
  expect(body.errors.map((e: { field: string }) => e.field)).toEqual([field])
  expect(body.errors[0].message).toEqual(expect.any(String))
}

async function expectInvalidCursor(res: Response) {
  expect(res.status, await res.clone().text()).toBe(400)
  expect(res.headers.get('content-type')).toBe('application/problem+json')
  expect(res.headers.get('link')).toBeNull()
  const body = await json(res)
  expect(body).toEqual({
    title: 'Bad Request',
    status: 400,
    error_code: 'INVALID_CURSOR',
    status_code: 400,
    detail: expect.any(String),
    request_id: res.headers.get('x-request-id')!,
  })
  expect(body.detail.length).toBeGreaterThan(0)
}

const cursorOf = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

const at = (s: string) => new Date(s).toISOString()
// due_after and due_before boundaries, and dates on either side of them.
const D0 = at('2030-01-01T00:00:00.000Z')
const JUST_BEFORE_D0 = at('2029-12-31T23:59:59.999Z')
const MIDDLE = at('2030-01-01T12:00:00.000Z')
const JUST_BEFORE_D1 = at('2030-01-01T23:59:59.999Z')
const D1 = at('2030-01-02T00:00:00.000Z')
const AFTER_D1 = at('2030-06-01T00:00:00.000Z')

/** Tasks with duplicate titles (differing in case), duplicate priorities and due dates, and no due date. */
const mixedBodies: Body[] = [
  { title: 'Apple', priority: 'high', due_at: D1 },
  { title: 'banana', priority: 'low', due_at: null },
  { title: 'apple', priority: 'high', due_at: D0 },
  { title: 'Cherry', priority: 'none', due_at: D1 },
  { title: 'APPLE', priority: 'low' },
  { title: 'cherry', priority: 'medium', due_at: MIDDLE },
  { title: 'date', priority: 'high', due_at: null },
  { title: 'Banana', priority: 'none', due_at: D0 },
  { title: 'elder', priority: 'low', due_at: MIDDLE, completed: true },
]

/** The mixed set, with two tasks edited afterwards so updated_at differs from created_at order. */
async function createMixed(t: TestApp, user: string): Promise<Task[]> {
  const created = await createTasks(t, user, mixedBodies, { gapMs: 1 })
  await Bun.sleep(2)
  created[0] = await patchTask(t, user, created[0]!.id, { description: 'edited first' })
  await Bun.sleep(2)
  created[4] = await patchTask(t, user, created[4]!.id, { description: 'edited fifth' })
  return created
}

describeEachDriver('listing', (ctx) => {
  // ---- filters ----------------------------------------------------------------------------------

  test('status: all (the default), pending and completed', async () => {
    const t = ctx()
    const user = newUser()
    const [p1, c1, p2, c2] = await createTasks(t, user, [
      { title: 'p1' },
      { title: 'c1', completed: true },
      { title: 'p2' },
      { title: 'c2' },
    ])
    // c2 becomes completed after creation.
    const toggled = await t.request(`/api/v1/tasks/${c2!.id}/toggle`, { method: 'PATCH', as: user })
    expect(toggled.status, await toggled.clone().text()).toBe(200)
    const all = sorted([p1!, c1!, p2!, c2!], '-created_at')

    expect(ids((await list(t, user, '/api/v1/tasks')).tasks)).toEqual(ids(all))
    expect(ids((await list(t, user, '/api/v1/tasks?status=all')).tasks)).toEqual(ids(all))
    expect(ids((await list(t, user, '/api/v1/tasks?status=pending')).tasks)).toEqual(ids(sorted([p1!, p2!], '-created_at')))
    const completed = (await list(t, user, '/api/v1/tasks?status=completed')).tasks
    expect(ids(completed)).toEqual(ids(sorted([c1!, c2!], '-created_at')))
    expect(completed.every((task) => task.completed && task.completed_at !== null)).toBe(true)

    await expectInvalid(await t.request('/api/v1/tasks?status=done', { as: user }), 'status')
  })

  test('priority filter', async () => {
    const t = ctx()
    const user = newUser()
    const created = await createTasks(t, user, [
      { title: 'n', priority: 'none' },
      { title: 'h1', priority: 'high' },
      { title: 'l', priority: 'low' },
      { title: 'h2', priority: 'high' },
      { title: 'default' },
    ])
    for (const priority of ['none', 'low', 'medium', 'high'] as const) {
      const { tasks } = await list(t, user, `/api/v1/tasks?priority=${priority}&sort=title`)
      expect(ids(tasks), priority).toEqual(ids(sorted(created.filter((task) => task.priority === priority), 'title')))
    }
    expect(titles((await list(t, user, '/api/v1/tasks?priority=none&sort=title')).tasks)).toEqual(['default', 'n'])
    expect(titles((await list(t, user, '/api/v1/tasks?priority=medium')).tasks)).toEqual([])
    // combined with status
    await patchTask(t, user, created[1]!.id, { completed: true })
    expect(titles((await list(t, user, '/api/v1/tasks?priority=high&status=pending')).tasks)).toEqual(['h2'])
    expect(titles((await list(t, user, '/api/v1/tasks?priority=high&status=completed')).tasks)).toEqual(['h1'])
    await expectInvalid(await t.request('/api/v1/tasks?priority=urgent', { as: user }), 'priority')
  })

  test('q: case-insensitive substring of title or description', async () => {
    const t = ctx()
    const user = newUser()
    const [milk, honey, none, oatMilk] = await createTasks(t, user, [
      { title: 'Buy MILK' },
      { title: 'Groceries', description: 'milk and honey' },
      { title: 'Walk the dog', description: 'in the park' },
      { title: 'oat', description: 'OAT MiLk' },
    ])
    const expected = ids(sorted([milk!, honey!, oatMilk!], '-created_at'))
    for (const q of ['milk', 'MILK', 'mIlK', 'ilk']) {
      expect(ids((await list(t, user, `/api/v1/tasks?q=${q}`)).tasks), q).toEqual(expected)
    }
    // description only
    expect(ids((await list(t, user, '/api/v1/tasks?q=HONEY')).tasks)).toEqual([honey!.id])
    expect(ids((await list(t, user, '/api/v1/tasks?q=park')).tasks)).toEqual([none!.id])
    // spans a space
    expect(ids((await list(t, user, `/api/v1/tasks?q=${encodeURIComponent('buy m')}`)).tasks)).toEqual([milk!.id])
    expect(ids((await list(t, user, '/api/v1/tasks?q=nothing-matches')).tasks)).toEqual([])
    // combined with other filters
    await patchTask(t, user, milk!.id, { completed: true })
    expect(ids((await list(t, user, '/api/v1/tasks?q=milk&status=pending')).tasks)).toEqual(ids(sorted([honey!, oatMilk!], '-created_at')))
  })

  test('q: % _ and \\ match themselves', async () => {
    const t = ctx()
    const user = newUser()
    const [percent, underscore, axb, backslash, backslashPercent, plain] = await createTasks(t, user, [
      { title: '100% done' },
      { title: 'a_b' },
      { title: 'axb' },
      { title: 'C:\\temp' },
      { title: 'x\\%y' },
      { title: 'nothing special', description: '50 percent' },
    ])
    const search = async (q: string) => ids((await list(t, user, `/api/v1/tasks?q=${encodeURIComponent(q)}&sort=created_at`)).tasks)

    expect(await search('%')).toEqual(ids(sorted([percent!, backslashPercent!], 'created_at')))
    expect(await search('0%')).toEqual([percent!.id])
    expect(await search('100%')).toEqual([percent!.id])
    expect(await search('1%e')).toEqual([])
    expect(await search('_')).toEqual([underscore!.id])
    expect(await search('a_b')).toEqual([underscore!.id])
    expect(await search('x_')).toEqual([])
    expect(await search('\\')).toEqual(ids(sorted([backslash!, backslashPercent!], 'created_at')))
    expect(await search('C:\\')).toEqual([backslash!.id])
    expect(await search('\\%')).toEqual([backslashPercent!.id])
    expect(await search('\\t')).toEqual([backslash!.id])
    // A pattern that would match everything as LIKE matches nothing literal here.
    expect(await search('%%')).toEqual([])
    expect(await search('_%_')).toEqual([])
    // and ordinary text still matches as usual
    expect(await search('percent')).toEqual([plain!.id])
    expect(await search('AXB')).toEqual([axb!.id])
  })

  test('q: at most 200 characters (code points), no NUL', async () => {
    const t = ctx()
    const user = newUser()
    const emojiTitle = '😀'.repeat(200)
    const [long, emoji] = await createTasks(t, user, [{ title: 'a'.repeat(200) }, { title: emojiTitle }])
    expect(ids((await list(t, user, `/api/v1/tasks?q=${'a'.repeat(200)}`)).tasks)).toEqual([long!.id])
    // 200 emoji are 200 characters, though 400 UTF-16 units
    expect(ids((await list(t, user, `/api/v1/tasks?q=${encodeURIComponent(emojiTitle)}`)).tasks)).toEqual([emoji!.id])

    await expectInvalid(await t.request(`/api/v1/tasks?q=${'a'.repeat(201)}`, { as: user }), 'q')
    await expectInvalid(await t.request(`/api/v1/tasks?q=${encodeURIComponent('😀'.repeat(201))}`, { as: user }), 'q')
    await expectInvalid(await t.request('/api/v1/tasks?q=%00', { as: user }), 'q')
    await expectInvalid(await t.request('/api/v1/tasks?q=milk%00', { as: user }), 'q')
  })

  test('due_after is inclusive, due_before exclusive, and either leaves out tasks without a due date', async () => {
    const t = ctx()
    const user = newUser()
    const created = await createTasks(t, user, [
      { title: 'just before after', due_at: JUST_BEFORE_D0 },
      { title: 'at after', due_at: D0 },
      { title: 'middle', due_at: MIDDLE },
      { title: 'just before before', due_at: JUST_BEFORE_D1 },
      { title: 'at before', due_at: D1 },
      { title: 'later', due_at: AFTER_D1 },
      { title: 'no due date' },
    ])
    const byTitle = (...names: string[]) => names.map((name) => created.find((task) => task.title === name)!.id)
    const get = async (query: string) => ids((await list(t, user, `/api/v1/tasks?sort=due_at&${query}`)).tasks)
    const e = encodeURIComponent

    expect(await get(`due_after=${D0}&due_before=${D1}`)).toEqual(byTitle('at after', 'middle', 'just before before'))
    expect(await get(`due_after=${D0}`)).toEqual(byTitle('at after', 'middle', 'just before before', 'at before', 'later'))
    expect(await get(`due_before=${D1}`)).toEqual(byTitle('just before after', 'at after', 'middle', 'just before before'))
    expect(await get(`due_after=${e('2030-01-01T00:00:00.001Z')}`)).toEqual(byTitle('middle', 'just before before', 'at before', 'later'))
    expect(await get(`due_before=${e('2030-01-01T00:00:00.001Z')}`)).toEqual(byTitle('just before after', 'at after'))
    expect(await get(`due_after=${D1}&due_before=${D1}`)).toEqual([])
    // the same instants written with an offset and without milliseconds
    expect(await get(`due_after=${e('2030-01-01T01:00:00+01:00')}&due_before=${e('2030-01-01T19:00:00-05:00')}`)).toEqual(
      byTitle('at after', 'middle', 'just before before'),
    )
    // without either bound the undated task is there, last
    expect(await get('')).toEqual(byTitle('just before after', 'at after', 'middle', 'just before before', 'at before', 'later', 'no due date'))
  })

  test('bad due_after and due_before are 400 naming the field', async () => {
    const t = ctx()
    const user = newUser()
    for (const field of ['due_after', 'due_before']) {
      for (const value of ['tomorrow', '2030-01-01', '2030-01-01T00:00:00', '2030-02-30T00:00:00Z', '2030-01-01T25:00:00Z', '1700000000000']) {
        const res = await t.request(`/api/v1/tasks?${field}=${encodeURIComponent(value)}`, { as: user })
        expect(res.status, `${field}=${value}: ${await res.clone().text()}`).toBe(400)
        await expectInvalid(res, field)
      }
    }
  })

  // ---- sorts ------------------------------------------------------------------------------------

  test('created_at ascending and descending; the default is -created_at', async () => {
    const t = ctx()
    const user = newUser()
    const created = await createTasks(t, user, [{ title: 'b' }, { title: 'd' }, { title: 'a' }, { title: 'c' }], { gapMs: 3 })
    const creation = ids(created)
    expect(ids(sorted(created, 'created_at'))).toEqual(creation)
    expect(ids((await list(t, user, '/api/v1/tasks?sort=created_at')).tasks)).toEqual(creation)
    expect(ids((await list(t, user, '/api/v1/tasks?sort=-created_at')).tasks)).toEqual([...creation].reverse())
    const byDefault = await list(t, user, '/api/v1/tasks')
    expect(ids(byDefault.tasks)).toEqual([...creation].reverse())
    expect(byDefault.res.headers.get('link')).toBeNull()
    // the listed tasks are the tasks as created
    expect(byDefault.tasks).toEqual([...created].reverse())
  })

  test('updated_at ascending and descending', async () => {
    const t = ctx()
    const user = newUser()
    const [a, b, c, d] = await createTasks(t, user, [{ title: 'a' }, { title: 'b' }, { title: 'c' }, { title: 'd' }], { gapMs: 3 })
    const b2 = await patchTask(t, user, b!.id, { priority: 'high' })
    await Bun.sleep(3)
    const a2 = await patchTask(t, user, a!.id, { title: 'a, edited' })
    const expected = [c!.id, d!.id, b2.id, a2.id]
    expect(ids(sorted([a2, b2, c!, d!], 'updated_at'))).toEqual(expected)
    expect(ids((await list(t, user, '/api/v1/tasks?sort=updated_at')).tasks)).toEqual(expected)
    expect(ids((await list(t, user, '/api/v1/tasks?sort=-updated_at')).tasks)).toEqual([...expected].reverse())
  })

  test('due_at: by date, ties by id, tasks without a due date last in both directions', async () => {
    const t = ctx()
    const user = newUser()
    const created = await createTasks(t, user, [
      { title: 'middle', due_at: MIDDLE },
      { title: 'none 1' },
      { title: 'early', due_at: D0 },
      { title: 'late 1', due_at: D1 },
      { title: 'none 2', due_at: null },
      { title: 'late 2', due_at: D1 },
      { title: 'none 3' },
    ])
    const undated = created.filter((task) => task.due_at === null).sort(byId)
    const late = created.filter((task) => task.due_at === D1).sort(byId)
    const one = (title: string) => created.find((task) => task.title === title)!

    const ascending = (await list(t, user, '/api/v1/tasks?sort=due_at')).tasks
    expect(ids(ascending)).toEqual([one('early').id, one('middle').id, ...ids(late), ...ids(undated)])
    const descending = (await list(t, user, '/api/v1/tasks?sort=-due_at')).tasks
    expect(ids(descending)).toEqual([...ids(late).reverse(), one('middle').id, one('early').id, ...ids(undated).reverse()])
    expect(ids(ascending)).toEqual(ids(sorted(created, 'due_at')))
    expect(ids(descending)).toEqual(ids(sorted(created, '-due_at')))
  })

  test('priority: by rank none < low < medium < high, ties by id in the same direction', async () => {
    const t = ctx()
    const user = newUser()
    const created = await createTasks(t, user, [
      { title: 'h1', priority: 'high' },
      { title: 'l1', priority: 'low' },
      { title: 'n1' },
      { title: 'm1', priority: 'medium' },
      { title: 'h2', priority: 'high' },
      { title: 'l2', priority: 'low' },
      { title: 'h3', priority: 'high' },
      { title: 'n2', priority: 'none' },
    ])
    const group = (priority: Task['priority']) => ids(created.filter((task) => task.priority === priority).sort(byId))

    const ascending = (await list(t, user, '/api/v1/tasks?sort=priority')).tasks
    expect(ascending.map((task) => task.priority)).toEqual(['none', 'none', 'low', 'low', 'medium', 'high', 'high', 'high'])
    expect(ids(ascending)).toEqual([...group('none'), ...group('low'), ...group('medium'), ...group('high')])

    const descending = (await list(t, user, '/api/v1/tasks?sort=-priority')).tasks
    expect(descending.map((task) => task.priority)).toEqual(['high', 'high', 'high', 'medium', 'low', 'low', 'none', 'none'])
    const reversed = (priority: Task['priority']) => group(priority).reverse()
    expect(ids(descending)).toEqual([...reversed('high'), ...reversed('medium'), ...reversed('low'), ...reversed('none')])
  })

  test('title: case-insensitive, ties by id in the same direction', async () => {
    const t = ctx()
    const user = newUser()
    const created = await createTasks(t, user, [
      { title: 'cherry' },
      { title: 'apple' },
      { title: 'Banana' },
      { title: 'BANANA' },
      { title: 'banana' },
    ])
    const bananas = ids(created.filter((task) => task.title.toLowerCase() === 'banana').sort(byId))
    const one = (title: string) => created.find((task) => task.title === title)!.id

    const ascending = (await list(t, user, '/api/v1/tasks?sort=title')).tasks
    expect(ascending.map((task) => task.title.toLowerCase())).toEqual(['apple', 'banana', 'banana', 'banana', 'cherry'])
    expect(ids(ascending)).toEqual([one('apple'), ...bananas, one('cherry')])
    const descending = (await list(t, user, '/api/v1/tasks?sort=-title')).tasks
    expect(ids(descending)).toEqual([one('cherry'), ...[...bananas].reverse(), one('apple')])

    // "apple" < "Banana" < "cherry", whatever the case
    const trio = newUser()
    await createTasks(t, trio, [{ title: 'cherry' }, { title: 'Banana' }, { title: 'apple' }])
    expect(titles((await list(t, trio, '/api/v1/tasks?sort=title')).tasks)).toEqual(['apple', 'Banana', 'cherry'])
    expect(titles((await list(t, trio, '/api/v1/tasks?sort=-title')).tasks)).toEqual(['cherry', 'Banana', 'apple'])
  })

  test('a bad sort is 400 naming sort', async () => {
    const t = ctx()
    const user = newUser()
    for (const sort of ['bogus', 'id', 'created', '--title', '+title', 'title-', 'TITLE', '-', 'completed']) {
      const res = await t.request(`/api/v1/tasks?sort=${encodeURIComponent(sort)}`, { as: user })
      expect(res.status, `sort=${sort}: ${await res.clone().text()}`).toBe(400)
      await expectInvalid(res, 'sort')
    }
  })

  // ---- limit and Link ---------------------------------------------------------------------------

  test('limit: default 50, 1 and 1000 accepted', async () => {
    const t = ctx()
    const user = newUser()
    const created: Task[] = []
    for (let i = 0; i < 51; i++) created.push(await createTask(t, user, { title: `task ${i}` }))
    const expected = ids(sorted(created, '-created_at'))

    const first = await list(t, user, '/api/v1/tasks')
    expect(ids(first.tasks)).toEqual(expected.slice(0, 50))
    const next = nextPage(first.res)
    expect(next).not.toBeNull()
    expect(new URL(next!, 'http://localhost').pathname).toBe('/api/v1/tasks')
    expect(withoutCursor(next!)).toEqual([])
    const second = await list(t, user, next!)
    expect(ids(second.tasks)).toEqual(expected.slice(50))
    expect(second.res.headers.get('link')).toBeNull()

    const one = await list(t, user, '/api/v1/tasks?limit=1')
    expect(ids(one.tasks)).toEqual(expected.slice(0, 1))
    expect(nextPage(one.res)).not.toBeNull()

    const max = await list(t, user, '/api/v1/tasks?limit=1000')
    expect(ids(max.tasks)).toEqual(expected)
    expect(max.res.headers.get('link')).toBeNull()

    const exact = await list(t, user, '/api/v1/tasks?limit=51')
    expect(ids(exact.tasks)).toEqual(expected)
    expect(exact.res.headers.get('link')).toBeNull()
  })

  test('limit out of range or not an integer is 400 naming limit', async () => {
    const t = ctx()
    const user = newUser()
    for (const limit of ['0', '1001', 'abc', '-1', '1.5', '']) {
      const res = await t.request(`/api/v1/tasks?limit=${limit}`, { as: user })
      expect(res.status, `limit=${limit}: ${await res.clone().text()}`).toBe(400)
      await expectInvalid(res, 'limit')
    }
  })

  test('the Link header keeps the other parameters, adds a cursor, and leads to the next page', async () => {
    const t = ctx()
    const user = newUser()
    const created = await createTasks(t, user, [
      { title: 'Task e', priority: 'high' },
      { title: 'task A', priority: 'high' },
      { title: 'task d', priority: 'high', completed: true },
      { title: 'task c', priority: 'high' },
      { title: 'other b', priority: 'high' },
      { title: 'task b', priority: 'low' },
      { title: 'task f', description: 'a task', priority: 'high' },
    ])
    const matching = sorted(
      created.filter((task) => !task.completed && task.priority === 'high' && /task/i.test(task.title + (task.description ?? ''))),
      '-title',
    )
    expect(titles(matching)).toEqual(['task f', 'Task e', 'task c', 'task A'])

    const first = '/api/v1/tasks?status=pending&q=TASK&priority=high&sort=-title&limit=3'
    const page1 = await list(t, user, first)
    expect(ids(page1.tasks)).toEqual(ids(matching.slice(0, 3)))
    const link = page1.res.headers.get('link')!
    // Relative (a path with its query), so it stays on the scheme and host the client used.
    expect(link).toMatch(/^<\/api\/v1\/tasks\?[^>]*cursor=[^>&]+[^>]*>; rel="next"$/)
    const next = nextPage(page1.res)!
    const params = paramsOf(next)
    expect(params.get('status')).toBe('pending')
    expect(params.get('q')).toBe('TASK')
    expect(params.get('priority')).toBe('high')
    expect(params.get('sort')).toBe('-title')
    expect(params.get('limit')).toBe('3')
    expect(params.get('cursor')).toEqual(expect.any(String))
    expect(withoutCursor(next)).toEqual(withoutCursor(first))

    const page2 = await list(t, user, next)
    expect(ids(page2.tasks)).toEqual(ids(matching.slice(3)))
    expect(page2.res.headers.get('link')).toBeNull()

    // a q with characters that need encoding survives the round trip through the Link URL
    const odd = newUser()
    const oddTasks = await createTasks(t, odd, [{ title: 'a 100% b&c' }, { title: 'x a 100% b&c' }, { title: 'a 100% b&c+' }])
    const q = 'A 100% B&C'
    const walked = await walk(t, odd, `/api/v1/tasks?q=${encodeURIComponent(q)}&limit=1&sort=title`)
    expect(walked.pages.map(ids)).toEqual(sorted(oddTasks, 'title').map((task) => [task.id]))
  })

  for (const sort of allSorts) {
    test(`pagination by ${sort}: walking every page yields exactly the full sorted list`, async () => {
      const t = ctx()
      const user = newUser()
      const created = await createMixed(t, user)
      const expected = ids(sorted(created, sort))
      // the listing agrees with the expected order in one page
      expect(ids((await list(t, user, `/api/v1/tasks?sort=${sort}`)).tasks)).toEqual(expected)

      for (const limit of [2, 3]) {
        const { pages, responses } = await walk(t, user, `/api/v1/tasks?sort=${sort}&limit=${limit}`)
        expect(pages.flat().map((task) => task.id), `limit=${limit}`).toEqual(expected)
        expect(pages).toHaveLength(Math.ceil(expected.length / limit))
        for (const [i, page] of pages.entries()) {
          const last = i === pages.length - 1
          if (!last) expect(page).toHaveLength(limit)
          expect(responses[i]!.headers.get('link') === null, `page ${i} of ${pages.length} at limit=${limit}`).toBe(last)
        }
      }
      // and with a filter that leaves out some tasks
      const pending = created.filter((task) => !task.completed && task.due_at !== null)
      const filtered = await walk(t, user, `/api/v1/tasks?sort=${sort}&limit=2&status=pending&due_after=${encodeURIComponent('2000-01-01T00:00:00Z')}`)
      expect(filtered.pages.flat().map((task) => task.id)).toEqual(ids(sorted(pending, sort)))
    })
  }

  // ---- pagination under concurrent writes -------------------------------------------------------

  for (const sort of allSorts) {
    test(`pagination by ${sort} while tasks are created and deleted: nothing twice, nothing stable skipped`, async () => {
      const t = ctx()
      const user = newUser()
      const dues = [D0, MIDDLE, D1, null, AFTER_D1, JUST_BEFORE_D0]
      const prios = ['none', 'low', 'medium', 'high'] as const
      const words = ['apple', 'Banana', 'cherry', 'Date', 'elder', 'FIG', 'grape', 'honeydew']
      let n = 0
      const nextBody = (): Body => {
        n++
        return {
          title: `${words[(n * 5) % words.length]} ${n % 3}`,
          priority: prios[(n * 3) % prios.length],
          due_at: dues[(n * 7) % dues.length],
        }
      }
      const initial: Task[] = []
      for (let i = 0; i < 14; i++) initial.push(await createTask(t, user, nextBody()))
      const known = new Map(initial.map((task) => [task.id, task]))
      const deleted = new Set<string>()
      const deletedUnseen = new Set<string>()
      const seenIds = new Set<string>()
      const compare = compareFor(sort)
      let pageNumber = 0

      const { pages } = await walk(t, user, `/api/v1/tasks?sort=${sort}&limit=3`, async (seen, page) => {
        for (const task of page) seenIds.add(task.id)
        // two new tasks, landing anywhere in the order
        for (let i = 0; i < 2; i++) {
          const task = await createTask(t, user, nextBody())
          known.set(task.id, task)
        }
        const remaining = sorted(
          [...known.values()].filter((task) => !deleted.has(task.id) && !seenIds.has(task.id)),
          sort,
        )
        const doomed: string[] = []
        // the task right after the cursor, and one further on, both not yet seen
        if (remaining[0]) doomed.push(remaining[0].id)
        if (remaining.length > 3) doomed.push(remaining[remaining.length - 2]!.id)
        // on every other page the last task seen (the cursor's own task); always an earlier one
        pageNumber++
        if (pageNumber % 2 === 1) doomed.push(page[page.length - 1]!.id)
        const earlier = seen.find((task) => !deleted.has(task.id) && !doomed.includes(task.id) && task !== page[page.length - 1])
        if (earlier) doomed.push(earlier.id)
        for (const id of doomed) {
          await deleteTask(t, user, id)
          deleted.add(id)
          if (!seenIds.has(id)) deletedUnseen.add(id)
        }
      })

      const seen = pages.flat()
      const seenList = ids(seen)
      expect(pages.length).toBeGreaterThan(3)
      expect(new Set(seenList).size, 'a task came twice').toBe(seenList.length)
      // every task that existed throughout was seen
      const stable = initial.filter((task) => !deleted.has(task.id)).map((task) => task.id)
      expect(stable.length).toBeGreaterThan(0)
      const missing = stable.filter((id) => !seenList.includes(id))
      expect(missing, 'stable tasks skipped').toEqual([])
      // pages follow the sort order throughout
      expect(seenList).toEqual(ids([...seen].sort(compare)))
      // nothing that was deleted before it could be seen, nor anything unknown
      expect(deletedUnseen.size).toBeGreaterThan(0)
      expect(seenList.filter((id) => deletedUnseen.has(id))).toEqual([])
      for (const task of seen) expect(known.get(task.id), task.id).toEqual(task)
    })
  }

  // ---- cursors ----------------------------------------------------------------------------------

  test('a cursor that does not decode is 400 INVALID_CURSOR', async () => {
    const t = ctx()
    const user = newUser()
    const [task] = await createTasks(t, user, [{ title: 'one' }, { title: 'two' }, { title: 'three' }])
    const cursors = [
      'garbage',
      'not a cursor!!',
      '%%%',
      cursorOf({ sort: '-created_at', value: task!.created_at, id: task!.id }),
      cursorOf([1, 2, 3]),
      cursorOf(['-created_at', task!.created_at]),
      cursorOf(['-created_at', task!.created_at, task!.id, 'extra']),
      cursorOf(['-created_at', task!.created_at, 'not-a-uuid']),
      cursorOf(['-created_at', 'not a date', task!.id]),
      cursorOf(['-created_at', null, task!.id]),
      cursorOf(null),
      cursorOf('hello'),
      Buffer.from('["-created_at",').toString('base64url'),
    ]
    for (const cursor of cursors) {
      const res = await t.request(`/api/v1/tasks?cursor=${encodeURIComponent(cursor)}`, { as: user })
      expect(res.status, `cursor ${cursor}: ${await res.clone().text()}`).toBe(400)
      await expectInvalidCursor(res)
    }
    // an empty cursor is not a cursor either
    await expectInvalidCursor(await t.request('/api/v1/tasks?cursor=', { as: user }))
  })

  test('a cursor from one sort used with another is 400 INVALID_CURSOR', async () => {
    const t = ctx()
    const user = newUser()
    await createTasks(t, user, [{ title: 'a', due_at: D0 }, { title: 'b', due_at: D1 }, { title: 'c' }])
    const cursorFor = async (sort: string) => {
      const { res } = await list(t, user, `/api/v1/tasks?sort=${sort}&limit=1`)
      return paramsOf(nextPage(res)!).get('cursor')!
    }
    const bySort = new Map<string, string>()
    for (const sort of allSorts) bySort.set(sort, await cursorFor(sort))
    for (const [from, cursor] of bySort) {
      // it works with its own sort
      const own = await t.request(`/api/v1/tasks?sort=${from}&limit=1&cursor=${cursor}`, { as: user })
      expect(own.status, `${from} with its own cursor: ${await own.clone().text()}`).toBe(200)
      for (const to of allSorts) {
        if (to === from) continue
        const res = await t.request(`/api/v1/tasks?sort=${to}&cursor=${cursor}`, { as: user })
        expect(res.status, `cursor of ${from} used with ${to}: ${await res.clone().text()}`).toBe(400)
        await expectInvalidCursor(res)
      }
    }
    // the default sort is -created_at: a title cursor does not fit it, a -created_at one does
    await expectInvalidCursor(await t.request(`/api/v1/tasks?cursor=${bySort.get('title')}`, { as: user }))
    expect((await t.request(`/api/v1/tasks?cursor=${bySort.get('-created_at')}`, { as: user })).status).toBe(200)
  })

  test('a well-formed cursor with a tampered value is 400 INVALID_CURSOR, not a 500', async () => {
    const t = ctx()
    const user = newUser()
    const [task] = await createTasks(t, user, [{ title: 'one', due_at: D0 }, { title: 'two' }])
    // Values a lenient date parser accepts but that are not the timestamps the service writes.
    for (const [sort, value] of [
      ['-created_at', '1'],
      ['-created_at', '2030-02-30T00:00:00.000Z'],
      ['updated_at', '+275760-09-13T00:00:00.000Z'],
      ['due_at', '12'],
      ['priority', 'urgent'],
      ['title', 42],
    ] as const) {
      const res = await t.request(`/api/v1/tasks?sort=${sort}&cursor=${cursorOf([sort, value, task!.id])}`, { as: user })
      expect(res.status, `${sort} cursor with value ${JSON.stringify(value)}: ${await res.clone().text()}`).toBe(400)
      await expectInvalidCursor(res)
    }
  })

  // ---- older path families ----------------------------------------------------------------------

  test('/api/tasks and /api/{user_id}/tasks list the same, and their Link points at their own path', async () => {
    const t = ctx()
    const user = newUser()
    const created = await createMixed(t, user)
    const query = '?sort=title&limit=2&status=all'
    const expected = ids(sorted(created, 'title'))
    const canonical = await walk(t, user, `/api/v1/tasks${query}`)
    expect(canonical.pages.flat().map((task) => task.id)).toEqual(expected)

    for (const base of ['/api/tasks', `/api/${user}/tasks`]) {
      const first = await list(t, user, base + query)
      expect(first.tasks, base).toEqual(canonical.pages[0]!)
      const next = nextPage(first.res)!
      expect(new URL(next, 'http://localhost').pathname).toBe(base)
      const walked = await walk(t, user, base + query)
      expect(walked.pages, base).toEqual(canonical.pages)
      for (const res of walked.responses.slice(0, -1)) {
        expect(new URL(nextPage(res)!, 'http://localhost').pathname).toBe(base)
      }
      // and a plain list, default sort, is the same
      expect((await list(t, user, base)).tasks).toEqual((await list(t, user, '/api/v1/tasks')).tasks)
    }
  })

  // ---- stats ------------------------------------------------------------------------------------

  test('stats: exact total, completed, pending and overdue', async () => {
    const t = ctx()
    const user = newUser()
    const stats = async () => {
      const res = await t.request('/api/v1/tasks/stats', { as: user })
      expect(res.status, await res.clone().text()).toBe(200)
      return json(res)
    }
    expect(await stats()).toEqual({ total: 0, completed: 0, pending: 0, overdue: 0 })

    const past = '2000-01-01T00:00:00.000Z'
    const future = '2100-01-01T00:00:00.000Z'
    const [overdue1] = await createTasks(t, user, [
      { title: 'pending, past due', due_at: past },
      { title: 'pending, past due, just', due_at: new Date(Date.now() - 60_000).toISOString() },
      { title: 'completed, past due', due_at: past, completed: true },
      { title: 'pending, future due', due_at: future },
      { title: 'pending, no due date' },
      { title: 'completed, no due date', completed: true },
      { title: 'completed, future due', due_at: future, completed: true },
    ])
    expect(await stats()).toEqual({ total: 7, completed: 3, pending: 4, overdue: 2 })

    // completing an overdue task makes it no longer overdue
    await patchTask(t, user, overdue1!.id, { completed: true })
    expect(await stats()).toEqual({ total: 7, completed: 4, pending: 3, overdue: 1 })
    // and every family answers the same
    for (const base of ['/api/tasks', `/api/${user}/tasks`]) {
      expect(await json(await t.request(`${base}/stats`, { as: user }))).toEqual({ total: 7, completed: 4, pending: 3, overdue: 1 })
    }
  })

  // ---- clear completed --------------------------------------------------------------------------

  test('DELETE ?status=completed deletes only completed tasks and says how many', async () => {
    const t = ctx()
    const user = newUser()
    const created = await createTasks(t, user, [
      { title: 'p1' },
      { title: 'c1', completed: true },
      { title: 'p2', due_at: D0 },
      { title: 'c2', completed: true, due_at: D0 },
      { title: 'p3' },
    ])
    const pending = created.filter((task) => !task.completed)

    const res = await t.request('/api/v1/tasks?status=completed', { method: 'DELETE', as: user })
    expect(res.status, await res.clone().text()).toBe(200)
    expect(res.headers.get('content-type')).toStartWith('application/json')
    expect(await json(res)).toEqual({ deleted: 2 })
    expect((await list(t, user, '/api/v1/tasks')).tasks).toEqual(sorted(pending, '-created_at'))
    expect(await json(await t.request('/api/v1/tasks/stats', { as: user }))).toEqual({ total: 3, completed: 0, pending: 3, overdue: 0 })

    const again = await t.request('/api/v1/tasks?status=completed', { method: 'DELETE', as: user })
    expect(again.status).toBe(200)
    expect(await json(again)).toEqual({ deleted: 0 })
  })

  test('DELETE /tasks without status=completed is 400 naming status, and deletes nothing', async () => {
    const t = ctx()
    const user = newUser()
    const created = await createTasks(t, user, [{ title: 'p' }, { title: 'c', completed: true }])
    for (const query of ['', '?status=pending', '?status=all', '?status=', '?status=COMPLETED']) {
      const res = await t.request(`/api/v1/tasks${query}`, { method: 'DELETE', as: user })
      expect(res.status, `DELETE /api/v1/tasks${query}: ${await res.clone().text()}`).toBe(400)
      await expectInvalid(res, 'status')
    }
    expect(ids((await list(t, user, '/api/v1/tasks?sort=created_at')).tasks)).toEqual(ids(created))
  })
})
