// The logs: one JSON access line per request, the security events, the LOG_LEVEL threshold, the
// request id, and what must never be written (tokens, Authorization headers, task text).
import { beforeAll, expect, test } from 'bun:test'
import { createTestApp, describeEachDriver, json, newUser, signToken, type TestApp } from '../support/app'
import { createTask } from '../support/factories'

type Line = Record<string, unknown>

const saneId = /^[A-Za-z0-9._-]{1,128}$/

/** The access log is written after the response is sent: wait for the request's line. */
async function accessLine(t: TestApp, res: Response): Promise<Line> {
  const requestId = res.headers.get('x-request-id')
  expect(requestId).toBeTruthy()
  const find = () => t.logs.filter((l) => l.message === 'request' && l.request_id === requestId)
  for (let i = 0; i < 100 && find().length === 0; i++) await Bun.sleep(5)
  await settle()
  const lines = find()
  expect(lines, `access lines for ${requestId}: ${JSON.stringify(t.logs.slice(-5))}`).toHaveLength(1)
  return lines[0]!
}

/** Lets every pending after-response hook run. */
const settle = () => Bun.sleep(30)

const linesOf = (t: TestApp, res: Response, message: string) =>
  t.logs.filter((l) => l.message === message && l.request_id === res.headers.get('x-request-id'))

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

