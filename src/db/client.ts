// Opens the configured database behind one Drizzle type. Nothing outside this file knows which
// driver is in use: embedded PGlite (the default), Bun's built-in Postgres client, or Neon's
// serverless Pool over WebSocket. Each driver's package loads only when that driver is used (the
// service listens before this module loads; Neon's takes ~5 ms to evaluate, PGlite's ~1 ms).
import type { PGlite } from '@electric-sql/pglite'
// PGlite's runtime files, embedded in the compiled binary (a path inside it) and read from
// node_modules otherwise: PGlite's own lookup beside its script finds nothing in a binary.
import initdbWasm from '@electric-sql/pglite/initdb.wasm' with { type: 'file' }
import fsBundle from '@electric-sql/pglite/pglite.data' with { type: 'file' }
import pgliteWasm from '@electric-sql/pglite/pglite.wasm' with { type: 'file' }
import type { Pool, PoolClient } from '@neondatabase/serverless'
import { SQL } from 'bun'
import { sql } from 'drizzle-orm'
import { drizzle as bunSqlDrizzle } from 'drizzle-orm/bun-sql'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import { drizzle as pgliteDrizzle } from 'drizzle-orm/pglite'
import { resolve } from 'node:path'
import type { DatabaseConfig } from '../config'
import { beginFirstStart } from './data-dir'
import { DATABASE_OPENING, isUnavailable } from './errors'
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
  /**
   * Resolves once the database is open (at once for Postgres, whose connections open on demand).
   * Rejects with DatabaseOpenError when the embedded database cannot be opened.
   */
  readonly opened: Promise<void>
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
  /** Connections of the pool, where the driver exposes them (Neon's Pool; Bun.SQL does not). */
  poolStats?(): { total: number; idle: number; waiting: number }
}

export interface Subscription {
  close(): Promise<void>
}

type Listen = DatabaseHandle['listen']

/** Opens the configured database, resolving once it is open (DatabaseOpenError when it cannot be). */
export async function openDatabase(config: DatabaseConfig, onPoolError: (error: Error) => void = () => {}): Promise<DatabaseHandle> {
  const database = connectDatabase(config, onPoolError)
  await database.opened
  return database
}

/**
 * Returns the database's handle at once, the embedded database opening behind it (`opened`):
 * so the service can listen first. Until it is open its queries fail as "unavailable".
 */
export function connectDatabase(config: DatabaseConfig, onPoolError: (error: Error) => void = () => {}): DatabaseHandle {
  switch (config.driver) {
    case 'pglite': {
      const dataDir = config.dataDir ?? undefined
      // A new folder starts from the migrated template embedded in the binary (no initdb: seconds
      // and ~1 GB saved); a folder that holds a database is opened as it is. A first start that was
      // killed before the database opened left a half-written folder: that one starts over.
      const firstStart = dataDir === undefined ? undefined : beginFirstStart(dataDir)
      const fresh = firstStart !== null
      const template = fresh ? embeddedTemplate() : undefined
      // A folder gets the template unpacked into it by Bun's native, streaming tar reader (~12 MiB
      // at its peak) and is then opened like any other; PGlite's own `loadDataDir` held the
      // 40 MB tar several times over in JavaScript (~130 MiB at the first start's peak). Only an
      // in-memory database, which has no folder, is loaded through PGlite.
      const loadDataDir = dataDir === undefined ? template : undefined
      // Opens in the background, so the service can listen first; until it is open, queries fail
      // as "unavailable" (503 with Retry-After). It starts on the next turn of the event loop:
      // compiling PGlite's WebAssembly holds the thread for ~30 ms, and the caller listens before.
      const opening = new Promise((resolve) => setImmediate(resolve))
        .then(() =>
          Promise.all([
            import('@electric-sql/pglite'),
            pgliteFiles(fresh && template === undefined),
            dataDir !== undefined && template !== undefined && new Bun.Archive(template).extract(dataDir),
          ]),
        )
        .then(([{ PGlite }, files]) => PGlite.create({ dataDir, loadDataDir, postgresqlconf: PGLITE_SETTINGS, ...files }))
        .catch((error: unknown) => {
          throw new DatabaseOpenError(dataDir, error)
        })
      let client: PGlite | undefined
      const opened = opening.then((c) => {
        firstStart?.()
        client = c
      })
      opened.catch(() => {}) // the caller awaits `opened`; queries meanwhile see "unavailable"
      const listen: Listen = async (...args) => pgliteListen(await opening)(...args)
      return handle('pglite', pgliteDrizzle({ client: untilOpen(() => client) }), async () => (await opening.catch(() => undefined))?.close(), listen, { opened })
    }
    case 'postgres': {
      const { max, connectTimeoutS, statementTimeoutMs } = config.pool
      const client = new SQL(config.url, {
        max,
        connectionTimeout: connectTimeoutS,
        idleTimeout: 30,
        connection: { statement_timeout: statementTimeoutMs },
      })
      const deadlineMs = statementTimeoutMs > 0 ? connectTimeoutS * 1000 + statementTimeoutMs : 0
      return handle('postgres', bunSqlDrizzle({ client: deadlineMs > 0 ? withDeadlines(client, deadlineMs) : client }), () => client.close(), bunSqlListen(config.directUrl ?? config.url, connectTimeoutS), {
        migrateDirect: directMigration(config),
      })
    }
    case 'neon': {
      const { neonConfig, Pool } = require('@neondatabase/serverless') as typeof import('@neondatabase/serverless')
      const { drizzle: neonDrizzle } = require('drizzle-orm/neon-serverless') as typeof import('drizzle-orm/neon-serverless')
      if (config.wsProxy !== undefined) useLocalProxy(neonConfig, config.wsProxy)
      const { max, connectTimeoutS, statementTimeoutMs } = config.pool
      const pool = new Pool({
        connectionString: config.url,
        max,
        connectionTimeoutMillis: connectTimeoutS * 1000,
        idleTimeoutMillis: 30_000,
        // statement_timeout bounds a slow query on a live server; query_timeout is node-postgres's
        // client-side deadline, for a server or network that hangs and never answers. A pool
        // query that fails so has its connection discarded. Waiting for a connection is bounded
        // by connectionTimeoutMillis, so a query ends within the two.
        ...(statementTimeoutMs > 0 && { statement_timeout: statementTimeoutMs, query_timeout: statementTimeoutMs }),
      })
      // An idle connection the server drops emits 'error' on the pool; unhandled, it would end the
      // process. The pool discards that connection and opens a new one on the next query.
      pool.on('error', onPoolError)
      releaseBrokenClients(pool)
      return handle('neon', neonDrizzle({ client: pool }), () => pool.end(), neonListen(config.directUrl ?? config.url, connectTimeoutS), {
        migrateDirect: directMigration(config),
        poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
      })
    }
  }
}

