// The one error shape on every error path, the order of the checks (401 first), body limits and
// media types, X-Request-Id, and CORS.
import { describe, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { createTestApp, describeEachDriver, json, newUser, type TestApp } from '../support/app'
import { drivers } from '../support/databases'
import { createTask } from '../support/factories'
import { expectProblem, problemKeys, saneId } from '../support/problems'

const KiB64 = 64 * 1024

/** A JSON object that creates a task, padded with whitespace to exactly `bytes` bytes. */
function paddedTask(bytes: number): string {
  const head = '{"title":"padded"'
  const text = head + ' '.repeat(bytes - head.length - 1) + '}'
  expect(new TextEncoder().encode(text).byteLength).toBe(bytes)
  return text
}

/** A body sent in chunks, with no Content-Length: the server must count it as it reads. */
function streamOf(text: string, chunk = 8 * 1024): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text)
  let offset = 0
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.byteLength) return controller.close()
      controller.enqueue(bytes.slice(offset, offset + chunk))
      offset += chunk
    },
  })
}

/** Sends `text` as a JSON body, either with a Content-Length or streamed without one. */
function sendBody(t: TestApp, path: string, method: string, text: string, how: 'content-length' | 'stream', as?: string, contentType = 'application/json') {
  const headers: Record<string, string> = { 'content-type': contentType }
  if (how === 'content-length') {
    headers['content-length'] = String(new TextEncoder().encode(text).byteLength)
    return t.request(path, { method, as, headers, body: text })
  }
  return t.request(path, { method, as, headers, body: streamOf(text), duplex: 'half' } as RequestInit & { as?: string })
}

const nonUuids = ['abc', "1' OR '1'='1", '1; DROP TABLE tasks; --', '01936b2e-7c4f-7a10-9d8e-4a3b2c1d0e5', '01936b2e7c4f7a109d8e4a3b2c1d0e5f0']

