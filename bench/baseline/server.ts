// The raw baseline of bench/compare.ts (issue 16): the endpoints the comparison drives, on the
// tables taskapi's migrations create, with nothing but Bun.serve, Bun.SQL and node:crypto. It is
// what those requests cost without a framework, validation schemas, ETags, rate limits, an access
// log or the change log: correct for the benchmark's inputs, and deliberately nothing more.
//
//   DATABASE_URL=postgres://… JWT_SECRET=… PORT=3001 bun bench/baseline/server.ts
//
// - Every request under /api/v1 carries an HS256 token, checked here by hand on every request (an
//   HMAC of header.payload compared in constant time, `exp` in the future, `sub` the user id);
//   anything else is 401. Every query filters by that user id; an unknown or malformed id is 404.
// - GET /api/v1/tasks?limit=N (newest first), and with list_id=…&sort=position (one list in order).
// - POST /api/v1/tasks: at the top of the inbox (a fractional key before its first), 201 + Location.
// - PATCH /api/v1/tasks/:id/toggle; POST /api/v1/tasks/:id/move (to the top of its list only).
// - GET /api/v1/changes?since=…&limit=N: a page of the change log (`sync_log`) by change number,
//   joined to the objects' rows, in taskapi's shape. It never writes the change log.
// Creates and moves read the first key, then write: two statements, no transaction, no lock (two at
// once may share a key; the order stays total by id), the least a real manual order needs.
import { SQL } from 'bun'
import { generateKeyBetween } from 'fractional-indexing'
import { createHmac, timingSafeEqual } from 'node:crypto'

const databaseUrl = process.env.DATABASE_URL
const secret = process.env.JWT_SECRET
if (!databaseUrl || !secret) {
  console.error('DATABASE_URL and JWT_SECRET are required')
  process.exit(2)
}
const sql = new SQL(databaseUrl, { max: Number(process.env.DB_POOL_MAX ?? 10) })

type Row = Record<string, any>

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const iso = (d: Date | null) => (d === null ? null : d.toISOString())

/** A tasks row as taskapi's task object (src/tasks/model.ts, toTask). */
const toTask = (r: Row) => ({
  id: r.id,
  user_id: r.user_id,
  list_id: r.list_id,
  title: r.title,
  description: r.description,
  completed: r.completed,
  completed_at: iso(r.completed_at),
  priority: r.priority,
  due_at: iso(r.due_at),
  position: r.position,
  created_at: iso(r.created_at),
  updated_at: iso(r.updated_at),
  version: r.version,
})

const problem = (status: number, code: string, detail: string) =>
  Response.json({ title: detail, status, detail, error_code: code }, { status, headers: { 'content-type': 'application/problem+json' } })
const unauthorized = () => problem(401, 'UNAUTHORIZED', 'Unauthorized')
const taskNotFound = () => problem(404, 'TASK_NOT_FOUND', 'Task not found')
const badRequest = (detail: string) => problem(400, 'VALIDATION_ERROR', detail)

/** The token's user, or null: HS256 only, signature, `exp` and a non-empty string `sub`. */
function userOf(request: Request): string | null {
  const header = request.headers.get('authorization')
  if (header === null || !header.startsWith('Bearer ')) return null
  const parts = header.slice(7).trim().split('.')
  if (parts.length !== 3) return null
  const [head, payload, signature] = parts as [string, string, string]
  try {
    if (JSON.parse(Buffer.from(head, 'base64url').toString()).alg !== 'HS256') return null
    const expected = createHmac('sha256', secret!).update(`${head}.${payload}`).digest()
    const given = Buffer.from(signature, 'base64url')
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString())
    if (typeof claims.exp !== 'number' || claims.exp * 1000 <= Date.now()) return null
    return typeof claims.sub === 'string' && claims.sub !== '' ? claims.sub : null
  } catch {
    return null
  }
}

type Handler = (request: Request & { params: Record<string, string> }, userId: string) => Promise<Response>
const authed =
  (handler: Handler) =>
  (request: Request & { params: Record<string, string> }): Promise<Response> | Response => {
    const userId = userOf(request)
    return userId === null ? unauthorized() : handler(request, userId)
  }

