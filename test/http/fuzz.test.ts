// A property-based fuzz test: hostile requests for every route in the OpenAPI document (wrong
// types, deep nesting, huge and tiny numbers, lone surrogates, NUL, __proto__ and duplicate keys,
// bodies around 64 KiB, repeated and garbage query parameters, odd ids and headers). Whatever is
// sent: never a 5xx, always the problem shape for an error, always under 100 ms.
//
// It runs for FUZZ_SECONDS (20 by default; CI keeps the default) and prints its seed; replay a
// failure with FUZZ_SEED=<seed>, run longer with FUZZ_SECONDS=600.
import { afterAll, beforeAll, expect, test } from 'bun:test'
import fc from 'fast-check'
import { createTestApp, json, newUser, type TestApp } from '../support/app'
import { drivers, type TestDatabase } from '../support/databases'

const seconds = Number(process.env.FUZZ_SECONDS ?? 20)
const seed = process.env.FUZZ_SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.FUZZ_SEED)
const LIMIT_MS = 100
const KiB64 = 64 * 1024

interface Operation {
  method: string
  path: string
  query: string[]
  body?: { properties: Record<string, unknown> }
}

let database: TestDatabase
let t: TestApp
let operations: Operation[] = []
const user = newUser('fuzz')
let token = ''
const ids: string[] = []

beforeAll(async () => {
  database = await drivers[0]!.create()
  t = await createTestApp(database)
  token = await t.token(user)
  const doc = await json(await t.request('/docs/json'))
  for (const [path, methods] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
    for (const [method, op] of Object.entries(methods)) {
      operations.push({
        method: method.toUpperCase(),
        path,
        query: (op.parameters ?? []).filter((p: any) => p.in === 'query').map((p: any) => p.name),
        body: op.requestBody?.content?.['application/json']?.schema,
      })
    }
  }
  for (let i = 0; i < 3; i++) ids.push((await json(await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: `fuzz ${i}` } }))).id)
}, 60_000)
afterAll(() => database?.drop())

// ---- generators ---------------------------------------------------------------------------------

const nasty = fc.constantFrom(
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfff',
  '__proto__',
  'constructor',
  'null',
  '1e999',
  '-0',
  '0000-01-01T00:00:00Z',
  '9999-12-31T23:00:00-05:00',
  '+010000-01-01T00:00:00.000Z',
  '2026-02-30T00:00:00Z',
  '😀'.repeat(201),
  '%',
  '%00',
  '../..',
  '01900000-0000-7000-8000-000000000000',
  'x'.repeat(5000),
)
const text = fc.oneof(fc.string(), fc.string({ unit: 'binary', maxLength: 50 }), fc.string({ unit: 'grapheme', maxLength: 300 }), nasty)
const numbers = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(1e308, -1e308, 5e-324, 2 ** 53 + 1, -0),
  fc.bigInt({ min: -(10n ** 400n), max: 10n ** 400n }),
)

// JSON text, built as text so it can hold what JSON.stringify cannot: duplicate keys, big integers,
// __proto__ as an own key.
const { value: jsonText } = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom('null', 'true', 'false'),
    numbers.map(String),
    text.map((s) => JSON.stringify(s)),
    fc.array(tie('value'), { maxLength: 5 }).map((items) => `[${items.join(',')}]`),
    fc.array(fc.tuple(fc.oneof(text, fc.constantFrom('__proto__', 'title', 'completed', 'priority', 'due_at')), tie('value')), { maxLength: 5 }).map(
      (entries) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`,
    ),
  ),
}))

const deep = fc.tuple(fc.integer({ min: 1, max: 40_000 }), fc.constantFrom(['[', ']'], ['{"a":', '}'], ['[{"title":', '}]'])).map(
  ([depth, [open, close]]) => `{"title":${open!.repeat(depth)}${open === '[' ? '' : '1'}${close!.repeat(depth)}}`.slice(0, KiB64 + 10),
)

const bodyFor = (op: Operation) => {
  const fields = Object.keys(op.body?.properties ?? {})
  const field = fc.constantFrom(...fields, '__proto__', 'unknown')
  const wrongTyped = fc.array(fc.tuple(field, jsonText), { maxLength: 6 }).map((entries) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`)
  const duplicate = fc.tuple(field, jsonText, jsonText).map(([k, a, b]) => `{${JSON.stringify(k)}:${a},${JSON.stringify(k)}:${b}}`)
  const near64KiB = fc.tuple(fc.integer({ min: -64, max: 64 }), fc.constantFrom(' ', 'x', '😀', '\\u0000')).map(([delta, unit]) => {
    const head = unit === ' ' ? '{"title":"big"' : '{"title":"'
    const tail = unit === ' ' ? '}' : '"}'
    const target = KiB64 + delta - head.length - tail.length
    return head + unit.repeat(Math.max(0, Math.floor(target / Buffer.byteLength(unit)))) + tail
  })
  return fc.oneof(wrongTyped, duplicate, deep, near64KiB, jsonText, fc.constantFrom('', '{', '{"title":"a"', 'nul', '\u0000', '{"title":"ok"}'))
}