/**
 * The configuration `migrate` and the start-up migration connect with: DATABASE_DIRECT_URL when it
 * is set (Neon's non-pooled host: DDL and session state are at home there, not behind PgBouncer),
 * else DATABASE_URL; one connection.
 */
export function forMigrations(config: DatabaseConfig): DatabaseConfig {
  if (config.driver === 'pglite' || config.directUrl === undefined) return config
  return { ...config, url: config.directUrl, directUrl: undefined, pool: { ...config.pool, max: 1 } }
}

/** With a direct URL, migrations open their own short-lived connection to it. */
function directMigration(config: DatabaseConfig) {
  if (config.driver === 'pglite' || config.directUrl === undefined) return undefined
  return async () => {
    const direct = await openDatabase(forMigrations(config))
    try {
      return await migrate(direct.db)
    } finally {
      await direct.close()
    }
  }
}

/**
 * Postgres settings of the embedded database, chosen for one process serving one small service
 * (README, "The embedded database"): small shared buffers (the OS page cache holds the files
 * anyway, and every buffer is resident WebAssembly memory), shared memory sized for the one session
 * PGlite has rather than 100, WAL kept short between checkpoints, and synchronous_commit left on: a
 * write answered 2xx survives kill -9.
 */
const PGLITE_SETTINGS = [
  'shared_buffers=8MB',
  'max_connections=4',
  'work_mem=4MB',
  'maintenance_work_mem=16MB',
  'temp_buffers=2MB',
  'wal_buffers=1MB',
  'max_wal_size=64MB',
  'min_wal_size=32MB',
]

/** The migrated, empty data folder that `bun run build` embeds in the binary (absent from source). */
function embeddedTemplate(): Blob | undefined {
  return Bun.embeddedFiles.find((file) => (file as Blob & { name?: string }).name?.startsWith(TEMPLATE_NAME))
}
export const TEMPLATE_NAME = 'pglite-template'

/** The embedded database could not be opened: one line naming the folder and how to recover. */
export class DatabaseOpenError extends Error {
  override name = 'DatabaseOpenError'
  constructor(dataDir: string | undefined, cause: unknown) {
    // Emscripten's abort message ends with a hint for PGlite's own developers.
    const reason = (cause instanceof Error ? cause.message.split('\n')[0]! : String(cause)).replace(/\. Build with -sASSERTIONS.*$/, '')
    super(
      dataDir === undefined
        ? `the in-memory database could not be created (${reason})`
        : `DATA_DIR ${resolve(dataDir)} could not be opened as a database (${reason}); it may be damaged: stop taskapi, move the folder aside, and restore a copy taken while taskapi was stopped`,
      { cause },
    )
  }
}