async function jsonBody(request: Request): Promise<Row | null> {
  try {
    const text = await request.text()
    const body: unknown = text === '' ? {} : JSON.parse(text)
    return typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Row) : null
  } catch {
    return null
  }
}

async function listTasks(request: Request, userId: string) {
  const query = new URL(request.url).searchParams
  const limit = Number(query.get('limit') ?? 50)
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return badRequest('limit must be an integer from 1 to 1000')
  const listId = query.get('list_id')
  const sort = query.get('sort') ?? '-created_at'
  let rows: Row[]
  if (listId !== null) {
    if (!uuid.test(listId) || sort !== 'position') return badRequest('this baseline serves list_id=<uuid>&sort=position only')
    rows = await sql`select * from tasks where user_id = ${userId} and list_id = ${listId} order by position, id limit ${limit}`
  } else {
    if (sort !== '-created_at') return badRequest('this baseline serves sort=-created_at only')
    rows = await sql`select * from tasks where user_id = ${userId} order by created_at desc, id desc limit ${limit}`
  }
  return Response.json(rows.map(toTask))
}

async function createTask(request: Request, userId: string) {
  const body = await jsonBody(request)
  const title = typeof body?.title === 'string' ? body.title.trim() : ''
  if (title.length < 1 || [...title].length > 200) return badRequest('title must be 1 to 200 characters')
  const [first] = await sql`select position from tasks where user_id = ${userId} and list_id is null order by position, id limit 1`
  const position = generateKeyBetween(null, first?.position ?? null)
  const [row] = await sql`
    insert into tasks (id, user_id, title, position) values (${Bun.randomUUIDv7()}, ${userId}, ${title}, ${position}) returning *`
  return Response.json(toTask(row!), { status: 201, headers: { location: `/api/v1/tasks/${row!.id}` } })
}

async function getTask(request: Request & { params: Record<string, string> }, userId: string) {
  const id = request.params.id!
  if (!uuid.test(id)) return taskNotFound()
  const [row] = await sql`select * from tasks where id = ${id} and user_id = ${userId}`
  return row ? Response.json(toTask(row)) : taskNotFound()
}

async function toggleTask(request: Request & { params: Record<string, string> }, userId: string) {
  const id = request.params.id!
  if (!uuid.test(id)) return taskNotFound()
  const [row] = await sql`
    update tasks set completed = not completed, completed_at = case when completed then null else now() end,
      version = version + 1, updated_at = now()
    where id = ${id} and user_id = ${userId} returning *`
  return row ? Response.json(toTask(row)) : taskNotFound()
}

async function moveTask(request: Request & { params: Record<string, string> }, userId: string) {
  const id = request.params.id!
  if (!uuid.test(id)) return taskNotFound()
  const body = await jsonBody(request)
  if (body === null || Object.keys(body).length > 0) return badRequest('this baseline moves to the top only: send {}')
  // The task's list and the first key of that list but for the task (each branch an index scan).
  const [state] = await sql`
    select case when t.list_id is null
      then (select position from tasks o where o.user_id = ${userId} and o.list_id is null and o.id <> t.id order by position, id limit 1)
      else (select position from tasks o where o.user_id = ${userId} and o.list_id = t.list_id and o.id <> t.id order by position, id limit 1)
    end as first
    from tasks t where t.id = ${id} and t.user_id = ${userId}`
  if (!state) return taskNotFound()
  const position = generateKeyBetween(null, state.first ?? null)
  const [row] = await sql`
    update tasks set position = ${position}, version = version + 1, updated_at = now()
    where id = ${id} and user_id = ${userId} returning *`
  return row ? Response.json(toTask(row)) : taskNotFound()
}

