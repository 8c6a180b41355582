#!/usr/bin/env bun
// The command line: serve (the default), migrate, token, healthcheck, openapi. The same file is the
// entry point of `bun src/index.ts` and of the compiled binary (dist/taskapi).
import { SignJWT } from 'jose'
import { parseArgs } from 'node:util'
import { createApp } from './app'
import { createVerifier, type Verifier } from './auth/verify'
import { ConfigError, loadConfig, type Config } from './config'
import { openDatabase } from './db/client'
import { nullDatabase } from './db/null'
import { migrate, migrationStatus } from './db/migrate'
import { isUnavailable } from './db/errors'
import { createLogger } from './log'
import { createSync } from './sync/hub'
import pkg from '../package.json'

const usage = `taskapi ${pkg.version}: per-user tasks over a JSON REST API

Usage:
  taskapi [serve]                 serve the API (the default)
  taskapi migrate [--status]      apply pending database migrations (or list them) and exit
  taskapi token --sub ID [--ttl 1h]
                                  print a token for user ID, signed with the configured secret
  taskapi healthcheck [--url URL] exit 0 when /healthz answers 200 (default: this host's PORT), else 1
  taskapi openapi                 print the OpenAPI document (JSON) and exit
  taskapi --help | --version

Configuration comes from the environment (and .env); see the README.`

async function serve(config: Config) {
  const log = createLogger(config.logLevel)
  if (config.jwt.developmentSecret) {
    log.warn('config.development_secret', { detail: 'using the built-in development-only JWT secret; never in production' })
  }
  const database = await openDatabase(config.database, (error) => log.warn('database.connection_lost', { error: error.name }))
  try {
    const applied = await database.ensureSchema()
    if (applied.length > 0) log.info('migrations.applied', { migrations: applied.join(',') })
  } catch (error) {
    // Serve anyway: /healthz answers, /readyz and the API say 503 until the database is back,
    // and the first request after that applies the migrations.
    if (!isUnavailable(error)) throw error
    log.warn('database.unavailable_at_start', { driver: database.driver })
  }
  const sync = createSync({ database, log, ...config.sync })
  // Every instance purges old tombstones now and then; batches skip rows another instance holds.
  const purge = setInterval(() => {
    sync.purge().then(
      (purged) => purged > 0 && log.info('sync.purged', { tombstones: purged }),
      (error: unknown) => log.warn('sync.purge_failed', { error: (error as Error)?.name }),
    )
  }, PURGE_EVERY_MS)
  purge.unref()
  const app = createApp({ config, database, verify: await createVerifier(config.jwt), log, sync }).listen({
    port: config.port,
    hostname: config.host,
  })
  log.info('server.started', { url: app.server?.url.href, driver: database.driver, version: pkg.version })

  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    log.info('server.stopping', { signal })
    clearInterval(purge)
    // Event streams never finish by themselves: they are ended first, so the wait below is only
    // for ordinary requests (clients resume their streams elsewhere with Last-Event-ID).
    await sync.close()
    // Requests in flight get until the deadline to finish; then their connections are closed.
    const deadline = setTimeout(() => void app.server?.stop(true), SHUTDOWN_GRACE_MS)
    await app.server?.stop(false)
    clearTimeout(deadline)
    await database.close()
    log.info('server.stopped', { signal })
    process.exit(0)
  }
  process.on('SIGTERM', () => void stop('SIGTERM'))
  process.on('SIGINT', () => void stop('SIGINT'))
}

const PURGE_EVERY_MS = 60 * 60 * 1000

// Under the 10 s most orchestrators (Docker, Fly.io) wait before SIGKILL.
const SHUTDOWN_GRACE_MS = 8000

async function runMigrate(config: Config, args: string[]) {
  const { values } = parseArgs({ args, options: { status: { type: 'boolean', default: false } } })
  const database = await openDatabase(config.database)
  try {
    if (values.status) {
      for (const m of await migrationStatus(database.db)) console.log(`${m.applied ? 'applied' : 'pending'}  ${m.tag}`)
      return
    }
    const applied = await migrate(database.db)
    console.log(applied.length === 0 ? 'No pending migrations.' : `Applied ${applied.length}: ${applied.join(', ')}`)
  } finally {
    await database.close()
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

async function main(argv: string[]) {
  const [command = 'serve', ...rest] = argv
  if (command === '--help' || command === '-h' || rest.includes('--help') || rest.includes('-h')) return console.log(usage)
  if (command === '--version' || command === '-v') return console.log(pkg.version)
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
  if (error instanceof ConfigError || error instanceof CommandError) {
    console.error(error.message)
    process.exit(1)
  }
  if (error instanceof UsageError || parseErrors.has((error as { code?: string }).code ?? '')) {
    console.error(`taskapi: ${(error as Error).message}\n\n${usage}`)
    process.exit(2)
  }
  throw error
}
