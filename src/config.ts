// The only reader of process.env: parses, validates and freezes the service's configuration.
// A bad value stops the start with one message naming every bad variable.
import { Type as t, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'

const Port = t.Integer({ minimum: 0, maximum: 65535 })
const Seconds = t.Integer({ minimum: 0, maximum: 3600 })

const Env = t.Object({
  PORT: t.Optional(Port),
  HOST: t.Optional(t.String({ minLength: 1 })),
  DATABASE_URL: t.Optional(t.String({ pattern: '^(postgres|postgresql|memory)://' })),
  DATABASE_DIRECT_URL: t.Optional(t.String({ pattern: '^(postgres|postgresql)://' })),
  DATA_DIR: t.Optional(t.String({ minLength: 1 })),
  DB_DRIVER: t.Optional(t.Union([t.Literal('auto'), t.Literal('pglite'), t.Literal('postgres'), t.Literal('neon')])),
  DB_POOL_MAX: t.Optional(t.Integer({ minimum: 1, maximum: 1000 })),
  DB_CONNECT_TIMEOUT_S: t.Optional(t.Integer({ minimum: 1, maximum: 600 })),
  DB_STATEMENT_TIMEOUT_MS: t.Optional(t.Integer({ minimum: 0, maximum: 3_600_000 })),
  NEON_WS_PROXY: t.Optional(t.String({ pattern: '^[^/:]+(:\\d+)?(/.*)?$' })),
  JWT_SECRET: t.Optional(t.String({ minLength: 1 })),
  BETTER_AUTH_SECRET: t.Optional(t.String({ minLength: 1 })),
  JWT_JWKS_URL: t.Optional(t.String({ pattern: '^https?://' })),
  JWT_JWKS_COOLDOWN_S: t.Optional(Seconds),
  JWT_ISSUER: t.Optional(t.String({ minLength: 1 })),
  JWT_AUDIENCE: t.Optional(t.String({ minLength: 1 })),
  JWT_CLOCK_SKEW_S: t.Optional(Seconds),
  JWT_USER_CLAIM: t.Optional(t.String({ minLength: 1 })),
  CORS_ORIGINS: t.Optional(t.String()),
  RATE_LIMIT_PER_IP: t.Optional(t.Integer({ minimum: 0, maximum: 1_000_000 })),
  RATE_LIMIT_PER_USER: t.Optional(t.Integer({ minimum: 0, maximum: 1_000_000 })),
  RATE_LIMIT_WINDOW_S: t.Optional(t.Integer({ minimum: 1, maximum: 86_400 })),
  TRUST_PROXY: t.Optional(t.String({ pattern: '^[A-Za-z0-9-]+$' })),
  SYNC_RETENTION_DAYS: t.Optional(t.Integer({ minimum: 1, maximum: 3650 })),
  EVENTS_MAX_STREAMS_PER_USER: t.Optional(t.Integer({ minimum: 1, maximum: 1000 })),
  LOG_LEVEL: t.Optional(t.Union([t.Literal('debug'), t.Literal('info'), t.Literal('warn'), t.Literal('error'), t.Literal('silent')])),
  NODE_ENV: t.Optional(t.String()),
})

const describe: Record<keyof Static<typeof Env>, string> = {
  PORT: 'an integer from 0 to 65535',
  HOST: 'a host name or address',
  DATABASE_URL: 'a postgres:// or postgresql:// URL, or memory:// for a throwaway embedded database',
  DATABASE_DIRECT_URL: 'a postgres:// or postgresql:// URL of a non-pooled (session) connection, for LISTEN',
  DATA_DIR: 'a directory path',
  DB_DRIVER: 'one of auto, pglite, postgres, neon',
  DB_POOL_MAX: 'an integer from 1 to 1000',
  DB_CONNECT_TIMEOUT_S: 'an integer number of seconds from 1 to 600',
  DB_STATEMENT_TIMEOUT_MS: 'an integer number of milliseconds from 0 (none) to 3600000',
  NEON_WS_PROXY: 'a host[:port][/path] of a WebSocket-to-Postgres proxy, such as localhost:4444/v1',
  JWT_SECRET: 'a non-empty secret',
  BETTER_AUTH_SECRET: 'a non-empty secret',
  JWT_JWKS_URL: 'an http:// or https:// URL of a JSON Web Key Set',
  JWT_JWKS_COOLDOWN_S: 'an integer number of seconds from 0 to 3600',
  JWT_ISSUER: 'a non-empty string',
  JWT_AUDIENCE: 'a non-empty string',
  JWT_CLOCK_SKEW_S: 'an integer number of seconds from 0 to 3600',
  JWT_USER_CLAIM: 'a claim name',
  CORS_ORIGINS: 'a comma-separated list of origins',
  RATE_LIMIT_PER_IP: 'an integer number of requests per window (0 turns the limit off)',
  RATE_LIMIT_PER_USER: 'an integer number of requests per window (0 turns the limit off)',
  RATE_LIMIT_WINDOW_S: 'an integer number of seconds from 1 to 86400',
  TRUST_PROXY: 'the name of the header that carries the client address, such as Fly-Client-IP or X-Forwarded-For',
  SYNC_RETENTION_DAYS: 'an integer number of days from 1 to 3650',
  EVENTS_MAX_STREAMS_PER_USER: 'an integer from 1 to 1000',
  LOG_LEVEL: 'one of debug, info, warn, error, silent',
  NODE_ENV: 'a string',
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent'

export interface PoolConfig {
  readonly max: number
  readonly connectTimeoutS: number
  /** 0: no limit */
  readonly statementTimeoutMs: number
}

export type DatabaseConfig =
  | { driver: 'pglite'; dataDir: string | null } // null: in memory
  | { driver: 'postgres'; url: string; pool: PoolConfig; directUrl?: string }
  | { driver: 'neon'; url: string; pool: PoolConfig; wsProxy?: string; directUrl?: string }

export interface Config {
  readonly port: number
  readonly host: string
  readonly production: boolean
  readonly database: DatabaseConfig
  readonly jwt: {
    /** HMAC key for HS256/384/512 tokens, when configured. */
    readonly secret?: Uint8Array<ArrayBuffer>
    /** set when the secret is the built-in development one */
    readonly developmentSecret: boolean
    /** Key set for asymmetric tokens (EdDSA, ES256, RS256), when configured. */
    readonly jwksUrl?: URL
    readonly jwksCooldownS: number
    readonly issuer?: string
    readonly audience?: string
    readonly clockSkewS: number
    readonly userClaim: string
  }
  readonly corsOrigins: readonly string[]
  readonly rateLimit: { readonly perIp: number; readonly perUser: number; readonly windowS: number }
  /** The header naming the client address, set by a trusted proxy; else the socket address. */
  readonly trustProxy?: string
  readonly sync: {
    /** How long tombstones (and so cursors) are kept. */
    readonly retentionDays: number
    /** Open event streams one user may hold on this instance. */
    readonly maxStreamsPerUser: number
  }
  readonly logLevel: LogLevel
}

/** Used only when NODE_ENV=development and no key is configured, so `bun run dev` works out of the box. */
export const DEVELOPMENT_SECRET = 'taskapi-development-only-secret-never-use-in-production'
const MIN_PRODUCTION_SECRET_BYTES = 32

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}

const numeric = new Set([
  'PORT',
  'JWT_CLOCK_SKEW_S',
  'JWT_JWKS_COOLDOWN_S',
  'DB_POOL_MAX',
  'DB_CONNECT_TIMEOUT_S',
  'DB_STATEMENT_TIMEOUT_MS',
  'RATE_LIMIT_PER_IP',
  'RATE_LIMIT_PER_USER',
  'RATE_LIMIT_WINDOW_S',
  'SYNC_RETENTION_DAYS',
  'EVENTS_MAX_STREAMS_PER_USER',
])

/** Parses an environment (process.env by default). Throws ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const raw: Record<string, unknown> = {}
  for (const key of Object.keys(Env.properties)) {
    const value = env[key]
    if (value === undefined || value === '') continue
    raw[key] = numeric.has(key) && /^\d+$/.test(value) ? Number(value) : value
  }

  const problems = new Set<string>()
  for (const error of Value.Errors(Env, raw)) {
    const key = error.path.split('/')[1] as keyof typeof describe
    problems.add(`${key}: must be ${describe[key]}`)
    // Dropped, so the checks below still run on everything else and every problem is named at once.
    delete raw[key]
  }
  const e = raw as Static<typeof Env>

  const production = e.NODE_ENV === 'production'
  const development = e.NODE_ENV === 'development'
  const configuredSecret = e.JWT_SECRET ?? e.BETTER_AUTH_SECRET
  const secretName = e.JWT_SECRET ? 'JWT_SECRET' : 'BETTER_AUTH_SECRET'
  const secret = configuredSecret ?? (development && !e.JWT_JWKS_URL ? DEVELOPMENT_SECRET : undefined)
  if (secret === undefined && !e.JWT_JWKS_URL) {
    problems.add(
      'JWT_SECRET: no key configured; set JWT_JWKS_URL or JWT_SECRET (or BETTER_AUTH_SECRET), or NODE_ENV=development for a development-only secret',
    )
  } else if (secret !== undefined && production && new TextEncoder().encode(secret).length < MIN_PRODUCTION_SECRET_BYTES) {
    problems.add(`${secretName}: must be at least ${MIN_PRODUCTION_SECRET_BYTES} bytes when NODE_ENV=production`)
  }

  const driver = e.DB_DRIVER ?? 'auto'
  let database: DatabaseConfig
  const url = e.DATABASE_URL
  if (url === undefined || url.startsWith('memory://')) {
    if (driver === 'postgres' || driver === 'neon') problems.add(`DB_DRIVER: ${driver} needs a postgres:// DATABASE_URL`)
    database = { driver: 'pglite', dataDir: url === undefined ? (e.DATA_DIR ?? './data') : null }
  } else {
    if (driver === 'pglite') problems.add('DB_DRIVER: pglite cannot use a postgres:// DATABASE_URL')
    const neon = driver === 'neon' || (driver === 'auto' && isNeonHost(url))
    const pool = { max: e.DB_POOL_MAX ?? 10, connectTimeoutS: e.DB_CONNECT_TIMEOUT_S ?? 5, statementTimeoutMs: e.DB_STATEMENT_TIMEOUT_MS ?? 10_000 }
    // LISTEN needs a session, which a transaction pooler does not keep: it goes to the direct URL.
    const directUrl = e.DATABASE_DIRECT_URL
    database = neon
      ? { driver: 'neon', url, pool, wsProxy: e.NEON_WS_PROXY, ...(directUrl && { directUrl }) }
      : { driver: 'postgres', url, pool, ...(directUrl && { directUrl }) }
  }

  const corsOrigins = (e.CORS_ORIGINS ?? 'http://localhost:3000')
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean)
  for (const origin of corsOrigins) {
    if (origin !== '*' && !isOrigin(origin)) problems.add(`CORS_ORIGINS: "${origin}" is not an origin like https://app.example.com`)
  }

  if (problems.size > 0) throw new ConfigError([...problems])

  return Object.freeze({
    port: e.PORT ?? 3000,
    host: e.HOST ?? '0.0.0.0',
    production,
    database: Object.freeze(database),
    jwt: Object.freeze({
      secret: secret === undefined ? undefined : new TextEncoder().encode(secret),
      developmentSecret: secret !== undefined && configuredSecret === undefined,
      jwksUrl: e.JWT_JWKS_URL === undefined ? undefined : new URL(e.JWT_JWKS_URL),
      jwksCooldownS: e.JWT_JWKS_COOLDOWN_S ?? 30,
      issuer: e.JWT_ISSUER,
      audience: e.JWT_AUDIENCE,
      clockSkewS: e.JWT_CLOCK_SKEW_S ?? 30,
      userClaim: e.JWT_USER_CLAIM ?? 'sub',
    }),
    corsOrigins: Object.freeze(corsOrigins),
    rateLimit: Object.freeze({ perIp: e.RATE_LIMIT_PER_IP ?? 1200, perUser: e.RATE_LIMIT_PER_USER ?? 600, windowS: e.RATE_LIMIT_WINDOW_S ?? 60 }),
    trustProxy: e.TRUST_PROXY?.toLowerCase(),
    sync: Object.freeze({ retentionDays: e.SYNC_RETENTION_DAYS ?? 30, maxStreamsPerUser: e.EVENTS_MAX_STREAMS_PER_USER ?? 10 }),
    logLevel: e.LOG_LEVEL ?? (e.NODE_ENV === 'test' ? 'silent' : 'info'),
  })
}

function isNeonHost(url: string): boolean {
  try {
    return new URL(url).hostname.endsWith('.neon.tech')
  } catch {
    return false
  }
}

function isOrigin(value: string): boolean {
  try {
    const u = new URL(value)
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === value
  } catch {
    return false
  }
}
