// The start of every feature plugin under /api: the caller's identity (auth), the JSON body decoded
// after it, a malformed path id answered as "not found" before the database is touched, and the
// schema migrated on first use. Also the one answer for an id the caller does not own.
import { and, eq, ne, sql } from 'drizzle-orm'
import { Elysia } from 'elysia'
import { auth, type AuthOptions } from '../auth/plugin'
import type { Database, DatabaseHandle } from '../db/client'
import type { lists, tasks } from '../db/schema'
import { decodeJson } from './body'
import { ApiError, type ErrorCode } from './errors'
import { requestIdOf } from './request'

export interface ResourceOptions<Prefix extends string> extends AuthOptions {
  prefix: Prefix
  database: DatabaseHandle
}

export interface Kind {
  /** The word in log targets (`task:<id>`) and messages. */
  name: 'task' | 'list'
  notFound: Extract<ErrorCode, 'TASK_NOT_FOUND' | 'LIST_NOT_FOUND'>
  table: typeof tasks | typeof lists
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
export const isUuid = (id: string) => uuidPattern.test(id)

const capital = (s: string) => s[0]!.toUpperCase() + s.slice(1)

export const resource = <const Prefix extends string>(name: string, kind: Kind, { prefix, database, ...authOptions }: ResourceOptions<Prefix>) =>
  new Elysia({ name, seed: prefix, prefix, detail: { tags: [`${kind.name}s`], security: [{ bearer: [] }] } })
    .use(auth(authOptions))
    .onTransform(decodeJson)
    // A malformed id is simply an object that does not exist; it never reaches the database.
    .onTransform(({ params }) => {
      const id = (params as Record<string, string | undefined> | undefined)?.id
      if (id !== undefined && !isUuid(id)) throw new ApiError(kind.notFound, `${capital(kind.name)} not found`)
    })
    // A service that started while its database was away migrates on the first request after it
    // returns; until then this fails fast with the driver's error, answered as 503.
    .onTransform(async () => {
      await database.ensureSchema()
    })

/**
 * The error for an id the caller does not own: 403 (logged as authz.denied) if another user has
 * it, else 404. Only asked after the caller's own lookup missed; it reads no column but the key.
 */
export async function notOwned(
  options: Pick<AuthOptions, 'log'>,
  db: Database,
  kind: Kind,
  request: Request,
  userId: string,
  id: string,
): Promise<ApiError> {
  const { table } = kind
  const others = await db
    .select({ one: sql`1` })
    .from(table)
    .where(and(eq(table.id, id), ne(table.userId, userId)))
    .limit(1)
  if (others.length > 0) {
    options.log.warn('authz.denied', { request_id: requestIdOf(request), user_id: userId, target: `${kind.name}:${id}` })
    return new ApiError('FORBIDDEN', `This ${kind.name} belongs to another user`)
  }
  return new ApiError(kind.notFound, `${capital(kind.name)} not found`)
}
