// Tells a database that is not there right now (retry later) from a real failure, reading only
// error codes: driver messages can carry SQL parameters, and so task text.
// 08: connection exceptions; 53: out of resources; 57P01-03: shutting down; 57014: canceled by
// statement_timeout (the database is too busy to answer in time).
import { DrizzleQueryError } from 'drizzle-orm/errors'

const unavailableSqlStates = /^(08|53|57P0[1-3]|57014)/
/** The embedded database is still opening (the service listens before it is open). */
export const DATABASE_OPENING = 'DATABASE_OPENING'
const unavailableCodes = new Set([
  DATABASE_OPENING,
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ERR_POSTGRES_CONNECTION_CLOSED',
  'ERR_POSTGRES_CONNECTION_REFUSED',
  'ERR_POSTGRES_CONNECTION_TIMEOUT',
  'ERR_POSTGRES_IDLE_TIMEOUT',
  'ERR_POSTGRES_LIFETIME_TIMEOUT',
  // our client-side deadline (src/db/client.ts)
  'QUERY_DEADLINE_EXCEEDED',
])

// node-postgres (under Neon's driver) reports lost connections and its client-side query_timeout
// with bare messages, and a WebSocket that cannot open as an ErrorEvent.
const lostConnection = /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Query read timeout)/

export function databaseState(error: unknown): { sqlState?: string; code?: string } {
  // Drizzle wraps driver errors in DrizzleQueryError, whose message holds the SQL and its
  // parameters (task text): only the codes underneath are ever read.
  let e: unknown = error
  if (e instanceof ErrorEvent) return { code: 'WEBSOCKET_FAILED' }
  for (let depth = 0; depth < 4 && e instanceof Error; depth++) {
    const any = e as { errno?: unknown; code?: unknown; cause?: unknown }
    if (typeof any.errno === 'string' && /^[0-9A-Z]{5}$/.test(any.errno)) return { sqlState: any.errno }
    if (typeof any.code === 'string' && /^[0-9A-Z]{5}$/.test(any.code)) return { sqlState: any.code }
    if (typeof any.code === 'string' && unavailableCodes.has(any.code)) return { code: any.code }
    if (any.cause instanceof ErrorEvent) return { code: 'WEBSOCKET_FAILED' }
    if (any.code === undefined && lostConnection.test(e.message)) return { code: 'CONNECTION_LOST' }
    e = any.cause
  }
  return {}
}

/**
 * What a failure says about the database, or null when it did not come from there: whether it is
 * away (retry later) and its codes, the only things that may be logged of it.
 */
export function databaseFailure(error: unknown): { unavailable: boolean; sqlState?: string; code?: string } | null {
  const state = databaseState(error)
  if (!(error instanceof DrizzleQueryError) && state.sqlState === undefined && state.code === undefined) return null
  return { unavailable: isUnavailable(error), ...state }
}

export function isUnavailable(error: unknown): boolean {
  const { sqlState, code } = databaseState(error)
  return code !== undefined || (sqlState !== undefined && unavailableSqlStates.test(sqlState))
}
