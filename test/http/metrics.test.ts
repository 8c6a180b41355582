// Prometheus metrics: known traffic, then a scrape of the metrics listener with exact counts; label
// values are route patterns (never paths or ids); the public port never serves /metrics.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createMetrics, serveMetrics } from '../../src/http/metrics'
import { createTestApp, json, newUser, signToken, type TestApp } from '../support/app'
import { drivers, type TestDatabase } from '../support/databases'
import { parseScrape } from '../support/metrics'
import { startServer } from '../support/server'

const [pglite] = drivers

describe('metrics [pglite]', () => {
  let database: TestDatabase
  beforeAll(async () => {
    database = await pglite!.create()
  })
  afterAll(() => database.drop())

  test('a scrape after known traffic counts it exactly, by route pattern, method and status', async () => {
    const metrics = createMetrics()
    const t: TestApp = await createTestApp(database, { RATE_LIMIT_PER_USER: '5' }, { metrics })
    const user = newUser()
    const list = () => t.request('/api/v1/tasks', { as: user })
    expect((await list()).status).toBe(200)
    expect((await list()).status).toBe(200)
    const created = await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: 'counted' } })
    expect(created.status, await created.clone().text()).toBe(201)
    const { id } = await json(created)
    expect((await t.request(`/api/v1/tasks/${id}`, { as: user })).status).toBe(200)
    expect((await list()).status).toBe(200)
    expect((await list()).status).toBe(429)
    expect((await t.request('/api/v1/tasks')).status).toBe(401)
    const forged = await signToken({ sub: user }, { secret: 'another-secret-that-is-long-enough-for-this' })
    expect((await t.request('/api/v1/tasks', { headers: { authorization: `Bearer ${forged}` } })).status).toBe(401)
    expect((await t.request(`/nope/${id}`)).status).toBe(404)
    await Bun.sleep(30) // after-response hooks

    const server = serveMetrics(metrics, { port: 0, hostname: '127.0.0.1' })
    try {
      const res = await fetch(new URL('/metrics', server.url))
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8')
      const text = await res.text()
      const s = parseScrape(text)
      const requests = [...s].filter(([k]) => k.startsWith('taskapi_http_requests_total'))
      expect(Object.fromEntries(requests)).toEqual({
        'taskapi_http_requests_total{method="GET",route="/api/v1/tasks",status="200"}': 3,
        'taskapi_http_requests_total{method="GET",route="/api/v1/tasks",status="429"}': 1,
        'taskapi_http_requests_total{method="GET",route="/api/v1/tasks",status="401"}': 2,
        'taskapi_http_requests_total{method="POST",route="/api/v1/tasks",status="201"}': 1,
        'taskapi_http_requests_total{method="GET",route="/api/v1/tasks/:id",status="200"}': 1,
        'taskapi_http_requests_total{method="GET",route="unmatched",status="404"}': 1,
      })
      expect(s.get('taskapi_http_request_duration_seconds_count{method="GET",route="/api/v1/tasks"}')).toBe(6)
      expect(s.get('taskapi_http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/api/v1/tasks"}')).toBe(6)
      expect(s.get('taskapi_http_request_duration_seconds_sum{method="GET",route="/api/v1/tasks"}')).toBeGreaterThan(0)
      // Every statement is timed: at least one per request that reached the database.
      expect(s.get('taskapi_db_query_duration_seconds_count')).toBeGreaterThanOrEqual(5)
      expect(s.get('taskapi_db_query_duration_seconds_bucket{le="+Inf"}')).toBe(s.get('taskapi_db_query_duration_seconds_count'))
      expect(s.get('taskapi_db_query_duration_seconds_sum')).toBeGreaterThan(0)
      expect(s.get('taskapi_rate_limit_rejections_total{scope="user"}')).toBe(1)
      expect(s.get('taskapi_rate_limit_store_failures_total')).toBe(0)
      expect(s.get('taskapi_auth_failed_total{reason="missing"}')).toBe(1)
      expect(s.get('taskapi_auth_failed_total{reason="signature"}')).toBe(1)
      expect(s.get('process_resident_memory_bytes')).toBeGreaterThan(10_000_000)
      expect(s.get('nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0)
      // No path, task id or user id in any label.
      expect(text).not.toContain(id)
      expect(text).not.toContain(user)
      expect(text).not.toContain('/nope')
    } finally {
      server.stop(true)
    }
  })

  test('only GET /metrics is served on the metrics listener', async () => {
    const server = serveMetrics(createMetrics(), { port: 0, hostname: '127.0.0.1' })
    try {
      expect((await fetch(new URL('/', server.url))).status).toBe(404)
      expect((await fetch(new URL('/metrics', server.url), { method: 'POST' })).status).toBe(405)
    } finally {
      server.stop(true)
    }
  })
})

describe('metrics in a running server', () => {
  test('METRICS_PORT gets its own listener; the public port has no /metrics', async () => {
    const server = await startServer({ DATABASE_URL: 'memory://', JWT_SECRET: 'x'.repeat(40), METRICS_PORT: '0' })
    try {
      const started = server.logs.find((l) => l.message === 'server.started')!
      const metricsUrl = String(started.metrics_url)
      expect(new URL(metricsUrl).port).not.toBe(new URL(server.url).port)
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200)
      const publicScrape = await fetch(`${server.url}/metrics`)
      expect(publicScrape.status).toBe(404)
      const s = parseScrape(await (await fetch(metricsUrl)).text())
      expect(s.get('taskapi_http_requests_total{method="GET",route="/healthz",status="200"}')).toBe(1)
      expect(s.get('taskapi_http_requests_total{method="GET",route="unmatched",status="404"}')).toBe(1)
    } finally {
      await server.stop()
    }
  })
})

// Bun.SQL exposes no pool figures; Neon's Pool does. Runs wherever the Postgres suites run (CI).
const neon = drivers.find((d) => d.name === 'neon')
describe.skipIf(!neon)('pool metrics [neon]', () => {
  test('connections in use, idle and waiting, read at scrape time', async () => {
    const database = await neon!.create()
    try {
      const metrics = createMetrics({ pool: database.handle.poolStats })
      const t = await createTestApp(database, {}, { metrics })
      expect((await t.request('/api/v1/tasks', { as: newUser() })).status).toBe(200)
      const s = parseScrape(await metrics.registry.metrics())
      expect(s.get('taskapi_db_pool_connections_in_use')).toBe(0)
      expect(s.get('taskapi_db_pool_connections_idle')).toBeGreaterThanOrEqual(1)
      expect(s.get('taskapi_db_pool_waiting')).toBe(0)
    } finally {
      await database.drop()
    }
  })
})
