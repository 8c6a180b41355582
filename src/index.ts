#!/usr/bin/env bun
// The command line: serve (the default), migrate, token.
import { SignJWT } from 'jose'
import { parseArgs } from 'node:util'
import { createApp } from './app'
import { createVerifier } from './auth/verify'
import { ConfigError, loadConfig, type Config } from './config'
import { openDatabase } from './db/client'
import { migrate } from './db/migrate'
import { createLogger } from './log'
import pkg from '../package.json'

const usage = `taskapi ${pkg.version}: per-user tasks over a JSON REST API

Usage:
  taskapi [serve]                 serve the API (the default)
  taskapi migrate                 apply pending database migrations and exit
  taskapi token --sub ID [--ttl 1h]
                                  print a token for user ID, signed with the configured secret
  taskapi --help | --version

Configuration comes from the environment (and .env); see the README.`

async function serve(config: Config) {
  const log = createLogger(config.logLevel)
  if (config.jwt.developmentSecret) {
    log.warn('config.development_secret', { detail: 'using the built-in development-only JWT secret; never in production' })
  }
  const database = await openDatabase(config.database)
  const applied = await migrate(database.db)
  if (applied.length > 0) log.info('migrations.applied', { migrations: applied.join(',') })
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
    await app.stop()
    await database.close()
    process.exit(0)
  }
  process.on('SIGTERM', () => void stop('SIGTERM'))
  process.on('SIGINT', () => void stop('SIGINT'))
}

async function runMigrate(config: Config) {
  const database = await openDatabase(config.database)
  try {
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
    migrate: (config) => runMigrate(config),
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