describeEachDriver('logging', (ctx) => {
  test('one access line per request, with exactly the contract fields', async () => {
    const t = ctx()
    const user = newUser()
    const before = Date.now()
    const res = await t.request('/api/v1/tasks', { as: user })
    expect(res.status, await res.clone().text()).toBe(200)
    const line = await accessLine(t, res)
    expect(Object.keys(line).sort()).toEqual(['duration_ms', 'level', 'message', 'method', 'request_id', 'route', 'status', 'time', 'user_id'])
    expect(line).toMatchObject({ level: 'info', message: 'request', method: 'GET', route: '/api/v1/tasks', status: 200, user_id: user })
    expect(line.request_id).toBe(res.headers.get('x-request-id'))
    expect(line.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)
    expect(Date.parse(line.time as string)).toBeGreaterThanOrEqual(before - 1)
    expect(Date.parse(line.time as string)).toBeLessThanOrEqual(Date.now())
    expect(typeof line.duration_ms).toBe('number')
    expect(line.duration_ms as number).toBeGreaterThanOrEqual(0)
    expect(line.duration_ms as number).toBeLessThan(Date.now() - before + 1)
  })

  test('every line is written as one JSON object (the sink gets one line per call)', async () => {
    const t = ctx()
    await t.request('/api/v1/tasks', { as: newUser() })
    await t.request('/api/v1/tasks')
    await settle()
    for (const line of t.logs) {
      expect(typeof line.time).toBe('string')
      expect(typeof line.level).toBe('string')
      expect(typeof line.message).toBe('string')
      expect(line.request_id === undefined || typeof line.request_id === 'string').toBe(true)
    }
  })

  test('the route is the pattern, never the concrete task id or user id', async () => {
    const t = ctx()
    const user = newUser()
    const task = await createTask(t, user)
    const cases: [string, RequestInit & { json?: unknown }, string, number][] = [
      [`/api/v1/tasks/${task.id}`, {}, '/api/v1/tasks/:id', 200],
      [`/api/v1/tasks/${task.id}`, { method: 'PATCH', json: { priority: 'high' } }, '/api/v1/tasks/:id', 200],
      [`/api/v1/tasks/${task.id}/toggle`, { method: 'PATCH' }, '/api/v1/tasks/:id/toggle', 200],
      [`/api/tasks/${task.id}`, {}, '/api/tasks/:id', 200],
      [`/api/${encodeURIComponent(user)}/tasks/${task.id}`, {}, '/api/:user_id/tasks/:id', 200],
      [`/api/v1/tasks/not-a-uuid`, {}, '/api/v1/tasks/:id', 404],
      [`/api/v1/tasks/${task.id}`, { method: 'DELETE' }, '/api/v1/tasks/:id', 204],
    ]
    for (const [path, init, route, status] of cases) {
      const res = await t.request(path, { ...init, as: user })
      expect(res.status, `${path}: ${await res.clone().text()}`).toBe(status)
      const line = await accessLine(t, res)
      expect(line, path).toMatchObject({ route, status, method: init.method ?? 'GET', user_id: user })
      expect(line.route as string).not.toContain(task.id)
      expect(line.route as string).not.toContain(user)
      expect(JSON.stringify(line)).not.toContain(task.id)
      expect(JSON.stringify(line)).not.toContain('not-a-uuid')
    }
  })

  test('a created task is logged with status 201', async () => {
    const t = ctx()
    const user = newUser()
    const res = await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: 'x' } })
    expect(res.status, await res.clone().text()).toBe(201)
    expect(await accessLine(t, res)).toMatchObject({ method: 'POST', route: '/api/v1/tasks', status: 201, user_id: user })
  })

  test('an unauthenticated request has no user_id; auth.failed has reason and client, and no token', async () => {
    const t = ctx()
    const token = await signToken({ sub: newUser() }, { secret: 'not-the-secret-of-this-service-but-long-enough' })
    const res = await t.request('/api/v1/tasks', { headers: bearer(token) })
    expect(res.status, await res.clone().text()).toBe(401)
    const line = await accessLine(t, res)
    expect(line).toMatchObject({ level: 'info', method: 'GET', route: '/api/v1/tasks', status: 401 })
    expect('user_id' in line).toBe(false)

    const failed = linesOf(t, res, 'auth.failed')
    expect(failed).toHaveLength(1)
    expect(Object.keys(failed[0]!).sort()).toEqual(['client', 'level', 'message', 'reason', 'request_id', 'time'])
    expect(failed[0]).toMatchObject({ level: 'warn', reason: 'signature', client: null })
    for (const part of [token, ...token.split('.')]) expect(JSON.stringify(t.logs)).not.toContain(part)

    const missing = await t.request('/api/v1/tasks')
    expect(linesOf(t, missing, 'auth.failed')).toEqual([expect.objectContaining({ reason: 'missing', client: null })])
  })

  test('authz.denied names the user and the target', async () => {
    const t = ctx()
    const [alice, bob] = [newUser('alice'), newUser('bob')]
    const bobs = await createTask(t, bob)
    const res = await t.request(`/api/v1/tasks/${bobs.id}`, { as: alice })
    expect(res.status, await res.clone().text()).toBe(403)
    const denied = linesOf(t, res, 'authz.denied')
    expect(denied).toHaveLength(1)
    expect(Object.keys(denied[0]!).sort()).toEqual(['level', 'message', 'request_id', 'target', 'time', 'user_id'])
    expect(denied[0]).toMatchObject({ level: 'warn', user_id: alice, target: `task:${bobs.id}` })
    expect(await accessLine(t, res)).toMatchObject({ status: 403, route: '/api/v1/tasks/:id', user_id: alice })

    const path = await t.request(`/api/${encodeURIComponent(bob)}/tasks`, { as: alice })
    expect(path.status, await path.clone().text()).toBe(403)
    expect(linesOf(t, path, 'authz.denied')).toEqual([expect.objectContaining({ level: 'warn', user_id: alice, target: `user:${bob}` })])
  })

  test('no line ever holds a token, "Bearer", or a task title or description', async () => {
    const t = ctx()
    const user = newUser()
    const mark = crypto.randomUUID().slice(0, 8)
    const title = `Zebra-Quokka-${mark}`
    const description = `Platypus-Narwhal-${mark}`
    const tokens = [await signToken({ sub: user }), await signToken({ sub: user }, { alg: 'HS512', expiresIn: '2h' })]
    const stranger = await signToken({ sub: newUser() }, { secret: 'a-different-secret-so-the-signature-fails' })
    const expired = await signToken({ sub: user }, { expiresIn: Math.floor(Date.now() / 1000) - 3600 })
    const as = (i: number) => bearer(tokens[i % tokens.length]!)
    const responses: Response[] = []
    const send = async (path: string, init: RequestInit & { json?: unknown }, status: number) => {
      const res = await t.request(path, init)
      expect(res.status, `${init.method ?? 'GET'} ${path}: ${await res.clone().text()}`).toBe(status)
      responses.push(res)
      return res
    }

    const created = await json(await send('/api/v1/tasks', { method: 'POST', headers: as(0), json: { title, description } }, 201))
    const id = created.id as string
    await send(`/api/v1/tasks/${id}`, { method: 'PATCH', headers: as(1), json: { title: `${title}-2`, description: `${description}-2` } }, 200)
    await send(`/api/v1/tasks/${id}`, { method: 'PUT', headers: as(0), json: { title: `${title}-3`, description: `${description}-3` } }, 200)
    await send(`/api/v1/tasks/${id}/toggle`, { method: 'PATCH', headers: as(1), json: { completed: true } }, 200)
    await send(`/api/v1/tasks?q=${encodeURIComponent(title)}`, { headers: as(0) }, 200)
    await send(`/api/v1/tasks/${id}`, { headers: as(1) }, 200)
    // Failures that hold the text: validation, a NUL, bad JSON, wrong media type, another user, bad tokens.
    await send('/api/v1/tasks', { method: 'POST', headers: as(0), json: { title: `${title}`.padEnd(201, 'x'), description } }, 400)
    await send('/api/v1/tasks', { method: 'POST', headers: as(0), json: { title: `${title}\u0000`, description: `${description}\u0000` } }, 400)
    await send('/api/v1/tasks', { method: 'POST', headers: { ...as(1), 'content-type': 'application/json' }, body: `{"title": "${title}", "description": ` }, 400)
    await send('/api/v1/tasks', { method: 'POST', headers: { ...as(0), 'content-type': 'text/plain' }, body: `${title} ${description}` }, 415)
    await send(`/api/v1/tasks?q=${encodeURIComponent(description)}`, { headers: bearer(stranger) }, 401)
    await send('/api/v1/tasks', { method: 'POST', headers: bearer(expired), json: { title, description } }, 401)
    await send(`/api/v1/tasks/${id}`, { method: 'PATCH', headers: bearer(await signToken({ sub: newUser() })), json: { title, description } }, 403)
    await send(`/api/v1/tasks/${id}`, { method: 'DELETE', headers: { ...as(0), 'x-request-id': mark } }, 204)
    await settle()

    // The sequence was logged, line by line, so the absence checks below are not vacuous.
    for (const res of responses) await accessLine(t, res)
    expect(t.logs.some((l) => l.message === 'auth.failed' && l.reason === 'signature')).toBe(true)
    expect(t.logs.some((l) => l.message === 'auth.failed' && l.reason === 'expired')).toBe(true)
    expect(t.logs.some((l) => l.message === 'authz.denied' && l.target === `task:${id}`)).toBe(true)

    const all = JSON.stringify(t.logs)
    for (const token of [...tokens, stranger, expired]) {
      for (const part of [token, ...token.split('.')]) expect(all).not.toContain(part)
    }
    expect(all).not.toMatch(/bearer/i)
    expect(all).not.toMatch(/authorization/i)
    expect(all).not.toContain(title)
    expect(all).not.toContain(description)
    expect(all).not.toContain('Zebra-Quokka')
    expect(all).not.toContain('Platypus-Narwhal')
  })

  test('a sane X-Request-Id is echoed, in the body and in every line', async () => {
    const t = ctx()
    for (const given of ['abc-123._X', `${crypto.randomUUID()}`, 'A'.repeat(128)]) {
      const res = await t.request('/api/v1/tasks', { headers: { 'x-request-id': given } })
      expect(res.status, await res.clone().text()).toBe(401)
      expect(res.headers.get('x-request-id')).toBe(given)
      expect((await json(res)).request_id).toBe(given)
      expect(await accessLine(t, res)).toMatchObject({ request_id: given, status: 401 })
      expect(t.logs).toContainEqual(expect.objectContaining({ message: 'auth.failed', request_id: given }))
    }
  })

  test('an insane X-Request-Id is replaced by a generated one', async () => {
    const t = ctx()
    const seen = new Set<string>()
    for (const given of ['abc 123', 'B'.repeat(129), 'abc/123', 'abc"}{"x":1', '', 'abc\tdef']) {
      const res = await t.request('/api/v1/tasks', { headers: { 'x-request-id': given } })
      expect(res.status, await res.clone().text()).toBe(401)
      const id = res.headers.get('x-request-id')!
      expect(id, JSON.stringify(given)).not.toBe(given)
      expect(id).toMatch(saneId)
      expect(seen.has(id)).toBe(false)
      seen.add(id)
      expect((await json(res)).request_id).toBe(id)
      expect(await accessLine(t, res)).toMatchObject({ request_id: id })
      if (given.length > 3) expect(JSON.stringify(t.logs)).not.toContain(given)
    }
  })

  test('a request id is made when none is given, and differs per request', async () => {
    const t = ctx()
    const [a, b] = [await t.request('/healthz'), await t.request('/healthz')]
    expect(a.headers.get('x-request-id')).toMatch(saneId)
    expect(b.headers.get('x-request-id')).toMatch(saneId)
    expect(a.headers.get('x-request-id')).not.toBe(b.headers.get('x-request-id'))
  })

  test('a 404 line names the method and the path, with ids masked', async () => {
    const t = ctx()
    const id = crypto.randomUUID()
    const res = await t.request(`/api/v2/tasks/${id}/comments/12345?token=secret`, { method: 'DELETE', as: newUser() })
    expect(res.status).toBe(404)
    const line = await accessLine(t, res)
    expect(Object.keys(line).sort()).toEqual(['duration_ms', 'level', 'message', 'method', 'path', 'request_id', 'route', 'status', 'time'])
    expect(line).toMatchObject({ level: 'info', method: 'DELETE', route: null, path: '/api/v2/tasks/:id/comments/:id', status: 404 })
    expect(JSON.stringify(line)).not.toContain(id)
    expect(JSON.stringify(line)).not.toContain('secret')
  })
})

