// Builds the whole HTTP app from its dependencies, without listening: tests and Eden call
// app.handle() in process, and the same function serves the binary.
import { Elysia } from 'elysia'
import type { Verifier } from './auth/verify'
import type { Config } from './config'
import type { DatabaseHandle } from './db/client'
import { rawBody } from './http/body'
import { docs } from './http/docs'
import { api } from './http/api'
import { errors } from './http/errors'
import { registerFormats } from './http/formats'
import { health } from './http/health'
import { accessLog } from './http/access-log'
import { cors } from './http/cors'
import { requestMetrics, type Metrics } from './http/metrics'
import { createRateLimits } from './http/rate-limit'
import { requestId } from './http/request'
import { responseHeaders } from './http/response-headers'
import { unvalidatedResponses } from './http/responses'
import { routing } from './http/routing'
import type { Logger } from './log'
import { lists } from './lists/routes'
import { createSync, type Sync } from './sync/hub'
import { syncRoutes } from './sync/routes'
import { taskMoves, tasks } from './tasks/routes'

export interface AppDeps {
  config: Pick<Config, 'corsOrigins' | 'rateLimit' | 'trustProxy' | 'redis' | 'sync'>
  database: DatabaseHandle
  verify: Verifier
  log: Logger
  /** Prometheus metrics, when METRICS_PORT is set. */
  metrics?: Metrics
  /** The instance's event streams and listener; made from the config when not given. */
  sync?: Sync
}

export function createApp({ config, database, verify, log: baseLog, metrics, sync }: AppDeps) {
  registerFormats()
  const log = metrics ? metrics.counting(baseLog) : baseLog
  const streams = sync ?? createSync({ database, log, ...config.sync })
  const limits = createRateLimits(config.rateLimit, { redis: config.redis, log, events: metrics })
  // One base for every /api feature, so the three path families spend the same request budgets.
  const base = api({ database, log, verify, limits, trustProxy: config.trustProxy })
  const app = new Elysia({ normalize: false })
    .use(requestMetrics(metrics))
    .use(requestId)
    .use(responseHeaders)
    .use(cors(config.corsOrigins))
    .use(accessLog(log))
    // routing answers unmatched paths before errors' catch-all onError.
    .use(routing)
    .use(errors({ log }))
    .use(rawBody)
    .use(health(database))
    .use(docs())
    .use(tasks(base, '/api/v1'))
    .use(taskMoves(base))
    .use(lists(base))
    .use(tasks(base, '/api'))
    .use(tasks(base, '/api/:user_id'))
    .use(syncRoutes(base, streams))
    .onStop(() => limits.close())
  return unvalidatedResponses(app)
}

export type App = ReturnType<typeof createApp>
