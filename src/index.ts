#!/usr/bin/env bun
// The command line: serve (the default), migrate, token, healthcheck, openapi. The same file is the
// entry point of `bun src/index.ts` and of the compiled binary (dist/taskapi). It imports only what
// every command needs; the app, the database drivers and the rest load when a command asks, so
// `serve` listens before they are evaluated (README, "The embedded database", "Listen first").
import type { Server } from 'bun'
import { parseArgs } from 'node:util'
import type { App } from './app'
import type { Verifier } from './auth/verify'
import { ConfigError, describeVariables, loadConfig, type Config } from './config'
import type { DatabaseHandle } from './db/client'
import { DataDirError, openDataDir, type DataDir } from './db/data-dir'
import { newRequestId } from './http/request'
import { createLogger, type Logger } from './log'
import { boundMemory, type MemoryBound } from './memory'
import type { Sync } from './sync/hub'
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
 * The embedded database's folder, created private, checked and locked (one process per folder)
 * before anything opens it, and kept private: PGlite writes its files world-readable.
 */
function lockDataDir(config: Config, log: Logger): DataDir | null {
  const { database: db } = config
  if (db.driver !== 'pglite' || db.dataDir === null) return null
  // A Fly Machine's own disk is replaced on every deploy: there, the data must be on a volume.
  const volume = config.onFly ? 'on Fly.io a Machine’s own disk is lost on every deploy' : ''
  const folder = openDataDir(db.dataDir, { volume })
  const tightened = folder.tighten()
  if (tightened > 0) log.warn('data_dir.tightened', { path: folder.path, files: tightened, detail: 'removed group and other permissions' })
  return folder
}

async function connect(config: Config, log: Logger): Promise<DatabaseHandle> {
  const { connectDatabase } = await import('./db/client')
  return connectDatabase(config.database, (error) => log.warn('database.connection_lost', { error: error.name }))
}

