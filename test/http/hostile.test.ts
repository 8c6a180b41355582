// The worst inputs the attack campaign found, sent to the real service process over raw sockets:
// HTTP/1.0 without Host, JSON nested far too deep, timestamps Postgres cannot store. Each gets an ordinary answer in the contract's
// shape, and every line the process writes to stdout is one JSON object.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { SECRET, newUser, signToken } from '../support/app'
import { parseResponses, rawHttp, type RawResponse } from '../support/raw-http'
import { startServer, type RunningServer } from '../support/server'

let server: RunningServer
beforeAll(async () => {
  server = await startServer({ DATABASE_URL: 'memory://', JWT_SECRET: SECRET, LOG_LEVEL: 'debug', RATE_LIMIT_PER_IP: '0', RATE_LIMIT_PER_USER: '0' })
}, 60_000)
afterAll(() => server?.stop())

const one = async (bytes: string): Promise<RawResponse> => {
  const responses = parseResponses(await rawHttp(server.url, bytes))
  expect(responses).toHaveLength(1)
  return responses[0]!
}

function expectProblem(res: RawResponse, status: number, code: string) {
  expect(res.status, res.body).toBe(status)
  expect(res.headers.get('content-type'), res.body).toBe('application/problem+json')
  const body = JSON.parse(res.body)
  expect(body, res.body).toMatchObject({ status, status_code: status, error_code: code })
  expect(body.request_id).toBe(res.headers.get('x-request-id')!)
  return body
}

const post = (path: string, body: string, token: string, version = '1.1') =>
  `POST ${path} HTTP/${version}\r\n${version === '1.1' ? 'Host: localhost\r\n' : ''}Connection: close\r\nAuthorization: Bearer ${token}\r\n` +
  `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`

describe('HTTP/1.0 without Host', () => {
  test('every kind of route answers normally', async () => {
    const health = await one('GET /healthz HTTP/1.0\r\n\r\n')
    expect(health.status, health.body).toBe(200)

    expectProblem(await one('GET /api/v1/tasks HTTP/1.0\r\n\r\n'), 401, 'UNAUTHORIZED')
    expectProblem(await one('GET /nowhere HTTP/1.0\r\n\r\n'), 404, 'NOT_FOUND')

    const token = await signToken({ sub: newUser() })
    const created = await one(post('/api/v1/tasks', '{"title":"over HTTP/1.0"}', token, '1.0'))
    expect(created.status, created.body).toBe(201)
    const task = JSON.parse(created.body)
    expect(created.headers.get('location')).toBe(`/api/v1/tasks/${task.id}`)
    await one(post('/api/v1/tasks', '{"title":"second"}', token, '1.0'))

    const page = await one(`GET /api/v1/tasks?limit=1 HTTP/1.0\r\nAuthorization: Bearer ${token}\r\n\r\n`)
    expect(page.status, page.body).toBe(200)
    expect(page.headers.get('cache-control')).toBe('private, no-cache')
    // Without a Host there is no origin to name: the next page is a path with its query.
    expect(page.headers.get('link')).toMatch(/^<\/api\/v1\/tasks\?limit=1&cursor=[A-Za-z0-9_-]+>; rel="next"$/)
  })
})

describe('JSON nested too deep', () => {
  const nested = (depth: number, open = '[', close = ']') => open.repeat(depth) + close.repeat(depth)
  const objects = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)

  test('is a 400 naming the limit, whatever the shape and wherever the nesting is', async () => {
    const token = await signToken({ sub: newUser() })
    const bodies = [
      `{"title":${nested(5_000)}}`,
      `{"title":"x","description":${objects(40)}}`,
      nested(32_000),
      `{"title":${nested(40, '[{"a":', '}]')}}`,
      // Brackets inside strings are text, not nesting; this one is only one level deep.
      `{"title":"${'['.repeat(40)}", "x":${nested(32_000)}}`,
    ]
    for (const body of bodies) {
      const problem = expectProblem(await one(post('/api/v1/tasks', body.slice(0, 64 * 1024), token)), 400, 'INVALID_JSON')
      expect(problem.detail).toBe('The request body is nested deeper than 32 levels')
    }
  })

  test('32 levels is still an ordinary body, checked by the schema', async () => {
    const token = await signToken({ sub: newUser() })
    const res = await one(post('/api/v1/tasks', `{"title":${nested(31)}}`, token))
    const problem = expectProblem(res, 400, 'VALIDATION_ERROR')
    expect(problem.errors.map((e: { field: string }) => e.field)).toEqual(['title'])
    const fine = await one(post('/api/v1/tasks', `{"title":"[[[{{{\\"","description":"]]]}}}"}`, token))
    expect(fine.status, fine.body).toBe(201)
  })
})

describe('timestamps and cursors Postgres cannot take', () => {
  test('are 400s', async () => {
    const token = await signToken({ sub: newUser() })
    expectProblem(await one(post('/api/v1/tasks', '{"title":"x","due_at":"0000-01-01T00:00:00Z"}', token)), 400, 'VALIDATION_ERROR')
    expectProblem(await one(post('/api/v1/tasks', '{"title":"x","due_at":"9999-12-31T23:00:00-05:00"}', token)), 400, 'VALIDATION_ERROR')
    const get = (query: string) => one(`GET /api/v1/tasks?${query} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer ${token}\r\n\r\n`)
    expectProblem(await get('due_after=0000-01-01T00:00:00Z'), 400, 'VALIDATION_ERROR')
    const cursor = Buffer.from(JSON.stringify(['-created_at', '0000-01-01T00:00:00.000Z', '01900000-0000-7000-8000-000000000000'])).toString('base64url')
    expectProblem(await get(`cursor=${cursor}`), 400, 'INVALID_CURSOR')
  })
})

describe('stdout', () => {
  test('holds only JSON objects, one per line, with no stack traces, after all of the above', async () => {
    await Bun.sleep(100)
    const raw = server.logs.filter((l) => 'raw' in l)
    expect(raw, JSON.stringify(raw.slice(0, 3))).toEqual([])
    for (const line of server.logs) {
      expect(typeof line.level).toBe('string')
      expect(JSON.stringify(line)).not.toMatch(/\bat .*\(.*:\d+:\d+\)|stack/)
    }
    expect(server.logs.filter((l) => l.message === 'request' && l.status === 500)).toEqual([])
  })
})
