#!/usr/bin/env bun
// The command line: serve (the default), migrate, token, healthcheck, openapi. The same file is the
// entry point of `bun src/index.ts` and of the compiled binary (dist/taskapi).
import { SignJWT } from 'jose'
import { parseArgs } from 'node:util'
import { createApp } from './app'
import { createVerifier, type Verifier } from './auth/verify'
import { ConfigError, describeVariables, loadConfig, type Config } from './config'
import { connectDatabase, DatabaseOpenError, forMigrations, openDatabase, type DatabaseHandle } from './db/client'
import { DataDirError, openDataDir, type DataDir } from './db/data-dir'
import { nullDatabase } from './db/null'
import { migrate, migrationStatus } from './db/migrate'
import { isUnavailable } from './db/errors'
import { schedulePurge } from './http/idempotency'
import { createMetrics, serveMetrics } from './http/metrics'
import { createLogger, type Logger } from './log'
import { createSync } from './sync/hub'
import pkg from '../package.json'

// Stamped by `bun run build` (scripts/build.ts); absent when run from source.
declare const BUILD_COMMIT: string | undefined
const commit = typeof BUILD_COMMIT === 'string' ? BUILD_COMMIT : 'source'

const usage = () => `taskapi ${pkg.version} (${commit}): per-user tasks over a JSON REST API

Usage:
  taskapi [serve]                 serve the API (the default)
  taskapi migrate [--status]      apply pending database migrations (or list them) and exit
  taskapi token --sub ID [--ttl 1h]
                                  print a token for user ID, signed with the configured secret
  taskapi healthcheck [--url URL] exit 0 when /healthz answers 200 (default: this host's PORT), else 1
  taskapi openapi                 print the OpenAPI document (JSON) and exit
  taskapi --help | --version

Environment (also read from .env in the working folder):
${describeVariables()}`

/**
 * Opens the configured database. The embedded one's folder is created private, checked and locked
 * first (one process per folder), and kept private: PGlite writes its files world-readable.
 */
function open(config: Config, log: Logger): { database: DatabaseHandle; folder: DataDir | null } {
  const { database: db } = config
  // A Fly Machine's own disk is replaced on every deploy: there, the data must be on a volume.
  const volume = config.onFly ? 'on Fly.io a Machine’s own disk is lost on every deploy' : ''
  const folder = db.driver === 'pglite' && db.dataDir !== null ? openDataDir(db.dataDir, { volume }) : null
  if (folder) {
    const tightened = folder.tighten()
    if (tightened > 0) log.warn('data_dir.tightened', { path: folder.path, files: tightened, detail: 'removed group and other permissions' })
  }
  const database = connectDatabase(db, (error) => log.warn('database.connection_lost', { error: error.name }))
  return { database, folder }
}