/**
 * What Drizzle calls PGlite through: before the database is open its queries and transactions
 * fail at once with an "unavailable" error (503 with Retry-After, as for a Postgres that is away)
 * instead of waiting; after, they go straight to PGlite. Drizzle's PGlite session uses only these two.
 */
function untilOpen(client: () => PGlite | undefined): PGlite {
  const opening = () => Promise.reject(Object.assign(new Error('the database is still opening'), { code: DATABASE_OPENING }))
  const gate: Pick<PGlite, 'query' | 'transaction'> = {
    query: (...args: Parameters<PGlite['query']>) => client()?.query(...args) ?? opening(),
    transaction: (...args: Parameters<PGlite['transaction']>) => client()?.transaction(...args) ?? opening(),
  } as Pick<PGlite, 'query' | 'transaction'>
  return gate as PGlite
}

/** A query that outlived its client-side deadline; the database counts as unavailable (503). */
export class QueryDeadlineExceeded extends Error {
  override name = 'QueryDeadlineExceeded'
  readonly code = 'QUERY_DEADLINE_EXCEEDED'
  constructor(ms: number) {
    super(`the database did not answer within ${ms} ms`)
  }
}

/**
 * Bounds promises by `ms`: `bound(p, onExpire)` settles like `p`, or rejects with
 * QueryDeadlineExceeded (calling `onExpire`) once `ms` have passed. One interval timer serves every
 * pending query, running only while one is pending and ticking every tenth of `ms`, so an expiry
 * comes at most that late; a query costs a Set entry, not a timer, a race and a `finally` of its
 * own (together ~3 % of a GET's CPU under load).
 */
function deadlines(ms: number) {
  interface Pending {
    at: number
    expire(): void
  }
  const pending = new Set<Pending>()
  let sweep: Timer | undefined
  const check = () => {
    const now = performance.now()
    // In insertion order, so in order of expiry: stop at the first that still has time.
    for (const p of pending) {
      if (now - p.at < ms) break
      pending.delete(p)
      p.expire()
    }
    if (pending.size === 0) {
      clearInterval(sweep)
      sweep = undefined
    }
  }
  return <T>(promise: PromiseLike<T>, onExpire: () => void = () => {}): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const entry: Pending = {
        at: performance.now(),
        expire() {
          onExpire()
          reject(new QueryDeadlineExceeded(ms))
        },
      }
      pending.add(entry)
      sweep ??= setInterval(check, Math.max(10, Math.floor(ms / 10)))
      promise.then(
        (value) => {
          pending.delete(entry)
          resolve(value)
        },
        (error: unknown) => {
          pending.delete(entry)
          reject(error)
        },
      )
    })
}

/**
 * Bun.SQL has no client-side query timeout: over a connection that hangs (open, nothing moving) a
 * query waits forever, and so does the request. This wraps the client Drizzle is given so that
 * each query, including its wait for a connection, ends within `ms`: an expired query is
 * cancelled (Bun never sends one still queued) and rejects. A transaction is bounded while it
 * waits for its connection and while it commits; the queries inside have their own deadlines, and
 * a failed one rejects the transaction at once instead of waiting for a ROLLBACK that may hang.
 * The connection held by a hung query comes back to the pool when the database answers again.
 */
