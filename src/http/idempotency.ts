// Idempotency-Key (draft-ietf-httpapi-idempotency-key-header, with Stripe's replay header) for
// routes that opt in with `{ idempotent: true }` (a route option of src/http/api.ts). A keyed
// request's `db` (the request's executor) is its own transaction, so whatever the handler writes
// (and any record another mechanism adds through `db`, such as a change-log entry) commits
// together with the kept response, or not at all.
//
// A keyed request, after authentication and body decoding:
//   1. opens a transaction and tries a transaction-scoped advisory lock on (user, key) without
//      waiting. The lock dies with its connection, so a crashed instance frees the key;
//   2. looks the key up (a fresh statement, so it sees whatever the lock's last holder committed):
//      a kept response with the same fingerprint is replayed with `Idempotent-Replayed: true`,
//      another fingerprint is a 422, and in both cases nothing runs; with no kept response, a
//      lock held elsewhere means the first request is still running → 409 with Retry-After;
//   3. otherwise runs the route on the transaction; once the response is known (success or error,
//      in `mapResponse`, which Elysia runs on both paths before sending), a success is inserted
//      and commits with the write; an error below 500 other than 401, 409 and 429 is kept with
//      the handler's writes rolled back (an error means nothing happened); anything else rolls
//      back, so the key is free again after a 5xx. Nothing is sent before the commit succeeds.
// Requests without the header pay nothing: no statement, no transaction.
import { and, eq, gt, sql } from 'drizzle-orm'
import { ElysiaCustomStatusResponse, t } from 'elysia'
import type { Database, DatabaseHandle } from '../db/client'
import { databaseState } from '../db/errors'
import { idempotencyKeys, type IdempotencyRecord } from '../db/schema'
import { beginTransaction, type HeldTransaction } from '../db/transaction'
import type { Logger } from '../log'
import { ApiError } from './errors'

/** How long a kept response is replayed; older ones are ignored and purged. */
export const RETENTION = sql.raw(`interval '24 hours'`)
// A retry this soon usually finds the first request finished (and gets its response).
const IN_USE_RETRY_AFTER_S = '1'
const KEPT_HEADERS = ['content-type', 'location', 'etag'] as const
const notKept = new Set([401, 409, 429])

const visibleAscii = /^[\x21-\x7E]{1,255}$/
// An sf-string (RFC 8941 §3.3.3): printable ASCII, with only \" and \\ escaped.
const sfString = /^"((?:[\x20\x21\x23-\x5B\x5D-\x7E]|\\["\\])*)"$/