async function serve(config: Config) {
  const log = createLogger(config.logLevel)
  const { database, folder } = open(config, log)
  if (config.production && config.corsOrigins.length === 0) {
    log.warn('config.cors_closed', { detail: 'CORS_ORIGINS is empty: no browser app on another origin can call this service; set it to your app\'s origin' })
  }
  const sync = createSync({ database, log, ...config.sync })
  // Every instance purges old tombstones now and then; batches skip rows another instance holds.
  const syncPurge = setInterval(() => {
    sync.purge().then(
      (purged) => purged > 0 && log.info('sync.purged', { tombstones: purged }),
      (error: unknown) => log.warn('sync.purge_failed', { error: (error as Error)?.name }),
    )
  }, PURGE_EVERY_MS)
  syncPurge.unref()
  const metrics = config.metricsPort === undefined ? undefined : createMetrics({ pool: database.poolStats, streams: () => sync.openStreams })
  const app = createApp({ config, database, verify: await createVerifier(config.jwt), log, metrics, sync })
  // Listen first: /healthz answers at once; /readyz and the API say 503 until the database is open.
  // No reusePort: a second process on the same port must fail, not share the port's connections.
  try {
    app.listen({ port: config.port, hostname: config.host, reusePort: false })
  } catch (error) {
    throw listenError(error, config)
  }
  const metricsServer = metrics && serveMetrics(metrics, { port: config.metricsPort!, hostname: config.host })
  log.info('server.started', {
    url: app.server?.url.href,
    metrics_url: metricsServer ? new URL('/metrics', metricsServer.url).href : undefined,
    driver: database.driver,
    data_dir: folder?.path ?? (database.driver === 'pglite' ? 'memory' : undefined),
    rate_limits: config.redis ? 'redis' : 'memory',
    version: pkg.version,
    commit,
    // Since the process started.
    elapsed_ms: Math.round(performance.now()),
  })
  const purge = schedulePurge(database, log)
  if (config.jwt.developmentSecret) {
    log.warn('config.development_secret', {
      detail: `using the built-in development-only JWT secret, so listening on ${config.host} only; to serve other machines make a key with \`openssl rand -base64 48\` and set JWT_SECRET`,
    })
  }

  // Stopping while the database opens waits for it to open, then closes it cleanly.
  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    log.info('server.stopping', { signal })
    clearInterval(syncPurge)
    // Event streams never finish by themselves: they are ended first, so the wait below is only
    // for ordinary requests (clients resume their streams elsewhere with Last-Event-ID).
    await sync.close()
    // Requests in flight get until the deadline to finish; then their connections are closed.
    const deadline = setTimeout(() => void app.server?.stop(true), SHUTDOWN_GRACE_MS)
    await app.server?.stop(false)
    clearTimeout(deadline)
    void metricsServer?.stop(true)
    await purge.stop()
    await database.close()
    folder?.release()
    log.info('server.stopped', { signal })
    process.exit(0)
  }
  process.on('SIGTERM', () => void stop('SIGTERM'))
  process.on('SIGINT', () => void stop('SIGINT'))

  await database.opened
  // A first start unpacks the template (or initdb's output) as mode 0666 files; the files Postgres
  // creates afterwards (tables, WAL segments) get its own 0600. So tightening once, now, suffices.
  folder?.tighten()
  try {
    const applied = await database.ensureSchema()
    if (applied.length > 0) log.info('migrations.applied', { migrations: applied.join(',') })
    log.info('database.ready', { driver: database.driver, elapsed_ms: Math.round(performance.now()) })
  } catch (error) {
    // Serve anyway: /healthz answers, /readyz and the API say 503 until the database is back,
    // and the first request after that applies the migrations.
    if (!isUnavailable(error)) throw error
    log.warn('database.unavailable_at_start', { driver: database.driver })
  }
}

/** Bun.serve's errors, as one line saying what to change. */
function listenError(error: unknown, { host, port }: Config): Error {
  const code = (error as { code?: string }).code
  if (code === 'EADDRINUSE') return new StartupError(`port ${port} is already in use on ${host}: stop what holds it, or set PORT to another port`)
  // An unknown host name comes back from Bun.serve as ENOENT.
  if (code === 'EADDRNOTAVAIL' || code === 'ENOENT' || code === 'ENOTFOUND' || code === 'EAI_NONAME' || code === 'EINVAL') {
    return new StartupError(`HOST ${host} is not an address or name of this machine: set HOST to one of its addresses, 127.0.0.1 (this machine only) or 0.0.0.0 (all)`)
  }
  if (code === 'EACCES') return new StartupError(`port ${port} needs privileges on this machine: set PORT to 1024 or above`)
  return error as Error
}

const PURGE_EVERY_MS = 60 * 60 * 1000

// Under the 10 s most orchestrators (Docker, Fly.io) wait before SIGKILL.
const SHUTDOWN_GRACE_MS = 8000

async function runMigrate(config: Config, args: string[]) {
  const { values } = parseArgs({ args, options: { status: { type: 'boolean', default: false } } })
  // DATABASE_DIRECT_URL when set: migrations belong on a non-pooled connection.
  const { database, folder } = open({ ...config, database: forMigrations(config.database) }, createLogger('silent'))
  try {
    await database.opened
    if (values.status) {
      for (const m of await migrationStatus(database.db)) console.log(`${m.applied ? 'applied' : 'pending'}  ${m.tag}`)
      return
    }
    const applied = await migrate(database.db)
    console.log(applied.length === 0 ? 'No pending migrations.' : `Applied ${applied.length}: ${applied.join(', ')}`)
  } finally {
    await database.close()
    folder?.tighten()
    folder?.release()
  }
}

