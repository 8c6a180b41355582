// Opens the configured database behind one Drizzle type. Nothing outside this file knows which
// driver is in use: embedded PGlite (the default), Bun's built-in Postgres client, or Neon's
// serverless Pool over WebSocket.
import { PGlite } from '@electric-sql/pglite'
// PGlite's runtime files, embedded in the compiled binary (a path inside it) and read from
// node_modules otherwise: PGlite's own lookup beside its script finds nothing in a binary.
import initdbWasm from '@electric-sql/pglite/initdb.wasm' with { type: 'file' }
import fsBundle from '@electric-sql/pglite/pglite.data' with { type: 'file' }
import pgliteWasm from '@electric-sql/pglite/pglite.wasm' with { type: 'file' }
import { Client, neonConfig, Pool } from '@neondatabase/serverless'
import { SQL } from 'bun'
import { sql } from 'drizzle-orm'
import { drizzle as bunSqlDrizzle } from 'drizzle-orm/bun-sql'
import { drizzle as neonDrizzle } from 'drizzle-orm/neon-serverless'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import { drizzle as pgliteDrizzle } from 'drizzle-orm/pglite'
import { mkdirSync } from 'node:fs'
import type { DatabaseConfig } from '../config'
import { migrate } from './migrate'

export type Database = PgDatabase<PgQueryResultHKT>

export interface DatabaseHandle {
  readonly db: Database
  readonly driver: DatabaseConfig['driver'] | 'none'
  /**
   * Resolves once the schema is migrated. A failed attempt (the database was away) is retried by
   * the next call, so a service that started without its database heals when it comes back.
   */
  ensureSchema(): Promise<readonly string[]>
  /** Resolves when the schema is migrated and the database answers, all within `timeoutMs`. */
  checkReady(timeoutMs: number): Promise<void>
  /**
   * Subscribes to a NOTIFY channel on one dedicated session connection (DATABASE_DIRECT_URL when
   * set: LISTEN needs a session, which a transaction pooler does not keep). Resolves once the
   * server has acknowledged it, and rejects if that first attempt fails. After that the connection
   * is re-established by itself whenever it drops; `onListen` runs on every acknowledgment, the
   * first included. Notifications sent while it was down are lost: callers re-read then.
   */
  listen(channel: string, onNotify: (payload: string) => void, onListen: () => void): Promise<Subscription>
  close(): Promise<void>
}

export interface Subscription {
  close(): Promise<void>
}

type Listen = DatabaseHandle['listen']

export async function openDatabase(config: DatabaseConfig, onPoolError: (error: Error) => void = () => {}): Promise<DatabaseHandle> {
  switch (config.driver) {
    case 'pglite': {
      if (config.dataDir !== null) mkdirSync(config.dataDir, { recursive: true })
      const client = await PGlite.create({ dataDir: config.dataDir ?? undefined, ...(await pgliteFiles()) })
      return fromPglite(client)
    }
    case 'postgres': {
      const { max, connectTimeoutS, statementTimeoutMs } = config.pool
      const client = new SQL(config.url, {
        max,
        connectionTimeout: connectTimeoutS,
        idleTimeout: 30,
        connection: { statement_timeout: statementTimeoutMs },
      })
      return handle('postgres', bunSqlDrizzle({ client }), () => client.close(), bunSqlListen(config.directUrl ?? config.url, connectTimeoutS))
    }
    case 'neon': {
      if (config.wsProxy !== undefined) useLocalProxy(config.wsProxy)
      const { max, connectTimeoutS, statementTimeoutMs } = config.pool
      const pool = new Pool({
        connectionString: config.url,
        max,
        connectionTimeoutMillis: connectTimeoutS * 1000,
        idleTimeoutMillis: 30_000,
        ...(statementTimeoutMs > 0 && { statement_timeout: statementTimeoutMs }),
      })
      // An idle connection the server drops emits 'error' on the pool; unhandled, it would end the
      // process. The pool discards that connection and opens a new one on the next query.
      pool.on('error', onPoolError)
      return handle('neon', neonDrizzle({ client: pool }), () => pool.end(), neonListen(config.directUrl ?? config.url, connectTimeoutS))
    }
  }
}

