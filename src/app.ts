// Builds the whole HTTP app from its dependencies, without listening: tests and Eden call
// app.handle() in process, and the same function serves the binary.
import { Elysia } from 'elysia'
import type { Verifier } from './auth/verify'
import type { Config } from './config'
import type { DatabaseHandle } from './db/client'
import { rawBody } from './http/body'
import { docs } from './http/docs'
import { errors } from './http/errors'
import { health } from './http/health'
import { createRateLimits } from './http/rate-limit'
import { requestContext } from './http/request'
import type { Logger } from './log'
import { createSync, type Sync } from './sync/hub'
import { syncRoutes } from './sync/routes'
import { registerFormats } from './tasks/formats'
import { tasks } from './tasks/routes'

export interface AppDeps {
  config: Pick<Config, 'corsOrigins' | 'rateLimit' | 'trustProxy' | 'sync'>
  database: DatabaseHandle
  verify: Verifier
  log: Logger
  /** The instance's event streams and listener; made from the config when not given. */
  sync?: Sync
}

export function createApp({ config, database, verify, log, sync = createSync({ database, log, ...config.sync }) }: AppDeps) {
  registerFormats()
  // One set of budgets for the whole app: the three path families spend the same ones.
  const shared = { database, log, verify, limits: createRateLimits(config.rateLimit), trustProxy: config.trustProxy }
  const known = { routes: [] as readonly { method: string; path: string }[] }
  const app = new Elysia({ normalize: false })
    .use(requestContext({ log, corsOrigins: config.corsOrigins }))
    .use(errors({ log, known }))
    .use(rawBody)
    .use(health(database))
    .use(docs())
    .use(tasks({ prefix: '/api/v1', ...shared }))
    .use(tasks({ prefix: '/api', ...shared }))
    .use(tasks({ prefix: '/api/:user_id', ...shared }))
    .use(syncRoutes({ ...shared, sync }))
  known.routes = app.routes
  return app
}

export type App = ReturnType<typeof createApp>