describeEachDriver('health checks in the log', (ctx) => {
  test('/healthz and /readyz are logged at debug, so LOG_LEVEL=info leaves them out', async () => {
    const database = { handle: ctx().db, drop: async () => {} }
    for (const level of ['debug', 'info']) {
      const t = await createTestApp(database, { LOG_LEVEL: level })
      for (const path of ['/healthz', '/readyz']) expect((await t.request(path)).status, path).toBe(200)
      await settle()
      const lines = t.logs.filter((l) => l.message === 'request')
      if (level === 'info') expect(lines).toEqual([])
      else expect(lines).toEqual(['/healthz', '/readyz'].map((route) => expect.objectContaining({ level: 'debug', route, status: 200 })))
    }
  })
})

describeEachDriver('logging thresholds', (ctx) => {
  const apps = new Map<string, TestApp>()
  beforeAll(async () => {
    const database = { handle: ctx().db, drop: async () => {} }
    for (const level of ['debug', 'info', 'warn', 'error', 'silent']) apps.set(level, await createTestApp(database, { LOG_LEVEL: level }))
  })

  /** A 200, a 401 and a 403: one access line each, one auth.failed and one authz.denied. */
  async function traffic(t: TestApp) {
    const [alice, bob] = [newUser('alice'), newUser('bob')]
    const ok = await t.request('/api/v1/tasks', { as: alice })
    expect(ok.status, await ok.clone().text()).toBe(200)
    const unauthorized = await t.request('/api/v1/tasks')
    expect(unauthorized.status).toBe(401)
    const forbidden = await t.request(`/api/${bob}/tasks`, { as: alice })
    expect(forbidden.status).toBe(403)
    await settle()
    return t.logs
  }

  test('LOG_LEVEL=info (and debug) write access lines and warnings', async () => {
    for (const level of ['debug', 'info']) {
      const logs = await traffic(apps.get(level)!)
      expect(logs.filter((l) => l.message === 'request'), level).toHaveLength(3)
      expect(logs.filter((l) => l.message === 'auth.failed'), level).toHaveLength(1)
      expect(logs.filter((l) => l.message === 'authz.denied'), level).toHaveLength(1)
    }
  })

  test('LOG_LEVEL=warn drops access lines but keeps auth.failed and authz.denied', async () => {
    const logs = await traffic(apps.get('warn')!)
    expect(logs.filter((l) => l.message === 'request')).toEqual([])
    expect(logs.filter((l) => l.level === 'info' || l.level === 'debug')).toEqual([])
    expect(logs.filter((l) => l.message === 'auth.failed')).toEqual([expect.objectContaining({ level: 'warn', reason: 'missing' })])
    expect(logs.filter((l) => l.message === 'authz.denied')).toEqual([expect.objectContaining({ level: 'warn' })])
  })

  test('LOG_LEVEL=error and silent drop warnings too', async () => {
    expect(await traffic(apps.get('error')!)).toEqual([])
    expect(await traffic(apps.get('silent')!)).toEqual([])
  })
})