describeEachDriver('errors', (ctx) => {
  describe('the problem shape', () => {
    test('400 VALIDATION_ERROR carries errors', async () => {
      const t = ctx()
      const res = await t.request('/api/v1/tasks', { method: 'POST', as: newUser(), json: { title: '' } })
      const body = await expectProblem(res, 400, 'VALIDATION_ERROR')
      expect(body.errors.map((e: { field: string }) => e.field)).toEqual(['title'])
    })

    test('400 INVALID_JSON for a malformed JSON body, on create and update', async () => {
      const t = ctx()
      const user = newUser()
      const task = await createTask(t, user)
      for (const text of ['{', '{"title": "x",}', "{'title': 'x'}", 'undefined']) {
        const headers = { 'content-type': 'application/json' }
        await expectProblem(await t.request('/api/v1/tasks', { method: 'POST', as: user, headers, body: text }), 400, 'INVALID_JSON')
        await expectProblem(await t.request(`/api/v1/tasks/${task.id}`, { method: 'PATCH', as: user, headers, body: text }), 400, 'INVALID_JSON')
        await expectProblem(await t.request(`/api/v1/tasks/${task.id}/toggle`, { method: 'PATCH', as: user, headers, body: text }), 400, 'INVALID_JSON')
      }
    })

    test('400 INVALID_JSON for a body that is not UTF-8', async () => {
      const t = ctx()
      const body = new Uint8Array([0x7b, 0x22, 0x74, 0x69, 0x74, 0x6c, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]) // {"title":"\xff\xfe"}
      const res = await t.request('/api/v1/tasks', { method: 'POST', as: newUser(), headers: { 'content-type': 'application/json' }, body })
      await expectProblem(res, 400, 'INVALID_JSON')
    })

    test('400 INVALID_CURSOR for a cursor that does not decode', async () => {
      const t = ctx()
      const user = newUser()
      const forged = Buffer.from(JSON.stringify(['-created_at', 'not a time', 'not an id'])).toString('base64url')
      for (const cursor of ['garbage', '!!!', Buffer.from('[]').toString('base64url'), forged]) {
        const res = await t.request(`/api/v1/tasks?cursor=${encodeURIComponent(cursor)}`, { as: user })
        await expectProblem(res, 400, 'INVALID_CURSOR')
      }
    })

    test('401 UNAUTHORIZED, with the RFC 6750 challenge', async () => {
      const t = ctx()
      for (const headers of [{}, { authorization: 'Bearer not-a-jwt' }, { authorization: 'Basic dXNlcjpwYXNz' }] as Record<string, string>[]) {
        const res = await t.request('/api/v1/tasks', { headers })
        expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
        await expectProblem(res, 401, 'UNAUTHORIZED')
      }
    })

    test('403 FORBIDDEN for another user\'s task', async () => {
      const t = ctx()
      const task = await createTask(t, newUser('owner'))
      await expectProblem(await t.request(`/api/v1/tasks/${task.id}`, { as: newUser('intruder') }), 403, 'FORBIDDEN')
    })

    const taskCalls = [
      { name: 'GET', method: 'GET', suffix: '', body: undefined },
      { name: 'PATCH', method: 'PATCH', suffix: '', body: { title: 'changed' } },
      { name: 'PUT', method: 'PUT', suffix: '', body: { title: 'changed' } },
      { name: 'toggle', method: 'PATCH', suffix: '/toggle', body: undefined },
      { name: 'toggle with body', method: 'PATCH', suffix: '/toggle', body: { completed: true } },
      { name: 'DELETE', method: 'DELETE', suffix: '', body: undefined },
    ]
    for (const call of taskCalls) {
      test(`404 TASK_NOT_FOUND for ${call.name} of an unknown UUID`, async () => {
        const t = ctx()
        const user = newUser()
        await createTask(t, user)
        for (const base of ['/api/v1', '/api', `/api/${user}`]) {
          const res = await t.request(`${base}/tasks/${crypto.randomUUID()}${call.suffix}`, { method: call.method, as: user, json: call.body })
          await expectProblem(res, 404, 'TASK_NOT_FOUND')
        }
      })

      test(`404 TASK_NOT_FOUND for ${call.name} of an id that is not a UUID`, async () => {
        const t = ctx()
        const user = newUser()
        const task = await createTask(t, user)
        for (const id of nonUuids) {
          const res = await t.request(`/api/v1/tasks/${encodeURIComponent(id)}${call.suffix}`, { method: call.method, as: user, json: call.body })
          await expectProblem(res, 404, 'TASK_NOT_FOUND')
        }
        // and nothing was touched
        const after = await t.request(`/api/v1/tasks/${task.id}`, { as: user })
        expect(after.status).toBe(200)
        expect(await json(after)).toMatchObject({ title: 'a task', version: 1 })
      })
    }

    test('404 NOT_FOUND for an unknown route, with or without a token', async () => {
      const t = ctx()
      for (const path of ['/nope', '/api/v1/nope', '/api/v1/tasks/x/y/z', '/api/v2/tasks/x/y', '/docs/nope']) {
        for (const as of [undefined, newUser()]) {
          for (const method of ['GET', 'POST']) {
            const res = await t.request(path, { method, as })
            const body = await expectProblem(res, 404, 'NOT_FOUND')
            expect(body.detail).not.toContain('Task')
          }
        }
      }
    })

    const wrongMethods: [string, string, string][] = [
      ['PUT', '/api/v1/tasks', 'DELETE, GET, HEAD, OPTIONS, POST'],
      ['PATCH', '/api/tasks', 'DELETE, GET, HEAD, OPTIONS, POST'],
      ['POST', '/api/v1/tasks/stats', 'DELETE, GET, HEAD, OPTIONS, PATCH, PUT'],
      ['POST', '/api/v1/tasks/01936b2e-7c4f-7a10-9d8e-4a3b2c1d0e5f', 'DELETE, GET, HEAD, OPTIONS, PATCH, PUT'],
      ['GET', '/api/v1/tasks/01936b2e-7c4f-7a10-9d8e-4a3b2c1d0e5f/toggle', 'OPTIONS, PATCH'],
      ['POST', '/healthz', 'GET, HEAD, OPTIONS'],
      ['DELETE', '/readyz', 'GET, HEAD, OPTIONS'],
      ['DELETE', '/docs/json', 'GET, HEAD, OPTIONS'],
      ['POST', '/docs', 'GET, HEAD, OPTIONS'],
    ]
    for (const [method, path, allow] of wrongMethods) {
      test(`405 METHOD_NOT_ALLOWED for ${method} ${path}, with Allow: ${allow}`, async () => {
        const t = ctx()
        for (const as of [undefined, newUser()]) {
          const res = await t.request(path, { method, as })
          expect(res.headers.get('allow')).toBe(allow)
          await expectProblem(res, 405, 'METHOD_NOT_ALLOWED')
        }
      })
    }

    test('the methods an Allow header lists are allowed: HEAD and OPTIONS are not 405', async () => {
      const t = ctx()
      const head = await t.request('/healthz', { method: 'HEAD' })
      expect(head.status).toBe(200)
      expect(await head.text()).toBe('')
      const options = await t.request('/healthz', { method: 'OPTIONS' })
      expect(options.status, await options.clone().text()).toBe(204)
      expect(await options.text()).toBe('')
      expect(options.headers.get('allow')).toBe('GET, HEAD, OPTIONS')
      const onTasks = await t.request('/api/v1/tasks', { method: 'OPTIONS' })
      expect(onTasks.status).toBe(204)
      expect(onTasks.headers.get('allow')).toBe('DELETE, GET, HEAD, OPTIONS, POST')
    })
  })

  describe('body limits and media types', () => {
    for (const how of ['content-length', 'stream'] as const) {
      test(`413 PAYLOAD_TOO_LARGE for a body over 64 KiB (${how})`, async () => {
        const t = ctx()
        const user = newUser()
        const task = await createTask(t, user)
        for (const size of [KiB64 + 1, 200 * 1024]) {
          const text = paddedTask(size)
          await expectProblem(await sendBody(t, '/api/v1/tasks', 'POST', text, how, user), 413, 'PAYLOAD_TOO_LARGE')
          await expectProblem(await sendBody(t, `/api/v1/tasks/${task.id}`, 'PATCH', text, how, user), 413, 'PAYLOAD_TOO_LARGE')
          await expectProblem(await sendBody(t, `/api/v1/tasks/${task.id}`, 'PUT', text, how, user), 413, 'PAYLOAD_TOO_LARGE')
        }
        expect(await json(await t.request('/api/v1/tasks', { as: user }))).toEqual([expect.objectContaining({ id: task.id, version: 1 })])
      })

      test(`exactly 64 KiB of valid JSON is accepted (${how})`, async () => {
        const t = ctx()
        const user = newUser()
        const res = await sendBody(t, '/api/v1/tasks', 'POST', paddedTask(KiB64), how, user)
        expect(res.status, await res.clone().text()).toBe(201)
        expect(await json(res)).toMatchObject({ title: 'padded', user_id: user })
      })
    }

    test('415 UNSUPPORTED_MEDIA_TYPE for a text/plain, form or multipart body', async () => {
      const t = ctx()
      const user = newUser()
      const task = await createTask(t, user)
      const form = new FormData()
      form.set('title', 'x')
      const bodies: [string, RequestInit][] = [
        ['text/plain', { headers: { 'content-type': 'text/plain' }, body: '{"title":"x"}' }],
        ['text/plain;charset=UTF-8', { headers: { 'content-type': 'text/plain;charset=UTF-8' }, body: '{"title":"x"}' }],
        ['urlencoded', { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'title=x' }],
        ['multipart', { body: form }],
        ['jsonp-ish', { headers: { 'content-type': 'application/javascript' }, body: '{"title":"x"}' }],
      ]
      for (const [name, init] of bodies) {
        for (const [method, path] of [
          ['POST', '/api/v1/tasks'],
          ['PATCH', `/api/v1/tasks/${task.id}`],
          ['PUT', `/api/v1/tasks/${task.id}`],
          ['PATCH', `/api/v1/tasks/${task.id}/toggle`],
        ] as const) {
          const res = await t.request(path, { method, as: user, ...init })
          expect(res.status, `${name} ${method} ${path}: ${await res.clone().text()}`).toBe(415)
          await expectProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE')
        }
      }
      expect(await json(await t.request('/api/v1/tasks', { as: user }))).toEqual([expect.objectContaining({ id: task.id, version: 1 })])
    })

    test('JSON media types with parameters or a +json suffix are accepted', async () => {
      const t = ctx()
      const user = newUser()
      for (const contentType of ['application/json; charset=utf-8', 'Application/JSON', 'application/merge-patch+json']) {
        const res = await t.request('/api/v1/tasks', { method: 'POST', as: user, headers: { 'content-type': contentType }, body: '{"title":"typed"}' })
        expect(res.status, `${contentType}: ${await res.clone().text()}`).toBe(201)
      }
    })
  })

  describe('401 comes first', () => {
    const bad: [string, (t: TestApp, path: string, method: string, headers: Record<string, string>) => Promise<Response>][] = [
      ['an invalid body (400)', (t, path, method, headers) => t.request(path, { method, headers, json: { title: '', unknown: 1 } })],
      ['malformed JSON (400)', (t, path, method, headers) => t.request(path, { method, headers: { ...headers, 'content-type': 'application/json' }, body: '{' })],
      [
        'a body over 64 KiB with Content-Length (413)',
        (t, path, method, headers) => {
          const text = paddedTask(KiB64 + 1)
          return t.request(path, { method, headers: { ...headers, 'content-type': 'application/json', 'content-length': String(text.length) }, body: text })
        },
      ],
      [
        'a streamed body over 64 KiB (413)',
        (t, path, method, headers) =>
          t.request(path, { method, headers: { ...headers, 'content-type': 'application/json' }, body: streamOf(paddedTask(KiB64 + 1)), duplex: 'half' } as RequestInit),
      ],
      ['a text/plain body (415)', (t, path, method, headers) => t.request(path, { method, headers: { ...headers, 'content-type': 'text/plain' }, body: 'title' })],
    ]
    for (const [name, send] of bad) {
      test(`no or a bad token with ${name} is 401`, async () => {
        const t = ctx()
        const user = newUser()
        const task = await createTask(t, user)
        for (const headers of [{}, { authorization: 'Bearer nope' }] as Record<string, string>[]) {
          for (const [method, path] of [
            ['POST', '/api/v1/tasks'],
            ['PATCH', `/api/v1/tasks/${task.id}`],
            ['PUT', `/api/tasks/${task.id}`],
            ['PATCH', `/api/v1/tasks/${task.id}/toggle`],
            ['PATCH', '/api/v1/tasks/not-a-uuid'],
          ] as const) {
            const res = await send(t, path, method, headers)
            expect(res.status, `${method} ${path}: ${await res.clone().text()}`).toBe(401)
            await expectProblem(res, 401, 'UNAUTHORIZED')
          }
        }
      })
    }
  })

  describe('X-Request-Id', () => {
    test('a sane id is echoed, in the header and in an error\'s request_id', async () => {
      const t = ctx()
      for (const id of ['abc-123', 'A.b_c-D.9', 'a'.repeat(128), crypto.randomUUID()]) {
        const ok = await t.request('/healthz', { headers: { 'x-request-id': id } })
        expect(ok.headers.get('x-request-id')).toBe(id)
        const err = await t.request('/api/v1/tasks', { headers: { 'x-request-id': id } })
        expect(err.headers.get('x-request-id')).toBe(id)
        expect((await expectProblem(err, 401, 'UNAUTHORIZED')).request_id).toBe(id)
      }
    })

    test('anything else is replaced by a new sane id', async () => {
      const t = ctx()
      for (const id of ['a'.repeat(129), 'has space', 'semi;colon', 'a/b', '<script>', 'x:y', '']) {
        const res = await t.request('/api/v1/tasks', { headers: { 'x-request-id': id } })
        const given = res.headers.get('x-request-id')
        expect(given, JSON.stringify(id)).toMatch(saneId)
        expect(given).not.toBe(id)
        expect((await expectProblem(res, 401, 'UNAUTHORIZED')).request_id).toBe(given!)
      }
    })

    test('without one, each response gets a new id', async () => {
      const t = ctx()
      const ids = new Set<string>()
      for (let i = 0; i < 5; i++) {
        const id = (await t.request('/healthz')).headers.get('x-request-id')
        expect(id).toMatch(saneId)
        ids.add(id!)
      }
      expect(ids.size).toBe(5)
    })

    test('is on success, error, 404, 405 and preflight responses', async () => {
      const t = ctx()
      const user = newUser()
      const task = await createTask(t, user)
      const responses: [string, Promise<Response>][] = [
        ['healthz', t.request('/healthz', { headers: { 'x-request-id': 'r-1' } })],
        ['list', t.request('/api/v1/tasks', { as: user, headers: { 'x-request-id': 'r-2' } })],
        ['create', t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: 'x' }, headers: { 'x-request-id': 'r-3' } })],
        ['delete', t.request(`/api/v1/tasks/${task.id}`, { method: 'DELETE', as: user, headers: { 'x-request-id': 'r-4' } })],
        ['401', t.request('/api/v1/tasks', { headers: { 'x-request-id': 'r-5' } })],
        ['400', t.request('/api/v1/tasks', { method: 'POST', as: user, json: {}, headers: { 'x-request-id': 'r-6' } })],
        ['404 task', t.request(`/api/v1/tasks/${crypto.randomUUID()}`, { as: user, headers: { 'x-request-id': 'r-7' } })],
        ['404 route', t.request('/nope', { headers: { 'x-request-id': 'r-8' } })],
        ['405', t.request('/healthz', { method: 'POST', headers: { 'x-request-id': 'r-9' } })],
        [
          'preflight',
          t.request('/api/v1/tasks', {
            method: 'OPTIONS',
            headers: { 'x-request-id': 'r-10', origin: 'http://localhost:3000', 'access-control-request-method': 'POST' },
          }),
        ],
        ['docs', t.request('/docs/json', { headers: { 'x-request-id': 'r-11' } })],
      ]
      for (const [i, [name, pending]] of responses.entries()) {
        const res = await pending
        expect(res.headers.get('x-request-id'), name).toBe(`r-${i + 1}`)
      }
      // and a made one when none is given
      for (const res of [await t.request('/nope'), await t.request('/api/v1/tasks', { method: 'OPTIONS', headers: { origin: 'http://localhost:3000', 'access-control-request-method': 'GET' } })]) {
        expect(res.headers.get('x-request-id')).toMatch(saneId)
      }
    })
  })

  describe('CORS with the default origins', () => {
    const origin = 'http://localhost:3000'
    const listOf = (value: string | null) => (value ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean)

    test('an allowed origin gets Access-Control-Allow-Origin, the exposed headers and Vary: Origin', async () => {
      const t = ctx()
      const user = newUser()
      const task = await createTask(t, user)
      for (const [name, res] of [
        ['list', await t.request('/api/v1/tasks', { as: user, headers: { origin } })],
        ['create', await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: 'x' }, headers: { origin } })],
        ['get', await t.request(`/api/v1/tasks/${task.id}`, { as: user, headers: { origin } })],
        ['401', await t.request('/api/v1/tasks', { headers: { origin } })],
        ['404', await t.request('/nope', { headers: { origin } })],
        ['healthz', await t.request('/healthz', { headers: { origin } })],
      ] as const) {
        expect(res.headers.get('access-control-allow-origin'), name).toBe(origin)
        const exposed = listOf(res.headers.get('access-control-expose-headers'))
        for (const h of ['etag', 'location', 'link', 'x-request-id', 'retry-after', 'idempotent-replayed']) expect(exposed, name).toContain(h)
        expect(listOf(res.headers.get('vary')), name).toContain('origin')
        expect(res.headers.get('access-control-allow-credentials'), name).toBeNull()
      }
    })

    test('another origin gets no Access-Control-Allow-Origin', async () => {
      const t = ctx()
      const user = newUser()
      for (const other of [
        'http://evil.example',
        'https://localhost:3000',
        'http://localhost:3000.evil.example',
        'http://localhost.evil.example:5173',
        'http://localhost:5173/',
        'http://localhost:abc',
        'http://127.0.0.2:5173',
        'http://[::1]:5173',
        'null',
      ]) {
        const res = await t.request('/api/v1/tasks', { as: user, headers: { origin: other } })
        expect(res.status).toBe(200)
        expect(res.headers.get('access-control-allow-origin'), other).toBeNull()
        expect(res.headers.get('access-control-expose-headers'), other).toBeNull()
        expect(listOf(res.headers.get('vary')), other).toContain('origin')
      }
    })

    test('outside production, a local app on any port of localhost or 127.0.0.1 is allowed', async () => {
      const t = ctx()
      const user = newUser()
      for (const local of ['http://localhost:5173', 'http://127.0.0.1:4173', 'http://localhost', 'http://localhost:65535']) {
        const res = await t.request('/api/v1/tasks', { as: user, headers: { origin: local } })
        expect(res.headers.get('access-control-allow-origin'), local).toBe(local)
        const preflight = await t.request('/api/v1/tasks', {
          method: 'OPTIONS',
          headers: { origin: local, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
        })
        expect(preflight.status, local).toBe(204)
        expect(preflight.headers.get('access-control-allow-origin'), local).toBe(local)
      }
    })

    test('a preflight is answered 204, without a token, with the allowed methods, headers and max age', async () => {
      const t = ctx()
      for (const path of ['/api/v1/tasks', `/api/v1/tasks/${crypto.randomUUID()}`, `/api/v1/tasks/${crypto.randomUUID()}/toggle`]) {
        const res = await t.request(path, {
          method: 'OPTIONS',
          headers: { origin, 'access-control-request-method': 'PATCH', 'access-control-request-headers': 'authorization,content-type' },
        })
        expect(res.status, await res.clone().text()).toBe(204)
        expect(await res.text()).toBe('')
        expect(res.headers.get('access-control-allow-origin')).toBe(origin)
        const methods = listOf(res.headers.get('access-control-allow-methods'))
        for (const m of ['get', 'post', 'put', 'patch', 'delete']) expect(methods).toContain(m)
        const headers = listOf(res.headers.get('access-control-allow-headers'))
        for (const h of ['authorization', 'content-type', 'if-match', 'if-none-match', 'idempotency-key', 'last-event-id', 'x-request-id']) expect(headers).toContain(h)
        expect(res.headers.get('access-control-max-age')).toMatch(/^[1-9]\d*$/)
        expect(listOf(res.headers.get('vary'))).toContain('origin')
      }
    })

    test('a preflight from another origin is not allowed', async () => {
      const t = ctx()
      const res = await t.request('/api/v1/tasks', {
        method: 'OPTIONS',
        headers: { origin: 'http://evil.example', 'access-control-request-method': 'DELETE', 'access-control-request-headers': 'authorization' },
      })
      expect(res.headers.get('access-control-allow-origin')).toBeNull()
      expect(res.headers.get('access-control-allow-methods')).toBeNull()
      expect(res.headers.get('access-control-allow-headers')).toBeNull()
    })
  })
})

