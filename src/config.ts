// The only reader of process.env: parses, validates and freezes the service's configuration.
// Every variable is one row of `variables` (its parser, default and description), from which the
// parsing, the error messages and `taskapi --help` are all made; adding a variable is one row.
// A bad value stops the start with one message naming every bad variable.
import { Type as t, type Static, type TSchema, type TUnsafe } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

interface Variable<S extends TSchema> {
  readonly schema: S
  /** What a valid value looks like, for the error message: "PORT: must be …". */
  readonly must: string
  /** What it does, for --help. */
  readonly help: string
  /** The value used when unset, as it would be written in the environment (parsed like one). */
  readonly default?: string
  /** For --help, when the default depends on other variables. */
  readonly defaultText?: string
}
const variable = <S extends TSchema>(schema: S, row: Omit<Variable<S>, 'schema'>): Variable<S> => ({ schema, ...row })

const port = (help: string, fallback?: string) => variable(t.Integer({ minimum: 0, maximum: 65535 }), { must: 'an integer from 0 to 65535', help, default: fallback })
const seconds = (help: string, fallback?: string) =>
  variable(t.Integer({ minimum: 0, maximum: 3600 }), { must: 'an integer number of seconds from 0 to 3600', help, default: fallback })
const text = (help: string, must = 'a non-empty string') => variable(t.String({ minLength: 1 }), { must, help })
const oneOf = <const V extends readonly string[]>(values: V, help: string, fallback?: V[number]) =>
  // Typed as the union of the values (typebox's own Static of a mapped union is string).
  variable(t.Union(values.map((v) => t.Literal(v))) as unknown as TUnsafe<V[number]>, {
    must: `one of ${values.join(', ')}`,
    help,
    default: fallback,
  })
const count = (max: number, help: string, fallback: string, must: string) => variable(t.Integer({ minimum: 0, maximum: max }), { must, help, default: fallback })