async function token(config: Config, args: string[]) {
  const { values } = parseArgs({ args, options: { sub: { type: 'string' }, ttl: { type: 'string', default: '1h' } } })
  if (!values.sub) throw new UsageError('token needs --sub ID')
  if (!/^\d+[smhd]$/.test(values.ttl)) throw new UsageError('--ttl must look like 30s, 15m, 1h or 7d')
  if (!config.jwt.secret) {
    // A JWKS holds public keys only: its tokens come from the identity provider that has the private key.
    throw new CommandError('token signs with an HMAC secret, and none is configured (only JWT_JWKS_URL): set JWT_SECRET, or get tokens from your identity provider')
  }
  const jwt = new SignJWT({ [config.jwt.userClaim]: values.sub }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt().setExpirationTime(values.ttl)
  if (config.jwt.issuer) jwt.setIssuer(config.jwt.issuer)
  if (config.jwt.audience) jwt.setAudience(config.jwt.audience)
  console.log(await jwt.sign(config.jwt.secret))
}

/**
 * Exit 0 when /healthz answers 200 within the timeout, else 1: the container health check, in an
 * image that has no curl.
 */
async function healthcheck(config: () => Config, args: string[]) {
  const { values } = parseArgs({ args, options: { url: { type: 'string' } } })
  const url = values.url ?? defaultHealthUrl(config())
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(HEALTHCHECK_TIMEOUT_MS), redirect: 'manual' })
    await res.body?.cancel()
    if (res.status === 200) return console.log(`${url}: 200`)
    console.error(`taskapi healthcheck: ${url} answered ${res.status}`)
  } catch (error) {
    console.error(`taskapi healthcheck: ${url} failed: ${(error as Error).message}`)
  }
  process.exitCode = 1
}

const HEALTHCHECK_TIMEOUT_MS = 3000

function defaultHealthUrl({ host, port }: Config) {
  // A wildcard listen address is reached through loopback.
  const target = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host
  return `http://${target}:${port}/healthz`
}

/**
 * Prints the OpenAPI document. It describes the code, not a deployment, so it is built from a fixed
 * configuration: no key, database or network is needed, and no database is opened.
 */
async function openapi(args: string[]) {
  parseArgs({ args, options: {} })
  const config = loadConfig({ NODE_ENV: 'development', LOG_LEVEL: 'silent' })
  const database = nullDatabase()
  const verify: Verifier = () => Promise.reject(new Error('taskapi openapi serves no requests'))
  const app = createApp({ config, database, verify, log: createLogger('silent') })
  try {
    const res = await app.handle(new Request('http://localhost/docs/json'))
    if (res.status !== 200) throw new Error(`/docs/json answered ${res.status}: ${await res.text()}`)
    console.log(JSON.stringify(await res.json(), null, 2))
  } finally {
    await database.close()
  }
}

/** Wrong invocation: usage on stderr, exit 2. */
class UsageError extends Error {}
/** A command that cannot do what it was asked: its message on stderr, exit 1. */
class CommandError extends Error {}
/** The service cannot start: its one-line message on stderr, exit 1. */
class StartupError extends Error {}

async function main(argv: string[]) {
  const [command = 'serve', ...rest] = argv
  if (command === '--help' || command === '-h' || rest.includes('--help') || rest.includes('-h')) return console.log(usage())
  if (command === '--version' || command === '-v') return console.log(`${pkg.version} (${commit})`)
  const config = () => loadConfig()
  const commands: Record<string, (args: string[]) => Promise<void>> = {
    serve: (args) => {
      parseArgs({ args, options: {} })
      return serve(config())
    },
    migrate: (args) => runMigrate(config(), args),
    token: (args) => token(config(), args),
    healthcheck: (args) => healthcheck(config, args),
    openapi,
  }
  const run = Object.hasOwn(commands, command) ? commands[command] : undefined
  if (!run) throw new UsageError(command.startsWith('-') ? `unknown option "${command}"` : `unknown command "${command}"`)
  await run(rest)
}

// Errors from node:util parseArgs: an unknown flag, a flag without its value, a stray argument.
const parseErrors = new Set(['ERR_PARSE_ARGS_UNKNOWN_OPTION', 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE', 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL'])

try {
  await main(process.argv.slice(2))
} catch (error) {
  if (error instanceof UsageError || parseErrors.has((error as { code?: string }).code ?? '')) {
    console.error(`taskapi: ${(error as Error).message}\n\n${usage()}`)
    process.exit(2)
  }
  // Everything else that stops a command is one line on stderr and exit 1: never a stack trace, and
  // never the binary's minified source.
  console.error(`taskapi: ${oneLine(error)}`)
  process.exit(1)
}

function oneLine(error: unknown): string {
  if (error instanceof ConfigError) return `invalid configuration: ${error.problems.join('; ')}`
  if (error instanceof CommandError || error instanceof StartupError || error instanceof DataDirError || error instanceof DatabaseOpenError) return error.message
  const e = error as { name?: string; code?: string; message?: string }
  return `${e.name ?? 'Error'}${e.code ? ` ${e.code}` : ''}: ${String(e.message ?? error).split('\n')[0]}`
}