const queryFor = (op: Operation) =>
  fc
    .array(fc.tuple(fc.oneof(fc.constantFrom(...op.query, 'limit', 'cursor', 'status'), text), fc.oneof(text, numbers.map(String))), { maxLength: 8 })
    .chain((pairs) =>
      // Raw fragments too: a lone surrogate's bytes, invalid UTF-8, bare separators.
      fc.constantFrom('', '&q=%ED%A0%80', '&q=%FF', '&limit=%00', '&&&=', '&cursor=%', '&sort=title&sort=-title').map(
        (raw) => pairs.map(([k, v]) => `${encodeURIComponent(k.toWellFormed())}=${encodeURIComponent(v.toWellFormed())}`).join('&') + raw,
      ),
    )

const idFor = fc.oneof(
  fc.constantFrom(...['0', '..', '%2e%2e', 'null', '01900000-0000-7000-8000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff', 'x'.repeat(300)]),
  fc.uuid(),
  text.map((s) => encodeURIComponent(s.toWellFormed())),
  fc.constantFrom('%ED%A0%80', '%FF', '%00', '%'),
  fc.constant('__existing__'),
)

const headers = fc.record(
  {
    'content-type': fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'application/merge-patch+json', ''),
    'if-match': fc.oneof(fc.constantFrom('*', '"1"', 'W/"1"', '"', ''), fc.string({ maxLength: 40 })),
    'if-none-match': fc.oneof(fc.constantFrom('*', '"1"', 'W/"x"'), fc.string({ maxLength: 40 })),
    'idempotency-key': fc.oneof(fc.constantFrom('', '""', 'k', 'x'.repeat(300)), fc.string({ maxLength: 40 })),
    'x-request-id': fc.oneof(fc.constantFrom('', 'a'.repeat(129), 'ok-id'), fc.string({ maxLength: 40 })),
    authorization: fc.constantFrom('valid', 'valid', 'valid', 'Bearer', 'Bearer x.y.z', 'Basic abc'),
  },
  { requiredKeys: ['content-type', 'authorization'] },
)

const requests = fc.constant(null).chain(() =>
  fc.constantFrom(...operations).chain((op) =>
    fc.record({ op: fc.constant(op), id: idFor, query: queryFor(op), body: op.body || op.method !== 'GET' ? fc.option(bodyFor(op), { nil: undefined }) : fc.constant(undefined), headers }),
  ),
)

// ---- the property -------------------------------------------------------------------------------

const problemKeys = ['detail', 'error_code', 'request_id', 'status', 'status_code', 'title']

async function firstEvent(res: Response): Promise<string> {
  const reader = res.body!.getReader()
  let text = ''
  while (!text.includes('\n\n')) {
    const { done, value } = await reader.read()
    if (done) break
    text += typeof value === 'string' ? value : new TextDecoder().decode(value)
  }
  await reader.cancel()
  return text
}
const visible = (v: string) => v.replace(/[^\t\x20-\x7e]/g, '?')

test(`hostile requests for every route: no 5xx, the problem shape, under ${LIMIT_MS} ms (seed ${seed}, ${seconds} s)`, async () => {
  console.log(`fuzz: seed ${seed}; replay with FUZZ_SEED=${seed}; ${operations.length} operations for ${seconds} s`)
  let runs = 0
  const statuses = new Map<string, number>()
  await fc.assert(
    fc.asyncProperty(requests, async ({ op, id, query, body, headers: h }) => {
      runs++
      const path = op.path.replace('{id}', id === '__existing__' ? ids[runs % ids.length]! : id)
      const init: Record<string, string> = {}
      for (const [k, v] of Object.entries(h)) if (v !== undefined) init[k] = visible(v)
      init.authorization = h.authorization === 'valid' ? `Bearer ${token}` : h.authorization
      const request = new Request(`http://localhost${path}${query ? `?${query}` : ''}`, {
        method: op.method,
        headers: init,
        body: body === undefined || op.method === 'GET' ? undefined : body,
      })
      const started = performance.now()
      const res = await t.app.handle(request)
      // A live event stream never ends by itself: its first event (sent at once) is read, then it is cancelled.
      const raw = res.headers.get('content-type')?.startsWith('text/event-stream') ? await firstEvent(res) : await res.text()
      const ms = performance.now() - started
      const key = `${res.status}`
      statuses.set(key, (statuses.get(key) ?? 0) + 1)
      const what = `${op.method} ${path.slice(0, 200)} -> ${res.status} in ${ms.toFixed(1)} ms: ${raw.slice(0, 300)}`
      expect(res.status, what).toBeLessThan(500)
      if (res.status >= 400) {
        expect(res.headers.get('content-type'), what).toBe('application/problem+json')
        const problem = JSON.parse(raw)
        for (const key of problemKeys) expect(problem, what).toHaveProperty(key)
        expect(problem.status, what).toBe(res.status)
      }
      expect(ms, what).toBeLessThan(LIMIT_MS)
    }),
    { seed, numRuns: 1_000_000, interruptAfterTimeLimit: seconds * 1000, markInterruptAsFailure: false, endOnFailure: true },
  )
  console.log(`fuzz: ${runs} requests; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`)
  expect(runs).toBeGreaterThan(50)
}, (seconds + 60) * 1000)
