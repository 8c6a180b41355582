#!/usr/bin/env bun
// The command line: serve (the default), migrate, token.
import { SignJWT } from 'jose'
import { parseArgs } from 'node:util'
import { createApp } from './app'
import { createVerifier } from './auth/verify'
import { ConfigError, loadConfig, type Config } from './config'
import { openDatabase } from './db/client'
import { migrate, migrationStatus } from './db/migrate'
import { isUnavailable } from './db/errors'
import { createLogger } from './log'
import pkg from '../package.json'

const usage = `taskapi ${pkg.version}: per-user tasks over a JSON REST API

Usage:
  taskapi [serve]                 serve the API (the default)
  taskapi migrate [--status]      apply pending database migrations (or list them) and exit
  taskapi token --sub ID [--ttl 1h]
                                  print a token for user ID, signed with the configured secret
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
  const app = createApp({ config, database, verify: await createVerifier(config.jwt), log }).listen({
    port: config.port,
    hostname: config.host,
  })
  log.info('server.started', { url: app.server?.url.href, driver: database.driver, version: pkg.version })

  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    log.info('server.stopping', { signal })
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
  const jwt = new SignJWT({ [config.jwt.userClaim]: values.sub }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt().setExpirationTime(values.ttl)
  if (config.jwt.issuer) jwt.setIssuer(config.jwt.issuer)
  if (config.jwt.audience) jwt.setAudience(config.jwt.audience)
  console.log(await jwt.sign(config.jwt.secret))
}

class UsageError extends Error {}

async function main(argv: string[]) {
  const [command = 'serve', ...rest] = argv
  if (command === '--help' || command === '-h') return console.log(usage)
  if (command === '--version' || command === '-v') return console.log(pkg.version)
  const commands: Record<string, (config: Config, args: string[]) => Promise<void>> = {
    serve: (config) => serve(config),
    migrate: runMigrate,
    token,
  }
  const run = commands[command]
  if (!run) throw new UsageError(`unknown command "${command}"`)
  await run(loadConfig(), rest)
}

try {
  await main(process.argv.slice(2))
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message)
    process.exit(1)
  }
  if (error instanceof UsageError || (error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    console.error(`taskapi: ${(error as Error).message}\n\n${usage}`)
    process.exit(2)
  }
  throw error
}