/** Every environment variable the service reads, in the order --help lists them. */
export const variables = {
  PORT: port('TCP port to listen on (0: any free port)', '3000'),
  HOST: variable(t.String({ minLength: 1 }), {
    must: 'a host name or address',
    help: 'address to listen on',
    defaultText: '0.0.0.0; 127.0.0.1 while the development secret is in use',
  }),
  DATABASE_URL: variable(t.String({ pattern: '^(postgres|postgresql|memory)://' }), {
    must: 'a postgres:// or postgresql:// URL, or memory:// for a throwaway embedded database',
    help: 'Postgres to use; unset: the embedded database in DATA_DIR',
  }),
  DATABASE_DIRECT_URL: variable(t.String({ pattern: '^(postgres|postgresql)://' }), {
    must: 'a postgres:// or postgresql:// URL of the same database without a pooler (for migrations)',
    help: 'non-pooled connection for migrations (and LISTEN); default: DATABASE_URL',
  }),
  DATA_DIR: variable(t.String({ minLength: 1 }), {
    must: 'a directory path',
    help: 'folder of the embedded database (one process at a time; made private, 0700)',
    default: './data',
  }),
  DB_DRIVER: oneOf(['auto', 'pglite', 'postgres', 'neon'], 'database driver; auto: neon for a *.neon.tech host', 'auto'),
  DB_POOL_MAX: variable(t.Integer({ minimum: 1, maximum: 1000 }), { must: 'an integer from 1 to 1000', help: 'Postgres connections at most', default: '10' }),
  DB_CONNECT_TIMEOUT_S: variable(t.Integer({ minimum: 1, maximum: 600 }), {
    must: 'an integer number of seconds from 1 to 600',
    help: 'give up connecting to Postgres after this long',
    default: '5',
  }),
  DB_STATEMENT_TIMEOUT_MS: variable(t.Integer({ minimum: 0, maximum: 3_600_000 }), {
    must: 'an integer number of milliseconds from 0 (none) to 3600000',
    help: 'Postgres statement_timeout',
    default: '10000',
  }),
  NEON_WS_PROXY: variable(t.String({ pattern: '^[^/:]+(:\\d+)?(/.*)?$' }), {
    must: 'a host[:port][/path] of a WebSocket-to-Postgres proxy, such as localhost:4444/v1',
    help: 'WebSocket proxy for the Neon driver against a plain Postgres (local development)',
  }),
  JWT_SECRET: text('HMAC key of HS256/384/512 tokens (at least 32 bytes in production)', 'a non-empty secret'),
  BETTER_AUTH_SECRET: text('used as JWT_SECRET when that is unset', 'a non-empty secret'),
  JWT_JWKS_URL: variable(t.String({ pattern: '^https?://' }), {
    must: 'an http:// or https:// URL of a JSON Web Key Set',
    help: 'key set of asymmetric tokens (EdDSA, ES256, RS256), such as Better Auth’s /api/auth/jwks',
  }),
  JWT_JWKS_COOLDOWN_S: seconds('wait at least this long between two fetches of the key set', '30'),
  JWT_ISSUER: text('required iss claim'),
  JWT_AUDIENCE: text('required aud claim'),
  JWT_CLOCK_SKEW_S: seconds('tolerance on exp and nbf', '30'),
  JWT_USER_CLAIM: variable(t.String({ minLength: 1 }), { must: 'a claim name', help: 'claim holding the user id', default: 'sub' }),
  CORS_ORIGINS: variable(t.String(), {
    must: 'a comma-separated list of origins (scheme://host:* for any port)',
    help: 'browser origins allowed to call the API (*: any; scheme://host:* for any port of that host)',
    defaultText: 'http://localhost:*,http://127.0.0.1:* outside production; none in production',
  }),
  RATE_LIMIT_PER_IP: count(1_000_000, 'requests per window per client address (0: off)', '1200', 'an integer number of requests per window (0 turns the limit off)'),
  RATE_LIMIT_PER_USER: count(1_000_000, 'requests per window per user (0: off)', '600', 'an integer number of requests per window (0 turns the limit off)'),
  RATE_LIMIT_WINDOW_S: variable(t.Integer({ minimum: 1, maximum: 86_400 }), {
    must: 'an integer number of seconds from 1 to 86400',
    help: 'length of a rate-limit window',
    default: '60',
  }),
  TRUST_PROXY: variable(t.String({ pattern: '^[A-Za-z0-9-]+$' }), {
    must: 'the name of the header that carries the client address, such as Fly-Client-IP or X-Forwarded-For',
    help: 'header naming the client address, set by a proxy you trust',
  }),
  SYNC_RETENTION_DAYS: variable(t.Integer({ minimum: 1, maximum: 3650 }), {
    must: 'an integer number of days from 1 to 3650',
    help: 'how long deletions stay in the change feed; older cursors get 410',
    default: '30',
  }),
  EVENTS_MAX_STREAMS_PER_USER: variable(t.Integer({ minimum: 1, maximum: 1000 }), {
    must: 'an integer from 1 to 1000',
    help: 'open event streams per user, across all instances; beyond, 429',
    default: '10',
  }),
  REDIS_URL: variable(t.String({ pattern: '^rediss?://' }), {
    must: 'a redis:// or rediss:// URL',
    help: 'Redis holding the rate-limit budgets shared by every instance; unset: per-instance budgets',
  }),
  REDIS_KEY_PREFIX: variable(t.String({ maxLength: 100 }), {
    must: 'a string of at most 100 characters put before every Redis key',
    help: 'prefix of every Redis key',
    default: 'taskapi:',
  }),
  METRICS_PORT: port('port of the Prometheus /metrics listener (never the public port); unset: off'),
  LOG_LEVEL: { ...oneOf(LOG_LEVELS, 'least severe log level written'), defaultText: 'info (silent when NODE_ENV=test)' },
  NODE_ENV: variable(t.String(), { must: 'a string', help: 'production: strict key rules; development: a built-in secret on 127.0.0.1' }),
  FLY_APP_NAME: variable(t.String(), { must: 'a string', help: 'set by Fly.io; then DATA_DIR must be a mounted volume, or DATABASE_URL set' }),
} satisfies Record<string, Variable<TSchema>>

type Name = keyof typeof variables
type Env = { [K in Name]?: Static<(typeof variables)[K]['schema']> }