function withDeadlines(client: SQL, ms: number): SQL {
  const bound = deadlines(ms)
  const timed = (query: SQL.Query<unknown>) => ({
    values: () => bound(query.values(), () => query.cancel()),
    then: <A, B>(ok?: (v: unknown) => A, fail?: (e: unknown) => B) => bound(query, () => query.cancel()).then(ok, fail),
  })
  const wrap = (sql: SQL): SQL =>
    new Proxy(sql, {
      get(target, key) {
        if (key === 'unsafe') return (text: string, params?: unknown[]) => timed(target.unsafe(text, params))
        if (key === 'begin' || key === 'savepoint') {
          return (run: (tx: SQL) => Promise<unknown>) =>
            new Promise((resolve, reject) => {
              let phase: 'waiting' | 'running' | 'ending' | 'expired' = 'waiting'
              let timer = setTimeout(() => {
                phase = 'expired'
                reject(new QueryDeadlineExceeded(ms))
              }, ms)
              ;(target as unknown as Record<typeof key, (run: (tx: SQL) => Promise<unknown>) => Promise<unknown>>)[key](async (tx) => {
                // Got its connection too late: the caller has had its answer; write nothing.
                if (phase === 'expired') throw new QueryDeadlineExceeded(ms)
                phase = 'running'
                clearTimeout(timer)
                try {
                  const result = await run(wrap(tx))
                  phase = 'ending'
                  timer = setTimeout(() => reject(new QueryDeadlineExceeded(ms)), ms)
                  return result
                } catch (error) {
                  reject(error)
                  throw error
                }
              }).then(
                (value) => {
                  clearTimeout(timer)
                  resolve(value)
                },
                (error: unknown) => {
                  clearTimeout(timer)
                  reject(error)
                },
              )
            })
        }
        const value = Reflect.get(target, key) as unknown
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
  return wrap(client)
}

/**
 * A client checked out for a transaction is the caller's to release, and Drizzle's Neon session
 * leaks it when BEGIN fails (it releases only after BEGIN succeeded); while it is checked out, a
 * connection error on it is an 'error' event nobody listens to, which ends the process. So a
 * checked-out client whose query fails for want of the database, or whose connection fails, is
 * released as broken (the pool discards it); Drizzle's own later release is then a no-op.
 */
function releaseBrokenClients(pool: Pool) {
  type Client = PoolClient & { release(error?: Error | boolean): void }
  const out = new Set<Client>()
  const patched = new WeakSet<Client>()
  const release = (client: Client, error: Error) => {
    if (out.delete(client)) client.release(error)
  }
  const onError = new WeakMap<Client, (error: Error) => void>()
  pool.on('acquire', (client: Client) => {
    out.add(client)
    if (!patched.has(client)) {
      patched.add(client)
      const query = client.query.bind(client) as (...args: unknown[]) => unknown
      client.query = ((...args: unknown[]) => {
        const result = query(...args)
        if (result instanceof Promise) result.catch((error: unknown) => isUnavailable(error) && release(client, error as Error))
        return result
      }) as Client['query']
      onError.set(client, (error) => release(client, error))
    }
    client.on('error', onError.get(client)!)
  })
  pool.on('release', (_: unknown, client: Client) => {
    out.delete(client)
    client.removeListener('error', onError.get(client)!)
    // Drizzle releases the client again after its transaction ends; once is enough. The next
    // checkout gives it a fresh release function.
    client.release = () => {}
  })
}

/** PGlite's three runtime files, passed explicitly so the same code runs from source and from the binary. */
async function pgliteFiles(initdb = true) {
  const compile = async (path: string) => WebAssembly.compile(await Bun.file(path).arrayBuffer())
  // initdb's module is compiled only when initdb will run (no template and no database yet).
  const [pgliteWasmModule, initdbWasmModule] = await Promise.all([compile(pgliteWasm), initdb ? compile(initdbWasm) : undefined])
  return { pgliteWasmModule, initdbWasmModule, fsBundle: Bun.file(fsBundle) }
}

/**
 * Points the Neon driver at a WebSocket-to-Postgres proxy (for local development and tests
 * against plain Postgres): no TLS inside the socket, no pipelined start-up, no write coalescing.
 */
function useLocalProxy(neonConfig: typeof import('@neondatabase/serverless').neonConfig, proxy: string) {
  neonConfig.wsProxy = (host, port) => `${proxy}?address=${host}:${port}`
  neonConfig.useSecureWebSocket = false
  neonConfig.pipelineConnect = false
  neonConfig.coalesceWrites = false
}

/** Wraps an already-open PGlite (tests load a migrated template into one per suite). */
export function fromPglite(client: PGlite): DatabaseHandle {
  return handle('pglite', pgliteDrizzle({ client }), () => client.close(), pgliteListen(client))
}

/** PGlite's `listen`: one in-process connection that never drops, so acknowledged once. */
function pgliteListen(client: PGlite): Listen {
  return async (channel, onNotify, onListen) => {
    const unlisten = await client.listen(channel, onNotify)
    onListen()
    return { close: () => unlisten() }
  }
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
    type Client = InstanceType<typeof import('@neondatabase/serverless').Client>
    let current: Client | undefined
    let retry: Timer | undefined
    const connect = async () => {
      // Loaded on first use, as the Neon driver is elsewhere in this file.
      const { Client } = require('@neondatabase/serverless') as typeof import('@neondatabase/serverless')
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

function handle(
  driver: DatabaseConfig['driver'],
  db: Database,
  close: () => Promise<void>,
  listen: Listen,
  { opened = Promise.resolve(), migrateDirect, poolStats }: { opened?: Promise<void>; migrateDirect?: () => Promise<string[]>; poolStats?: DatabaseHandle['poolStats'] } = {},
): DatabaseHandle {
  const done = Promise.resolve([] as readonly string[])
  let migrating: Promise<readonly string[]> | null = null
  let migrated = false
  const ensureSchema = () => {
    if (migrated) return done
    migrating ??= (migrateDirect ? migrateDirect() : migrate(db)).then(
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
    opened,
    ensureSchema,
    poolStats,
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
