// Real databases for tests: embedded PGlite always, and Postgres through Bun.SQL when
// TEST_DATABASE_URL is set. Each suite gets a database of its own, made fresh and dropped after.
import { PGlite } from '@electric-sql/pglite'
import { SQL } from 'bun'
import { loadConfig, type DatabaseConfig } from '../../src/config'
import { fromPglite, openDatabase, type DatabaseHandle } from '../../src/db/client'
import { migrate } from '../../src/db/migrate'
import { startWsProxy, type WsProxy } from './ws-proxy'

export interface TestDatabase {
  handle: DatabaseHandle
  drop(): Promise<void>
}

export interface TestDriver {
  name: 'pglite' | 'postgres' | 'neon'
  /** A new, migrated database of its own. */
  create(options?: { migrated?: boolean }): Promise<TestDatabase>
}

const postgresUrl = process.env.TEST_DATABASE_URL
if (process.env.CI === 'true' && !postgresUrl) {
  throw new Error('CI=true but TEST_DATABASE_URL is not set: the Postgres suites must run in CI, not be skipped')
}

// initdb costs ~2 s per PGlite database: migrate one template, then load a copy per suite.
let template: Promise<Blob> | undefined
const migratedTemplate = () =>
  (template ??= (async () => {
    const pg = await PGlite.create()
    await migrate(fromPglite(pg).db)
    const blob = await pg.dumpDataDir('none')
    await pg.close()
    return blob
  })())
let emptyTemplate: Promise<Blob> | undefined
const blankTemplate = () =>
  (emptyTemplate ??= (async () => {
    const pg = await PGlite.create()
    const blob = await pg.dumpDataDir('none')
    await pg.close()
    return blob
  })())

const pglite: TestDriver = {
  name: 'pglite',
  async create({ migrated = true } = {}) {
    const pg = await PGlite.create({ loadDataDir: await (migrated ? migratedTemplate() : blankTemplate()) })
    const handle = fromPglite(pg)
    return { handle, drop: () => handle.close() }
  },
}

/** Creates and drops databases on a server (the test one by default); names are random, so runs never collide. */
export async function scratchPostgres(serverUrl = postgresUrl, prefix = 'taskapi_test'): Promise<{ url: string; drop(): Promise<void> }> {
  if (!serverUrl) throw new Error('TEST_DATABASE_URL is not set')
  const name = `${prefix}_${crypto.randomUUID().replaceAll('-', '')}`
  const admin = async (statement: string) => {
    const sql = new SQL(serverUrl, { max: 1 })
    await sql.unsafe(statement)
    await sql.close()
  }
  await admin(`create database ${name}`)
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  return { url: url.toString(), drop: () => admin(`drop database if exists ${name} with (force)`) }
}

/** The configuration the service would derive from these variables (pool defaults included). */
export function databaseConfig(env: Record<string, string>): DatabaseConfig {
  return loadConfig({ JWT_SECRET: 'unused-here', ...env }).database
}

// One relay per test process, in front of the test Postgres, for the Neon driver.
let proxy: WsProxy | undefined
export function neonProxy(): WsProxy {
  const url = new URL(postgresUrl!)
  return (proxy ??= startWsProxy({ host: url.hostname, port: Number(url.port || 5432) }))
}

/** A driver on a scratch database of the test server, configured as the service would be by `env`. */
const serverDriver = (name: 'postgres' | 'neon', env: () => Record<string, string>): TestDriver => ({
  name,
  async create({ migrated = true } = {}) {
    const scratch = await scratchPostgres()
    const handle = await openDatabase(databaseConfig({ DATABASE_URL: scratch.url, ...env() }))
    if (migrated) await migrate(handle.db)
    return {
      handle,
      async drop() {
        await handle.close()
        await scratch.drop()
      },
    }
  },
})

const postgres = serverDriver('postgres', () => ({}))
const neon = serverDriver('neon', () => ({ DB_DRIVER: 'neon', NEON_WS_PROXY: neonProxy().address }))

export const hasPostgres = postgresUrl !== undefined

/** The drivers every API suite runs on. */
export const drivers: TestDriver[] = hasPostgres ? [pglite, postgres, neon] : [pglite]
