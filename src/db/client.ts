// Opens the configured database behind one Drizzle type. Nothing outside this file knows which
// driver is in use: embedded PGlite (default), or Bun's built-in Postgres client.
import { PGlite } from '@electric-sql/pglite'
import { SQL } from 'bun'
import { sql } from 'drizzle-orm'
import { drizzle as bunSqlDrizzle } from 'drizzle-orm/bun-sql'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import { drizzle as pgliteDrizzle } from 'drizzle-orm/pglite'
import { mkdirSync } from 'node:fs'
import type { DatabaseConfig } from '../config'

export type Database = PgDatabase<PgQueryResultHKT>

export interface DatabaseHandle {
  readonly db: Database
  readonly driver: DatabaseConfig['driver']
  /** Resolves when the database answers `select 1` within `timeoutMs`; rejects otherwise. */
  ping(timeoutMs: number): Promise<void>
  close(): Promise<void>
}

export interface PostgresPoolOptions {
  max?: number
  connectTimeoutS?: number
}

export async function openDatabase(config: DatabaseConfig, pool: PostgresPoolOptions = {}): Promise<DatabaseHandle> {
  switch (config.driver) {
    case 'pglite': {
      if (config.dataDir !== null) mkdirSync(config.dataDir, { recursive: true })
      const client = await PGlite.create(config.dataDir ?? undefined)
      return handle('pglite', pgliteDrizzle({ client }), () => client.close())
    }
    case 'postgres': {
      const client = new SQL(config.url, {
        max: pool.max ?? 10,
        connectionTimeout: pool.connectTimeoutS ?? 5,
        idleTimeout: 30,
      })
      return handle('postgres', bunSqlDrizzle({ client }), () => client.close())
    }
    case 'neon':
      throw new Error('DB_DRIVER=neon: the Neon driver is not available in this build')
  }
}

/** Wraps an already-open PGlite (tests load a migrated template into one per suite). */
export function fromPglite(client: PGlite): DatabaseHandle {
  return handle('pglite', pgliteDrizzle({ client }), () => client.close())
}

function handle(driver: DatabaseConfig['driver'], db: Database, close: () => Promise<void>): DatabaseHandle {
  return {
    db,
    driver,
    close,
    async ping(timeoutMs) {
      let timer: Timer | undefined
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('database ping timed out')), timeoutMs)
      })
      try {
        await Promise.race([db.execute(sql`select 1`), timeout])
      } finally {
        clearTimeout(timer)
      }
    },
  }
}
