// Prometheus metrics: the request counter and latency histogram (one plugin on the app), the
// budgets' rejections and Redis failures, auth.failed by reason, the database pool where the driver
// exposes it and every query's latency, the open event streams, and the process (memory, event-loop lag, from prom-client's defaults). Served by
// their own listener on METRICS_PORT, never on the public port. Every label value is bounded: a
// route pattern (or "unmatched"), a known method, a status, a scope, a reason.
import { Elysia } from 'elysia'
import type { Registry } from 'prom-client'
import { observeQueries } from '../db/query-timing'
import type { Logger } from '../log'
import type { RateLimitEvents } from './rate-limit'

export interface PoolStats {
  total: number
  idle: number
  waiting: number
}

export interface Metrics extends RateLimitEvents {
  readonly registry: Registry
  request(method: string, route: string, status: number, seconds: number): void
  /** A logger that also counts the events the metrics follow (auth.failed by reason). */
  counting(log: Logger): Logger
}

const methods = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])

// Seconds; from a cached token check (~0.1 ms) to the database's statement timeout.
const latencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

export function createMetrics({ pool, streams }: { pool?: () => PoolStats | undefined; streams?: () => number } = {}): Metrics {
  // Loaded here, not at the top: it takes ~10 ms, which every start without METRICS_PORT is spared.
  const { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } = require('prom-client') as typeof import('prom-client')
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const registers = [registry]
  const requests = new Counter({
    name: 'taskapi_http_requests_total',
    help: 'HTTP requests answered, by route pattern, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers,
  })
  const duration = new Histogram({
    name: 'taskapi_http_request_duration_seconds',
    help: 'Time from the request to its response, by route pattern and method',
    labelNames: ['route', 'method'] as const,
    buckets: latencyBuckets,
    registers,
  })
  const rejected = new Counter({
    name: 'taskapi_rate_limit_rejections_total',
    help: 'Requests refused with 429, by budget (client address or user)',
    labelNames: ['scope'] as const,
    registers,
  })
  const storeFailures = new Counter({
    name: 'taskapi_rate_limit_store_failures_total',
    help: 'Budget checks that Redis did not answer within 50 ms; each was served on the instance\'s own budget',
    registers,
  })
  const authFailed = new Counter({
    name: 'taskapi_auth_failed_total',
    help: 'Requests whose token was refused (the auth.failed log event), by reason',
    labelNames: ['reason'] as const,
    registers,
  })
  if (pool) {
    const gauge = (name: string, help: string, read: (s: PoolStats) => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const stats = pool()
          if (stats) this.set(read(stats))
        },
      })
    gauge('taskapi_db_pool_connections_in_use', 'Database connections lent to a query or transaction', (s) => s.total - s.idle)
    gauge('taskapi_db_pool_connections_idle', 'Open database connections waiting for work', (s) => s.idle)
    gauge('taskapi_db_pool_waiting', 'Queries waiting for a free database connection', (s) => s.waiting)
  }
  const queries = new Histogram({
    name: 'taskapi_db_query_duration_seconds',
    help: 'Time from sending a database statement to its result (or failure)',
    buckets: latencyBuckets,
    registers,
  })
  observeQueries((seconds) => queries.observe(seconds))
  if (streams) {
    new Gauge({
      name: 'taskapi_event_streams_open',
      help: 'Event streams (GET /api/v1/events) open on this instance',
      registers,
      collect() {
        this.set(streams())
      },
    })
  }
  return {
    registry,
    request(method, route, status, seconds) {
      const m = methods.has(method) ? method : 'OTHER'
      requests.inc({ route, method: m, status: String(status) })
      duration.observe({ route, method: m }, seconds)
    },
    rejected: (scope) => rejected.inc({ scope }),
    storeFailed: () => storeFailures.inc(),
    counting(log) {
      return {
        ...log,
        warn(message, fields) {
          if (message === 'auth.failed') authFailed.inc({ reason: String(fields?.reason ?? 'unknown') })
          log.warn(message, fields)
        },
      }
    },
  }
}

/** Times every request and counts it by route pattern; one plugin, global, first in the app. */
export const requestMetrics = (metrics: Metrics | undefined) => {
  const startedAt = new WeakMap<Request, number>()
  const plugin = new Elysia({ name: 'request-metrics' })
  if (!metrics) return plugin
  return plugin
    .onRequest(({ request }) => {
      startedAt.set(request, performance.now())
    })
    .onAfterResponse(({ request, route, set }) => {
      const started = startedAt.get(request)
      const seconds = started === undefined ? 0 : (performance.now() - started) / 1000
      // An unmatched path is one label value, whatever was asked: paths carry ids.
      metrics.request(request.method, route || 'unmatched', typeof set.status === 'number' ? set.status : 200, seconds)
    })
    .as('global')
}

/** Serves GET /metrics on its own port (METRICS_PORT), apart from the public listener. */
export function serveMetrics(metrics: Metrics, { port, hostname }: { port: number; hostname: string }) {
  return Bun.serve({
    port,
    hostname,
    reusePort: false,
    async fetch(request) {
      if (new URL(request.url).pathname !== '/metrics') return new Response('Not Found\n', { status: 404 })
      if (request.method !== 'GET' && request.method !== 'HEAD') return new Response(null, { status: 405, headers: { allow: 'GET, HEAD' } })
      return new Response(await metrics.registry.metrics(), { headers: { 'content-type': metrics.registry.contentType } })
    },
  })
}
