// The base plugin of every /api feature: who the caller is (auth), the JSON body, the schema-ready
// check and the request's database executor, plus the route-level options a feature opts into.
// A feature plugin `.use()`s it and holds its routes and nothing else.
//
// Route options (Elysia macros):
// - `notFound: 'TASK_NOT_FOUND'`: the route's `:id` must be a UUID; anything else is that resource's
//   404 before validation and before the database is asked.
// - `transaction: true`: the handler's `db` is one transaction, committed after the handler (before
//   the answer is sent) and rolled back on any error. Without it, `db` is the shared handle and
//   each statement commits by itself (one round trip where one suffices).
// - `conditional: 'read' | 'write' | 'create'` (src/http/conditional.ts): ETags on the answer,
//   If-None-Match → 304 on reads, If-Match parsed into `ifMatch` for the write's own WHERE.
// - `idempotent: true` (src/http/idempotency.ts): Idempotency-Key. A keyed request's `db` is a
//   transaction opened before validation and committed with the kept response once the answer is
//   known; a `transaction: true` route joins it rather than opening another.
// A record that must commit with the write (a change-log entry) is written through the context's
// `db`, so it joins whichever transaction the request has.
import { PgTransaction } from 'drizzle-orm/pg-core'
import { Elysia } from 'elysia'
import { auth, type AuthOptions } from '../auth/plugin'
import type { Database, DatabaseHandle } from '../db/client'
import { ownedByAnother, ownVersion } from '../db/ownership'
import { lists, tasks } from '../db/schema'
import { beginTransaction, type HeldTransaction } from '../db/transaction'
import { isId } from './formats'
import { decodeJson } from './body'
import { conditional, preconditionFailed } from './conditional'
import { ApiError, type ErrorCode } from './errors'
import { idempotent } from './idempotency'

export interface ApiOptions extends AuthOptions {
  database: Pick<DatabaseHandle, 'db' | 'ensureSchema'>
}

// Keyed by the Request, like the request id: nothing outlives the request.
const held = new WeakMap<Request, HeldTransaction>()

type NotFoundCode = Extract<ErrorCode, `${string}_NOT_FOUND`>
// TASK_NOT_FOUND → "Task not found"
const notFoundDetail = (code: NotFoundCode) => {
  const resource = code.slice(0, -'_NOT_FOUND'.length).toLowerCase().replaceAll('_', ' ')
  return `${resource[0]!.toUpperCase()}${resource.slice(1)} not found`
}

const notFound = (code: NotFoundCode) => ({
  transform({ params }: { params: unknown }) {
    const id = (params as Record<string, string | undefined> | undefined)?.id
    if (id !== undefined && !isId(id)) throw new ApiError(code, notFoundDetail(code))
  },
})

const transaction = {
  async beforeHandle(context: { request: Request; db: Database }) {
    // Already the request's transaction (a keyed request's, which commits with its kept answer).
    if (context.db instanceof PgTransaction) return
    const open = await beginTransaction(context.db)
    held.set(context.request, open)
    context.db = open.tx
  },
  async afterHandle({ request }: { request: Request }) {
    const open = held.get(request)
    held.delete(request)
    await open?.commit()
  },
  // Not an `error` hook: the app's global onError answers first and local ones never run. Whatever
  // was not committed (the handler or a later hook failed) is rolled back once the answer is out.
  async afterResponse({ request }: { request: Request }) {
    const open = held.get(request)
    held.delete(request)
    await open?.rollback()
  },
}

export const api = ({ database, ...authOptions }: ApiOptions) =>
  new Elysia({ name: 'api' })
    .use(auth(authOptions))
    .derive({ as: 'scoped' }, () => ({ db: database.db }))
    .onTransform({ as: 'scoped' }, decodeJson)
    .macro({
      notFound,
      transaction: (on: boolean) => (on ? transaction : {}),
      conditional,
      idempotent: (on: boolean) => (on ? idempotent(database) : {}),
    })
    // After validation, so a malformed request never waits for the database. A service that started
    // while its database was away migrates on the first request after it returns; until then this
    // fails fast with the driver's error, answered as 503.
    .onBeforeHandle({ as: 'scoped' }, async () => {
      await database.ensureSchema()
    })
    // auth's derive arrives here as local: lift it to the feature that uses this plugin.
    .as('scoped')

export type Api = ReturnType<typeof api>

// What any /api route may answer (a stray body on a GET is still read, so INVALID_JSON is common),
// and what a route with a body may answer besides.
export const commonCodes = ['VALIDATION_ERROR', 'INVALID_JSON', 'UNAUTHORIZED', 'RATE_LIMITED', 'INTERNAL_ERROR', 'SERVICE_UNAVAILABLE'] as const
export const bodyCodes = ['PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'] as const
/** What an `idempotent: true` route may also answer. */
export const keyCodes = ['IDEMPOTENCY_KEY_IN_USE', 'IDEMPOTENCY_KEY_REUSED'] as const

/** A handler's context, as far as answering for one object named by `:id` needs it. */
export interface Caller {
  db: Database
  userId: string
  params: { id: string }
  forbidden: (target: string, detail: string) => ApiError
  /** The versions the write's If-Match allowed (`conditional: 'write'` routes); null for any. */
  ifMatch?: readonly number[] | null
}

/**
 * The error for an id the caller's own lookup (or conditional write) missed: 412 with the current
 * ETag if it is the caller's own at another version than If-Match named, 403 (logged as
 * authz.denied) if another user has it, else the kind's 404.
 */
export async function notOwned({ db, userId, params: { id }, forbidden, ifMatch = null }: Caller, kind: 'task' | 'list'): Promise<ApiError> {
  const [table, code, name] = kind === 'task' ? ([tasks, 'TASK_NOT_FOUND', 'Task'] as const) : ([lists, 'LIST_NOT_FOUND', 'List'] as const)
  if (ifMatch !== null) {
    const version = await ownVersion(db, table, userId, id)
    if (version !== undefined) return preconditionFailed(version)
  }
  if (await ownedByAnother(db, table, userId, id)) return forbidden(`${kind}:${id}`, `This ${kind} belongs to another user`)
  return new ApiError(code, `${name} not found`)
}