/** `NAME  help (default: …)`, one line per variable, for --help. */
export function describeVariables(): string {
  const names = Object.keys(variables) as Name[]
  const width = Math.max(...names.map((n) => n.length))
  return names
    .map((name) => {
      const row: Variable<TSchema> = variables[name]
      const fallback = row.defaultText ?? row.default
      return `  ${name.padEnd(width)}  ${row.help}${fallback === undefined ? '' : ` (default: ${fallback})`}`
    })
    .join('\n')
}

export interface PoolConfig {
  readonly max: number
  readonly connectTimeoutS: number
  /** 0: no limit */
  readonly statementTimeoutMs: number
}

export type DatabaseConfig =
  | { driver: 'pglite'; dataDir: string | null } // null: in memory
  // directUrl: the same database without a pooler, for migrations (DATABASE_DIRECT_URL); else url.
  | { driver: 'postgres'; url: string; directUrl?: string; pool: PoolConfig }
  | { driver: 'neon'; url: string; directUrl?: string; pool: PoolConfig; wsProxy?: string }

export interface Config {
  readonly port: number
  readonly host: string
  readonly production: boolean
  /** On Fly.io, where a Machine's own disk is lost on every deploy: the embedded database needs a volume. */
  readonly onFly: boolean
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
  /** Where the budgets live when every instance must share them. */
  readonly redis?: { readonly url: string; readonly keyPrefix: string }
  /** The port of the Prometheus listener; none when unset. */
  readonly metricsPort?: number
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

/** Parses an environment (process.env by default). Throws ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const problems = new Set<string>()
  const parsed: Record<string, unknown> = {}
  for (const name of Object.keys(variables) as Name[]) {
    const row: Variable<TSchema> = variables[name]
    const given = env[name] === '' ? undefined : env[name]
    const value = given ?? row.default
    if (value === undefined) continue
    const raw = row.schema.type === 'integer' && /^\d+$/.test(value) ? Number(value) : value
    // A bad value is named and left out, so the checks below still run and every problem is named at once.
    if (Value.Check(row.schema, raw)) parsed[name] = raw
    else problems.add(`${name}: must be ${row.must}`)
  }
  const e = parsed as Env & Required<Pick<Env, 'PORT' | 'DATA_DIR' | 'DB_DRIVER' | 'JWT_USER_CLAIM'>>

  const production = e.NODE_ENV === 'production'
  const development = e.NODE_ENV === 'development'
  const configuredSecret = e.JWT_SECRET ?? e.BETTER_AUTH_SECRET
  const secretName = e.JWT_SECRET ? 'JWT_SECRET' : 'BETTER_AUTH_SECRET'
  const secret = configuredSecret ?? (development && !e.JWT_JWKS_URL ? DEVELOPMENT_SECRET : undefined)
  const developmentSecret = secret !== undefined && configuredSecret === undefined
  if (secret === undefined && !e.JWT_JWKS_URL) {
    problems.add(
      'JWT_SECRET: no key configured; make one with `openssl rand -base64 48` and set JWT_SECRET to it, or set JWT_JWKS_URL to your identity provider’s key set',
    )
  } else if (secret !== undefined && production && new TextEncoder().encode(secret).length < MIN_PRODUCTION_SECRET_BYTES) {
    problems.add(`${secretName}: must be at least ${MIN_PRODUCTION_SECRET_BYTES} bytes when NODE_ENV=production (make one with \`openssl rand -base64 48\`)`)
  }
  // Anyone who can reach the port could mint tokens with the well-known development secret.
  if (developmentSecret && e.HOST !== undefined && !isLoopback(e.HOST)) {
    problems.add(`HOST: the built-in development secret only listens on this machine (127.0.0.1, ::1 or localhost), not ${e.HOST}; set JWT_SECRET to listen on ${e.HOST}`)
  }

  let database: DatabaseConfig
  const url = e.DATABASE_URL
  const driver = e.DB_DRIVER
  if (url === undefined || url.startsWith('memory://')) {
    if (driver === 'postgres' || driver === 'neon') problems.add(`DB_DRIVER: ${driver} needs a postgres:// DATABASE_URL`)
    if (e.DATABASE_DIRECT_URL !== undefined) problems.add('DATABASE_DIRECT_URL: needs a postgres:// DATABASE_URL (the pooled one) beside it')
    database = { driver: 'pglite', dataDir: url === undefined ? e.DATA_DIR : null }
  } else {
    if (driver === 'pglite') problems.add('DB_DRIVER: pglite cannot use a postgres:// DATABASE_URL')
    const neon = driver === 'neon' || (driver === 'auto' && isNeonHost(url))
    const pool = { max: e.DB_POOL_MAX!, connectTimeoutS: e.DB_CONNECT_TIMEOUT_S!, statementTimeoutMs: e.DB_STATEMENT_TIMEOUT_MS! }
    const directUrl = e.DATABASE_DIRECT_URL
    database = neon ? { driver: 'neon', url, directUrl, pool, wsProxy: e.NEON_WS_PROXY } : { driver: 'postgres', url, directUrl, pool }
  }

  // Unset: a local app on any port may call a development server; a production one answers no
  // browser on another origin until told which (the start log warns).
  const corsOrigins = e.CORS_ORIGINS === undefined ? (production ? [] : LOCAL_ORIGINS) : e.CORS_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean)
  for (const origin of corsOrigins) {
    if (origin !== '*' && !isOrigin(origin) && !isAnyPortOrigin(origin)) {
      problems.add(`CORS_ORIGINS: "${origin}" is not an origin like https://app.example.com or http://localhost:*`)
    }
  }

  if (e.METRICS_PORT !== undefined && e.METRICS_PORT !== 0 && e.METRICS_PORT === (e.PORT ?? 3000)) {
    problems.add('METRICS_PORT: must differ from PORT (metrics are never served on the public port)')
  }

  if (problems.size > 0) throw new ConfigError([...problems])

  return Object.freeze({
    port: e.PORT,
    host: e.HOST ?? (developmentSecret ? '127.0.0.1' : '0.0.0.0'),
    production,
    onFly: e.FLY_APP_NAME !== undefined,
    database: Object.freeze(database),
    jwt: Object.freeze({
      secret: secret === undefined ? undefined : new TextEncoder().encode(secret),
      developmentSecret,
      jwksUrl: e.JWT_JWKS_URL === undefined ? undefined : new URL(e.JWT_JWKS_URL),
      jwksCooldownS: e.JWT_JWKS_COOLDOWN_S!,
      issuer: e.JWT_ISSUER,
      audience: e.JWT_AUDIENCE,
      clockSkewS: e.JWT_CLOCK_SKEW_S!,
      userClaim: e.JWT_USER_CLAIM,
    }),
    corsOrigins: Object.freeze(corsOrigins),
    rateLimit: Object.freeze({ perIp: e.RATE_LIMIT_PER_IP!, perUser: e.RATE_LIMIT_PER_USER!, windowS: e.RATE_LIMIT_WINDOW_S! }),
    trustProxy: e.TRUST_PROXY?.toLowerCase(),
    sync: Object.freeze({ retentionDays: e.SYNC_RETENTION_DAYS!, maxStreamsPerUser: e.EVENTS_MAX_STREAMS_PER_USER! }),
    redis: e.REDIS_URL === undefined ? undefined : Object.freeze({ url: e.REDIS_URL, keyPrefix: e.REDIS_KEY_PREFIX! }),
    metricsPort: e.METRICS_PORT,
    logLevel: e.LOG_LEVEL ?? (e.NODE_ENV === 'test' ? 'silent' : 'info'),
  })
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
}

function isNeonHost(url: string): boolean {
  try {
    return new URL(url).hostname.endsWith('.neon.tech')
  } catch {
    return false
  }
}

/** The development default: `scheme://host:*` stands for that host on any port. */
export const LOCAL_ORIGINS = ['http://localhost:*', 'http://127.0.0.1:*'] as const

function isAnyPortOrigin(value: string): boolean {
  return value.endsWith(':*') && isOrigin(value.slice(0, -2))
}

function isOrigin(value: string): boolean {
  try {
    const u = new URL(value)
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === value
  } catch {
    return false
  }
}