/** The key: 1–255 visible ASCII characters, bare or as a structured-field string (the same key either way). */
export function parseKey(header: string): string {
  let key = header
  if (key.startsWith('"')) {
    const quoted = sfString.exec(key)
    key = quoted ? quoted[1]!.replace(/\\(["\\])/g, '$1') : ''
  }
  if (!visibleAscii.test(key)) {
    throw new ApiError('VALIDATION_ERROR', 'The Idempotency-Key header is not valid', {
      errors: [{ field: 'Idempotency-Key', message: 'must be 1 to 255 visible ASCII characters, bare or as a quoted string' }],
    })
  }
  return key
}

/** JSON with object keys sorted at every depth: the same body however its members were ordered or spaced. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined)
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`
  }
  return JSON.stringify(value) ?? ''
}

export function fingerprint(method: string, path: string, body: unknown): string {
  return new Bun.CryptoHasher('sha256').update(`${method} ${path}\n${canonical(body)}`).digest('base64url')
}

type Kept = Pick<IdempotencyRecord, 'status' | 'headers' | 'body'>

interface Pending {
  open: HeldTransaction
  userId: string
  key: string
  fingerprint: string
  settled: boolean
}

// Per-request state, keyed by the Request, so nothing outlives it.
const state = new WeakMap<Request, { replay: Kept } | Pending>()

/** What would be sent: status, body text and the headers worth keeping. */
async function outcome(value: unknown, set: { status?: unknown; headers: Record<string, unknown> }): Promise<Kept> {
  let status = typeof set.status === 'number' ? set.status : 200
  if (value instanceof ElysiaCustomStatusResponse) {
    status = value.code
    value = value.response
  }
  const headers: Record<string, string> = {}
  for (const name of KEPT_HEADERS) if (typeof set.headers[name] === 'string') headers[name] = set.headers[name]
  let body: string | null = null
  if (value instanceof Response) {
    status = value.status
    for (const name of KEPT_HEADERS) if (value.headers.has(name)) headers[name] = value.headers.get(name)!
    body = await value.clone().text()
  } else if (typeof value === 'string') {
    body = value
    headers['content-type'] ??= 'text/plain;charset=utf-8'
  } else if (value !== undefined && value !== null) {
    body = JSON.stringify(value)
    headers['content-type'] ??= 'application/json;charset=utf-8'
  }
  if (body === null || body === '') {
    body = null
    delete headers['content-type']
  }
  return { status, headers: JSON.stringify(headers), body }
}

function replay(kept: Kept, set: { status?: unknown; headers: Record<string, unknown> }): Response {
  // Elysia merges the context's status into a returned Response: on the error path it is already
  // the error's (a 422 for a body that fails validation again).
  set.status = kept.status
  const headers = new Headers()
  for (const [name, value] of Object.entries(set.headers)) if (typeof value === 'string' && name !== 'content-type') headers.set(name, value)
  for (const [name, value] of Object.entries(JSON.parse(kept.headers) as Record<string, string>)) headers.set(name, value)
  headers.set('idempotent-replayed', 'true')
  return new Response(kept.body, { status: kept.status, headers })
}

async function begin(db: Database, request: Request, userId: string, key: string, print: string): Promise<Database | undefined> {
  const open = await beginTransaction(db)
  try {
    const { tx } = open
    const [lock] = await tx
      .select({ held: sql<boolean>`pg_try_advisory_xact_lock(${keyLock(userId, key)})` })
      .from(sql`(select 1) as one`)
    const [kept] = await tx
      .select()
      .from(idempotencyKeys)
      .where(and(eq(idempotencyKeys.userId, userId), eq(idempotencyKeys.key, key), gt(idempotencyKeys.createdAt, sql`now() - ${RETENTION}`)))
    if (kept === undefined && lock?.held) {
      state.set(request, { open, userId, key, fingerprint: print, settled: false })
      return open.tx
    }
    await open.rollback()
    // A kept response is final, so it answers even while another retry holds the lock to read it.
    if (kept === undefined) {
      throw new ApiError('IDEMPOTENCY_KEY_IN_USE', 'A request with this Idempotency-Key is still being processed; retry shortly', {
        headers: { 'retry-after': IN_USE_RETRY_AFTER_S },
      })
    }
    if (kept.fingerprint !== print) {
      throw new ApiError('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used with a different request (method, path or body)')
    }
    state.set(request, { replay: kept })
  } catch (error) {
    await open.rollback()
    throw error
  }
}

const keyLock = (userId: string, key: string) => sql`hashtext(${userId}), hashtext(${key})`

/** Inserts the kept answer; `false` when a live one is already there. */
async function keep(tx: Database, pending: Pending, kept: Kept): Promise<boolean> {
  const values = { userId: pending.userId, key: pending.key, fingerprint: pending.fingerprint, ...kept }
  // An expired record of the same key is replaced, a live one never.
  const written = await tx
    .insert(idempotencyKeys)
    .values(values)
    .onConflictDoUpdate({
      target: [idempotencyKeys.userId, idempotencyKeys.key],
      set: { ...values, createdAt: sql`now()` },
      setWhere: sql`${idempotencyKeys.createdAt} <= now() - ${RETENTION}`,
    })
    .returning({ key: idempotencyKeys.key })
  return written.length > 0
}

async function settle(db: Database, pending: Pending, kept: Kept) {
  pending.settled = true
  const { open } = pending
  if (kept.status >= 500 || notKept.has(kept.status)) return open.rollback()
  if (kept.status >= 400) {
    // An error answer means nothing happened: whatever the handler wrote before failing is rolled
    // back (as on a `transaction: true` route), and the answer is kept on its own, under the key's
    // lock again. Should an identical request have slipped in meanwhile, its answer stands.
    await open.rollback()
    await db.transaction(async (tx) => {
      await tx.select({ locked: sql`pg_advisory_xact_lock(${keyLock(pending.userId, pending.key)})` }).from(sql`(select 1) as one`)
      await keep(tx, pending, kept)
    })
    return
  }
  try {
    // A live record cannot appear while we hold the lock; if one somehow did, everything rolls back.
    if (!(await keep(open.tx, pending, kept))) throw new Error('a live idempotency record appeared while its key was locked')
  } catch (error) {
    await open.rollback()
    throw error
  }
  await open.commit()
}

/** The `idempotent` route option (src/http/api.ts). */
export const idempotent = (database: Pick<DatabaseHandle, 'db' | 'ensureSchema'>) => ({
  // Declared so the OpenAPI document and Eden's client know it; `parseKey` checks it.
  headers: t.Object({
    'idempotency-key': t.Optional(t.String({ description: '1–255 visible ASCII characters, bare or quoted; a retry with the same key gets the first response again' })),
  }),
  // After authentication and body decoding, before validation: a response to an invalid body is
  // kept (and replayed) like any other. Before every beforeHandle, so a `transaction: true` route
  // finds `db` already a transaction and joins it.
  async transform(context: { request: Request; path: string; body: unknown; db: Database }) {
    const { request, path, body } = context
    const header = request.headers.get('idempotency-key')
    if (header === null) return
    const key = parseKey(header)
    const userId = (context as { userId?: unknown }).userId
    if (typeof userId !== 'string') throw new Error('idempotent routes must be authenticated')
    // Before the transaction: a first request migrates, which on PGlite would wait for it.
    await database.ensureSchema()
    const tx = await begin(database.db, request, userId, key, fingerprint(request.method, path, body))
    if (tx !== undefined) context.db = tx
  },
  beforeHandle({ request, set }: { request: Request; set: { headers: Record<string, unknown> } }) {
    const current = state.get(request)
    // `as never`: the replay is the route's own earlier response, so it adds no type to the
    // route's responses (and Eden's).
    if (current !== undefined && 'replay' in current) return replay(current.replay, set) as never
  },
  // Runs on success and, after `onError`, on every error: the one place the response is known
  // before it is sent.
  async mapResponse({ request, responseValue, set }: { request: Request; responseValue: unknown; set: { status?: unknown; headers: Record<string, unknown> } }) {
    const current = state.get(request)
    if (current === undefined) return
    if ('replay' in current) return replay(current.replay, set) as never
    // On the error path Elysia calls this after every onError hook, also after one that answered
    // nothing (routing's, for a matched route): wait for the answer.
    if (current.settled || responseValue === undefined) return
    await settle(database.db, current, await outcome(responseValue, set))
  },
  // A safety net: a transaction still open once the response is gone is rolled back.
  afterResponse({ request }: { request: Request }) {
    const current = state.get(request)
    if (current !== undefined && 'open' in current && !current.settled) {
      current.settled = true
      void current.open.rollback()
    }
  },
})

const PURGE_BATCH = 1000

/**
 * Deletes up to `batch` expired records; returns how many. Cheap: an index range on created_at,
 * bounded, and rows another instance is purging at the same moment are skipped, not waited for.
 */
export async function purgeExpiredKeys(db: Database, batch = PURGE_BATCH): Promise<number> {
  const expired = db
    .select({ userId: idempotencyKeys.userId, key: idempotencyKeys.key })
    .from(idempotencyKeys)
    .where(sql`${idempotencyKeys.createdAt} <= now() - ${RETENTION}`)
    .orderBy(idempotencyKeys.createdAt)
    .limit(batch)
    .for('update', { skipLocked: true })
  const rows = await db
    .delete(idempotencyKeys)
    .where(sql`(${idempotencyKeys.userId}, ${idempotencyKeys.key}) in ${expired}`)
    .returning({ key: idempotencyKeys.key })
  return rows.length
}

/**
 * Purges expired records every `intervalMs` (each instance does; their batches skip each other's
 * rows), batch after batch until none is left, so the table holds about a day of keys.
 */
export function schedulePurge(database: DatabaseHandle, log: Logger, intervalMs = 15 * 60_000) {
  let running: Promise<void> | null = null
  const run = async () => {
    try {
      await database.ensureSchema()
      let total = 0
      for (let n = PURGE_BATCH; n === PURGE_BATCH; total += n) n = await purgeExpiredKeys(database.db)
      if (total > 0) log.info('idempotency.purged', { records: total })
    } catch (error) {
      log.warn('idempotency.purge_failed', databaseState(error))
    }
  }
  const timer = setInterval(() => {
    running ??= run().finally(() => (running = null))
  }, intervalMs)
  timer.unref()
  return {
    async stop() {
      clearInterval(timer)
      await running
    },
  }
}
