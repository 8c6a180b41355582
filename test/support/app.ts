// An in-process app on a real database, with tokens signed by its secret and its log lines kept.
import { afterAll, beforeAll, describe } from 'bun:test'
import { SignJWT } from 'jose'
import { createApp } from '../../src/app'
import { createVerifier } from '../../src/auth/verify'
import { loadConfig } from '../../src/config'
import type { Metrics } from '../../src/http/metrics'
import { createLogger } from '../../src/log'
import { createSync, type Sync, type SyncOptions } from '../../src/sync/hub'
import { drivers, type TestDatabase, type TestDriver } from './databases'

export const SECRET = 'test-secret-that-is-long-enough-for-production-use'

export interface TestApp {
  app: ReturnType<typeof createApp>
  db: TestDatabase['handle']
  /** The app's sync hub (event streams, listener, purge). */
  sync: Sync
  /** Every log line written so far, parsed. */
  logs: Record<string, unknown>[]
  /** Calls the app in process; `as` signs a fresh token for that user. */
  request(path: string, init?: RequestInit & { as?: string; json?: unknown }): Promise<Response>
  token(sub: string): Promise<string>
}

export async function createTestApp(
  database: TestDatabase,
  env: Record<string, string> = {},
  { metrics, sync: syncOptions = {} }: { metrics?: Metrics; sync?: Partial<SyncOptions> } = {},
): Promise<TestApp> {
  // Budgets are off unless a test turns them on: suites make thousands of requests in a minute.
  const config = loadConfig({ JWT_SECRET: SECRET, LOG_LEVEL: 'debug', RATE_LIMIT_PER_IP: '0', RATE_LIMIT_PER_USER: '0', ...env })
  const logs: Record<string, unknown>[] = []
  const log = createLogger(config.logLevel, (line) => logs.push(JSON.parse(line)))
  const sync = createSync({ database: database.handle, log, ...config.sync, ...syncOptions })
  const app = createApp({ config, database: database.handle, verify: await createVerifier(config.jwt), log, metrics, sync })
  const token = (sub: string) => signToken({ sub })
  return {
    app,
    sync,
    db: database.handle,
    logs,
    token,
    async request(path, { as, json, headers, ...init } = {}) {
      const h = new Headers(headers)
      if (as !== undefined) h.set('authorization', `Bearer ${await token(as)}`)
      if (json !== undefined) h.set('content-type', 'application/json')
      return app.handle(
        new Request(`http://localhost${path}`, { ...init, headers: h, body: json !== undefined ? JSON.stringify(json) : init.body }),
      )
    },
  }
}

/** Signs a token with the test secret; by default HS256, expiring in an hour. */
export function signToken(
  claims: Record<string, unknown>,
  { alg = 'HS256', secret = SECRET, expiresIn = '1h' as string | number | null } = {},
): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg, typ: 'JWT' }).setIssuedAt()
  if (expiresIn !== null) jwt.setExpirationTime(expiresIn)
  return jwt.sign(new TextEncoder().encode(secret))
}

// Making a database (initdb for PGlite, CREATE DATABASE for Postgres) is slow on a busy 2-core box.
const HOOK_TIMEOUT_MS = 60_000

export { newUser } from './factories'

/**
 * Runs `suite` once per driver (PGlite, and Postgres when TEST_DATABASE_URL is set), each on a
 * database of its own. The suite reads `ctx()` inside its tests.
 */
export function describeEachDriver(name: string, suite: (ctx: () => TestApp, driver: TestDriver) => void, env: Record<string, string> = {}) {
  for (const driver of drivers) {
    describe(`${name} [${driver.name}]`, () => suite(appOn(driver, env), driver))
  }
}

/**
 * An app on a database of its own from `driver` (PGlite by default), made before the enclosing
 * suite's (or file's) tests and dropped after them; read it with the returned function inside tests.
 */
export function appOn(driver: TestDriver = drivers[0]!, env: Record<string, string> = {}): () => TestApp {
  let database: TestDatabase | undefined
  let testApp: TestApp
  beforeAll(async () => {
    database = await driver.create()
    testApp = await createTestApp(database, env)
  }, HOOK_TIMEOUT_MS)
  afterAll(async () => {
    await testApp?.sync.close()
    await database?.drop()
  }, HOOK_TIMEOUT_MS)
  return () => testApp
}

/** Reads a JSON body, putting the raw text in the failure message when it is not JSON. */
export async function json<T = any>(res: Response): Promise<T> {
  const text = await res.text()
  try {
    return JSON.parse(text) as T
  } catch {
    throw new Error(`expected JSON, got ${res.status}: ${text}`)
  }
}