describeEachDriver(
  'errors with CORS_ORIGINS set',
  (ctx) => {
    test('each configured origin is allowed, and only those', async () => {
      const t = ctx()
      const user = newUser()
      for (const origin of ['https://a.example', 'https://b.example']) {
        const res = await t.request('/api/v1/tasks', { as: user, headers: { origin } })
        expect(res.status).toBe(200)
        expect(res.headers.get('access-control-allow-origin')).toBe(origin)
        expect(res.headers.get('vary')?.toLowerCase()).toContain('origin')
        const preflight = await t.request('/api/v1/tasks', {
          method: 'OPTIONS',
          headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
        })
        expect(preflight.status).toBe(204)
        expect(preflight.headers.get('access-control-allow-origin')).toBe(origin)
      }
      for (const origin of ['http://localhost:3000', 'https://c.example', 'http://a.example']) {
        const res = await t.request('/api/v1/tasks', { as: user, headers: { origin } })
        expect(res.headers.get('access-control-allow-origin'), origin).toBeNull()
        const preflight = await t.request('/api/v1/tasks', { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } })
        expect(preflight.headers.get('access-control-allow-origin'), origin).toBeNull()
      }
    })
  },
  { CORS_ORIGINS: 'https://a.example,https://b.example' },
)

describeEachDriver(
  'CORS in production with CORS_ORIGINS unset',
  (ctx) => {
    test('no origin is allowed, local ones included', async () => {
      const t = ctx()
      const user = newUser()
      for (const origin of ['http://localhost:5173', 'http://127.0.0.1:3000', 'https://app.example.com']) {
        const res = await t.request('/api/v1/tasks', { as: user, headers: { origin } })
        expect(res.status, await res.clone().text()).toBe(200)
        expect(res.headers.get('access-control-allow-origin'), origin).toBeNull()
        const preflight = await t.request('/api/v1/tasks', { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } })
        expect(preflight.headers.get('access-control-allow-origin'), origin).toBeNull()
      }
    })
  },
  { NODE_ENV: 'production' },
)