// Sync cursors as taskapi writes them (src/sync/cursor.ts): base64url of JSON [seq, floor, issued].
const encodeCursor = (seq: number) => Buffer.from(JSON.stringify([seq, 0, Math.floor(Date.now() / 1000)])).toString('base64url')
function decodeCursor(cursor: string): number | null {
  try {
    const values: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString())
    return Array.isArray(values) && values.length === 3 && Number.isSafeInteger(values[0]) && values[0] >= 0 ? values[0] : null
  } catch {
    return null
  }
}

async function changes(request: Request, userId: string) {
  const query = new URL(request.url).searchParams
  const limit = Number(query.get('limit') ?? 500)
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return badRequest('limit must be an integer from 1 to 1000')
  const since = query.get('since')
  const after = since === null ? 0 : decodeCursor(since)
  if (after === null) return problem(400, 'INVALID_CURSOR', 'The cursor is not valid')
  // Without `since`, live objects only (a snapshot); with it, tombstones too.
  const rows = await sql`
    select h.head, p.seq, p.kind, p.object_id, p.deleted, t.*,
      l.name as l_name, l.position as l_position, l.created_at as l_created_at, l.updated_at as l_updated_at, l.version as l_version
    from (select coalesce(max(seq), 0) as head from sync_heads where user_id = ${userId}) h
    left join (
      select seq, kind, object_id, deleted from sync_log
      where user_id = ${userId} and seq > ${after} and (${since !== null} or not deleted)
      order by seq limit ${limit + 1}
    ) p on true
    left join tasks t on p.kind = 'task' and t.id = p.object_id and t.user_id = ${userId}
    left join lists l on p.kind = 'list' and l.id = p.object_id and l.user_id = ${userId}
    order by p.seq`
  const found = rows.filter((r: Row) => r.seq !== null)
  const hasMore = found.length > limit
  if (hasMore) found.length = limit
  const out = found.map((r: Row) => {
    const type = r.kind as 'task' | 'list'
    const id = r.object_id as string
    if (type === 'task') return r.deleted || r.id === null ? { type, op: 'delete', id } : { type, op: 'upsert', id, data: toTask(r) }
    if (r.deleted || r.l_name === null) return { type, op: 'delete', id }
    const data = { id, name: r.l_name, position: r.l_position, created_at: iso(r.l_created_at), updated_at: iso(r.l_updated_at), version: r.l_version }
    return { type, op: 'upsert', id, data }
  })
  const last = hasMore ? Number(found.at(-1)!.seq) : Math.max(Number(rows[0]!.head), after)
  return Response.json({ changes: out, cursor: encodeCursor(last), has_more: hasMore })
}

/** The endpoints, by path and method, for Bun.serve's `routes` (and bench/baseline/elysia.ts). */
export const routes = {
  '/healthz': { GET: () => Response.json({ status: 'ok' }) },
  '/readyz': {
    GET: async () => {
      await sql`select 1`
      return Response.json({ status: 'ready' })
    },
  },
  '/api/v1/tasks': { GET: authed(listTasks), POST: authed(createTask) },
  '/api/v1/tasks/:id': { GET: authed(getTask) },
  '/api/v1/tasks/:id/toggle': { PATCH: authed(toggleTask) },
  '/api/v1/tasks/:id/move': { POST: authed(moveTask) },
  '/api/v1/changes': { GET: authed(changes) },
}
export const notFound = () => problem(404, 'NOT_FOUND', 'Not found')
export const internalError = (error: unknown) => {
  console.error(error)
  return problem(500, 'INTERNAL_ERROR', 'Internal error')
}
export const listenOn = { port: Number(process.env.PORT ?? 3001), hostname: process.env.HOST ?? '127.0.0.1' }

/** Stops `server` and closes the pool on SIGTERM or SIGINT. */
export function stopOnSignal(server: { stop(force: boolean): unknown }) {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, async () => {
      await server.stop(true)
      await sql.close()
      process.exit(0)
    })
  }
}

if (import.meta.main) {
  const server = Bun.serve({ ...listenOn, routes, fetch: notFound, error: internalError })
  console.log(JSON.stringify({ message: 'server.started', url: server.url.href }))
  stopOnSignal(server)
}