/** One turn of the event loop, so requests that arrived meanwhile are answered. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

async function serve(config: Config) {
  const log = createLogger(config.logLevel)
  const folder = lockDataDir(config, log)
  // Listen first, before the app and the database drivers are even evaluated: /healthz answers
  // within milliseconds of launch, and every other request waits the few tens of milliseconds
  // until the app is built, which answers it (503 with Retry-After until the database is open).
  // No reusePort: a second process on the same port must fail, not share the port's connections.
  // (A start that fails after this ends the process; requests still waiting see their connection close.)
  const app = Promise.withResolvers<App>()
  let server: Server<unknown>
  try {
    server = Bun.serve({
      port: config.port,
      hostname: config.host,
      reusePort: false,
      fetch: (request) => (isHealthz(request) ? healthy(request) : app.promise.then((a) => a.fetch(request))),
    })
  } catch (error) {
    throw listenError(error, config)
  }
  const listenedMs = Math.round(performance.now())

  // Signals count from here: a stop during the start-up below waits for it (tens of milliseconds,
  // and an opening database is closed cleanly), never the default death by signal.
  const started = Promise.withResolvers<void>()
  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    log.info('server.stopping', { signal })
    await started.promise
    clearInterval(syncPurge)
    memory?.stop()
    // Event streams never finish by themselves: they are ended first, so the wait below is only
    // for ordinary requests (clients resume their streams elsewhere with Last-Event-ID).
    await sync?.close()
    // Requests in flight get until the deadline to finish; then their connections are closed.
    const deadline = setTimeout(() => void server.stop(true), SHUTDOWN_GRACE_MS)
    await server.stop(false)
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
  // Started once the database is ready (below): opening it makes garbage enough to trigger it.
  let memory: MemoryBound | undefined

  // The rest in steps of a few milliseconds each, a turn of the event loop between them.
  await turn()
  const database = await connect(config, log)
  await turn()
  const { createMetrics, serveMetrics } = config.metricsPort === undefined ? {} : await import('./http/metrics')
  let sync: Sync | undefined
  const metrics = createMetrics?.({ pool: database.poolStats, streams: () => sync?.openStreams ?? 0 })
  const metricsServer = metrics && serveMetrics!(metrics, { port: config.metricsPort!, hostname: config.host })
  log.info('server.started', {
    url: server.url.href,
    metrics_url: metricsServer ? new URL('/metrics', metricsServer.url).href : undefined,
    driver: database.driver,
    data_dir: folder?.path ?? (database.driver === 'pglite' ? 'memory' : undefined),
    rate_limits: config.redis ? 'redis' : 'memory',
    version: pkg.version,
    commit,
    // From the process's start to listening.
    elapsed_ms: listenedMs,
  })
  const { schedulePurge } = await import('./http/idempotency')
  const purge = schedulePurge(database, log)
  if (config.jwt.developmentSecret) {
    log.warn('config.development_secret', {
      detail: `using the built-in development-only JWT secret, so listening on ${config.host} only; to serve other machines make a key with \`openssl rand -base64 48\` and set JWT_SECRET`,
    })
  }
  if (config.production && config.corsOrigins.length === 0) {
    log.warn('config.cors_closed', { detail: 'CORS_ORIGINS is empty: no browser app on another origin can call this service; set it to your app\'s origin' })
  }
  const [{ createApp }, { createVerifier }, { createSync }] = await Promise.all([import('./app'), import('./auth/verify'), import('./sync/hub')])
  await turn()
  sync = createSync({ database, log, ...config.sync })
  // Every instance purges old tombstones now and then; batches skip rows another instance holds.
  const syncPurge = setInterval(() => {
    sync!.purge().then(
      (purged) => purged > 0 && log.info('sync.purged', { tombstones: purged }),
      (error: unknown) => log.warn('sync.purge_failed', { error: (error as Error)?.name }),
    )
  }, PURGE_EVERY_MS)
  syncPurge.unref()
  const built = createApp({ config, database, verify: await createVerifier(config.jwt), log, metrics, sync })
  await turn()
  adopt(built, server)
  app.resolve(built)

  started.resolve()

  await database.opened
  // A first start unpacks the template (or initdb's output) as mode 0666 files; the files Postgres
  // creates afterwards (tables, WAL segments) get its own 0600. So tightening once, now, suffices.
  folder?.tighten()
  try {
    const applied = await database.ensureSchema()
    if (applied.length > 0) log.info('migrations.applied', { migrations: applied.join(',') })
    // What starting used is garbage now (PGlite's WebAssembly bytes, its file bundle, the template,
    // and the code of start-up that never runs again): a full collection at once, not whenever the
    // heap next grows (~10 MiB of RSS on a reopen), the compiled code dropped (what requests use
    // compiles again on first use) and the allocator's free pages returned to the system: 3-4 MiB
    // less than the collection alone, after start on Postgres and on a reopen (README, "Performance").
    Bun.shrink()
    log.info('database.ready', { driver: database.driver, elapsed_ms: Math.round(performance.now()) })
  } catch (error) {
    // Serve anyway: /healthz answers, /readyz and the API say 503 until the database is back,
    // and the first request after that applies the migrations.
    const { isUnavailable } = await import('./db/errors')
    if (!isUnavailable(error)) throw error
    log.warn('database.unavailable_at_start', { driver: database.driver })
  }
  if (!stopping) memory = boundMemory()
}

const isHealthz = (request: Request) => (request.method === 'GET' || request.method === 'HEAD') && new URL(request.url, 'http://no-host.invalid').pathname === '/healthz'

/** /healthz before the app is built: the app's answer (src/http/health.ts), with the headers every response carries. */
const healthy = (request: Request) =>
  Response.json({ status: 'ok' }, { headers: { 'x-request-id': newRequestId(request), 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' } })

/**
 * Hands the app the server that is already listening. Elysia's listen() computes its Bun.serve
 * options (its routes on Bun's router, idle timeout, WebSocket handlers, the fetch fallback) and
 * calls Bun.serve; here that call applies them to `server` with server.reload(), which is how
 * Elysia itself swaps them in once its lazy modules load. Copying Elysia's route mapping instead
 * would drift from the next Elysia.
 */
function adopt(app: App, server: Server<unknown>) {
  const serve = Bun.serve
  Bun.serve = ((options: Parameters<typeof server.reload>[0]) => {
    server.reload(options)
    return server
  }) as typeof Bun.serve
  try {
    app.listen({ port: server.port, hostname: server.hostname, reusePort: false })
  } finally {
    Bun.serve = serve
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
  const { forMigrations } = await import('./db/client')
  const { migrate, migrationStatus } = await import('./db/migrate')
  const folder = lockDataDir(config, createLogger('silent'))
  const database = await connect({ ...config, database: forMigrations(config.database) }, createLogger('silent'))
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
  const { SignJWT } = await import('jose')
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
  const [{ nullDatabase }, { createApp }] = await Promise.all([import('./db/null'), import('./app')])
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
  if (error instanceof CommandError || error instanceof StartupError || error instanceof DataDirError) return error.message
  // db/client's, matched by name: that module loads only after the port is open.
  if ((error as Error).name === 'DatabaseOpenError') return (error as Error).message
  const e = error as { name?: string; code?: string; message?: string }
  return `${e.name ?? 'Error'}${e.code ? ` ${e.code}` : ''}: ${String(e.message ?? error).split('\n')[0]}`
}