// A real failure underneath (the table is gone): 500 in the contract's shape, nothing of the SQL or
// the task's text in the body or the logs.
for (const driver of drivers) {
  test(`500 INTERNAL_ERROR carries no SQL, and its log line no SQL or task text [${driver.name}]`, async () => {
    const database = await driver.create()
    try {
      const t = await createTestApp(database)
      const user = newUser()
      const secret = `secret title ${crypto.randomUUID()}`
      await database.handle.db.execute(sql`alter table tasks rename to tasks_elsewhere`)
      for (const [path, init] of [
        ['/api/v1/tasks', {}],
        ['/api/v1/tasks', { method: 'POST', json: { title: secret, description: secret } }],
      ] as const) {
        const res = await t.request(path, { as: user, ...init })
        expect(res.status, await res.clone().text()).toBe(500)
        expect(res.headers.get('content-type')).toBe('application/problem+json')
        const body = await json(res)
        expect(body).toEqual({
          title: 'Internal Server Error',
          status: 500,
          detail: 'An unexpected error occurred',
          error_code: 'INTERNAL_ERROR',
          status_code: 500,
          request_id: res.headers.get('x-request-id'),
        })
        const line = t.logs.find((l) => l.message === 'request.failed' && l.request_id === body.request_id)
        expect(line).toMatchObject({ level: 'error', error: 'DrizzleQueryError', sql_state: '42P01' })
      }
      const logs = JSON.stringify(t.logs)
      expect(logs).not.toContain(secret)
      expect(logs.toLowerCase()).not.toContain('select')
      expect(logs.toLowerCase()).not.toContain('insert into')
    } finally {
      await database.drop()
    }
  }, 60_000)
}