/** PGlite's three runtime files, passed explicitly so the same code runs from source and from the binary. */
async function pgliteFiles() {
  const compile = async (path: string) => WebAssembly.compile(await Bun.file(path).arrayBuffer())
  const [pgliteWasmModule, initdbWasmModule] = await Promise.all([compile(pgliteWasm), compile(initdbWasm)])
  return { pgliteWasmModule, initdbWasmModule, fsBundle: Bun.file(fsBundle) }
}

/**
 * Points the Neon driver at a WebSocket-to-Postgres proxy (for local development and tests
 * against plain Postgres): no TLS inside the socket, no pipelined start-up, no write coalescing.
 */
function useLocalProxy(proxy: string) {
  neonConfig.wsProxy = (host, port) => `${proxy}?address=${host}:${port}`
  neonConfig.useSecureWebSocket = false
  neonConfig.pipelineConnect = false
  neonConfig.coalesceWrites = false
}

/** Wraps an already-open PGlite (tests load a migrated template into one per suite). */
export function fromPglite(client: PGlite): DatabaseHandle {
  // One in-process connection that never drops: acknowledged once.
  const listen: Listen = async (channel, onNotify, onListen) => {
    const unlisten = await client.listen(channel, onNotify)
    onListen()
    return { close: () => unlisten() }
  }
  return handle('pglite', pgliteDrizzle({ client }), () => client.close(), listen)
}

/** Bun.SQL's own `listen`: a dedicated connection that reconnects with backoff and re-subscribes. */
function bunSqlListen(url: string, connectTimeoutS: number): Listen {
  return async (channel, onNotify, onListen) => {
    const client = new SQL(url, { max: 1, connectionTimeout: connectTimeoutS })
    try {
      const subscription = await client.listen(channel, onNotify, onListen)
      return {
        async close() {
          await subscription.unlisten()
          await client.close()
        },
      }
    } catch (error) {
      await client.close()
      throw error
    }
  }
}

/**
 * The Neon driver's Client (the pg API over a WebSocket) has LISTEN but no reconnection: when the
 * connection ends, a new one is opened, with a growing delay, until it is acknowledged again.
 */
function neonListen(url: string, connectTimeoutS: number): Listen {
  return async (channel, onNotify, onListen) => {
    let closed = false
    let current: Client | undefined
    let retry: Timer | undefined
    const connect = async () => {
      const client = new Client({ connectionString: url, connectionTimeoutMillis: connectTimeoutS * 1000 })
      client.on('notification', (message) => {
        if (message.channel === channel) onNotify(message.payload ?? '')
      })
      // An 'error' is followed by 'end'; unhandled, it would end the process.
      client.on('error', () => {})
      try {
        await client.connect()
        await client.query(`LISTEN "${channel.replaceAll('"', '""')}"`)
      } catch (error) {
        void client.end().catch(() => {})
        throw error
      }
      if (closed) return void client.end().catch(() => {})
      current = client
      client.on('end', () => {
        if (!closed) reconnect(RECONNECT_MIN_MS)
      })
      onListen()
    }
    const reconnect = (delayMs: number) => {
      retry = setTimeout(() => {
        connect().catch(() => reconnect(Math.min(delayMs * 2, RECONNECT_MAX_MS)))
      }, delayMs)
    }
    await connect()
    return {
      async close() {
        closed = true
        clearTimeout(retry)
        await current?.end().catch(() => {})
      },
    }
  }
}

const RECONNECT_MIN_MS = 100
const RECONNECT_MAX_MS = 5000

function handle(driver: DatabaseConfig['driver'], db: Database, close: () => Promise<void>, listen: Listen): DatabaseHandle {
  const done = Promise.resolve([] as readonly string[])
  let migrating: Promise<readonly string[]> | null = null
  let migrated = false
  const ensureSchema = () => {
    if (migrated) return done
    migrating ??= migrate(db).then(
      (applied) => {
        migrated = true
        return applied
      },
      (error: unknown) => {
        migrating = null
        throw error
      },
    )
    return migrating
  }
  return {
    db,
    driver,
    close,
    listen,
    ensureSchema,
    async checkReady(timeoutMs) {
      let timer: Timer | undefined
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('the database did not answer in time')), timeoutMs)
      })
      try {
        await Promise.race([ensureSchema().then(() => db.execute(sql`select 1`)), timeout])
      } finally {
        clearTimeout(timer)
      }
    },
  }
}
