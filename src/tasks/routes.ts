// The 'tasks' plugin: every task endpoint, mounted once per path family (/api/v1, /api and the
// older /api/:user_id). Handlers are short: validate, one query, shape the answer.
import { Elysia, t } from 'elysia'
import { auth, type AuthOptions } from '../auth/plugin'
import type { DatabaseHandle } from '../db/client'
import { decodeJson } from '../http/body'
import { ApiError, commonErrors, Problem } from '../http/errors'
import { requestIdOf } from '../http/request'
import { ClearQuery, CreateTask, Deleted, ListQuery, Stats, Task, Toggle, UpdateTask, toTask } from './model'
import * as q from './queries'

export interface TasksOptions<Prefix extends string> extends AuthOptions {
  prefix: Prefix
  database: DatabaseHandle
}

// The older family's :user_id rides along in params; the auth plugin has already checked it.
const TaskParams = t.Object({ id: t.String({ description: 'Task id (UUIDv7)' }) }, { additionalProperties: true })
const taskErrors = { ...commonErrors, 403: Problem, 404: Problem }
const bodyErrors = { 413: Problem, 415: Problem }
// Bodies are read by the raw-body parser (src/http/body.ts); naming JSON here is what puts their
// schemas under application/json in the OpenAPI document.
const json = 'application/json' as const

export const tasks = <const Prefix extends '/api/v1' | '/api' | '/api/:user_id'>({ prefix, database, ...authOptions }: TasksOptions<Prefix>) => {
  const { log } = authOptions
  const { db } = database
  /** The error for an id the caller does not own: 403 (logged) if another user has it, else 404. */
  const missing = async (request: Request, userId: string, id: string) => {
    if (await q.ownedByAnother(db, userId, id)) {
      log.warn('authz.denied', { request_id: requestIdOf(request), user_id: userId, target: `task:${id}` })
      return new ApiError('FORBIDDEN', 'This task belongs to another user')
    }
    return new ApiError('TASK_NOT_FOUND', 'Task not found')
  }
  const found = async (request: Request, userId: string, id: string, row: Awaited<ReturnType<typeof q.getTask>>) => {
    if (!row) throw await missing(request, userId, id)
    return toTask(row)
  }

  return (
    new Elysia({ name: 'tasks', seed: prefix, prefix, detail: { tags: ['tasks'], security: [{ bearer: [] }] } })
      .use(auth(authOptions))
      .onTransform(decodeJson)
      // A malformed id is simply a task that does not exist; it never reaches the database.
      .onTransform(({ params }) => {
        const id = (params as Record<string, string | undefined> | undefined)?.id
        if (id !== undefined && !q.isTaskId(id)) throw new ApiError('TASK_NOT_FOUND', 'Task not found')
      })
      // A service that started while its database was away migrates on the first request after it
      // returns; until then this fails fast with the driver's error, answered as 503.
      .onTransform(async () => {
        await database.ensureSchema()
      })
      .get(
        '/tasks',
        async ({ query: raw, request, set, userId }) => {
          // Elysia widens literal unions in query types; the schema has already checked them.
          const query = raw as ListQuery
          const filters = { ...query, status: query.status ?? 'all', sort: query.sort ?? '-created_at', limit: Number(query.limit ?? 50) }
          const after = query.cursor === undefined ? null : decodeCursor(query.cursor, filters.sort)
          const page = await q.listTasks(db, userId, filters, after)
          if (page.next) set.headers['link'] = `<${nextUrl(request.url, page.next)}>; rel="next"`
          return page.rows.map(toTask)
        },
        {
          query: ListQuery,
          response: { 200: t.Array(Task), ...commonErrors },
          detail: { summary: 'List tasks', description: 'One page of the caller\'s tasks; the next page is in the `Link` header.' },
        },
      )
      .post(
        '/tasks',
        async ({ body, userId, request, set, status }) => {
          const task = toTask(await q.createTask(db, userId, body))
          set.headers['location'] = `${new URL(request.url).pathname.replace(/\/$/, '')}/${task.id}`
          return status(201, task)
        },
        { parse: json, body: CreateTask, response: { 201: Task, ...commonErrors, ...bodyErrors }, detail: { summary: 'Create a task' } },
      )
      .delete(
        '/tasks',
        async ({ userId }) => ({ deleted: await q.clearCompleted(db, userId) }),
        { query: ClearQuery, response: { 200: Deleted, ...commonErrors }, detail: { summary: 'Clear completed tasks' } },
      )
      .get('/tasks/stats', ({ userId }) => q.taskStats(db, userId), {
        response: { 200: Stats, ...commonErrors },
        detail: { summary: 'Count the caller\'s tasks' },
      })
      .get(
        '/tasks/:id',
        async ({ params: { id }, userId, request }) => found(request, userId, id, await q.getTask(db, userId, id)),
        { params: TaskParams, response: { 200: Task, ...taskErrors }, detail: { summary: 'Get a task' } },
      )
      .patch(
        '/tasks/:id',
        async ({ params: { id }, body, userId, request }) => found(request, userId, id, await q.updateTask(db, userId, id, body)),
        { params: TaskParams, parse: json, body: UpdateTask, response: { 200: Task, ...taskErrors, ...bodyErrors }, detail: { summary: 'Update a task' } },
      )
      .put(
        '/tasks/:id',
        async ({ params: { id }, body, userId, request }) => found(request, userId, id, await q.updateTask(db, userId, id, body)),
        {
          params: TaskParams,
          parse: json,
          body: UpdateTask,
          response: { 200: Task, ...taskErrors, ...bodyErrors },
          detail: { summary: 'Update a task (as PATCH, for older clients)' },
        },
      )
      .patch(
        '/tasks/:id/toggle',
        async ({ params: { id }, body, userId, request }) =>
          found(request, userId, id, await q.toggleTask(db, userId, id, body?.completed)),
        {
          params: TaskParams,
          parse: json,
          body: Toggle,
          response: { 200: Task, ...taskErrors, ...bodyErrors },
          detail: { summary: 'Toggle completion', description: 'Flips `completed`; a body `{"completed": bool}` sets it instead.' },
        },
      )
      .delete(
        '/tasks/:id',
        async ({ params: { id }, userId, request, status }) => {
          if (!(await q.deleteTask(db, userId, id))) throw await missing(request, userId, id)
          return status(204, undefined)
        },
        { params: TaskParams, response: { 204: t.Undefined(), ...taskErrors }, detail: { summary: 'Delete a task' } },
      )
  )
}

// Cursors are opaque to clients: base64url of [sort, last sort value, last id].
function encodeCursor(p: q.Position): string {
  return Buffer.from(JSON.stringify([p.sort, p.value, p.id])).toString('base64url')
}

function decodeCursor(cursor: string, sort: string): q.Position {
  try {
    const decoded: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
    if (Array.isArray(decoded) && decoded.length === 3) {
      const [s, value, id] = decoded as [unknown, unknown, unknown]
      const position = { sort: s, value, id } as q.Position
      if (typeof s === 'string' && typeof id === 'string' && q.positionFits(position, sort)) return position
    }
  } catch {
    // falls through to the error below
  }
  throw new ApiError('INVALID_CURSOR', 'The cursor is not valid for this listing; start again without it')
}

// A path with its query, no scheme or host: behind a TLS proxy the request URL says http:// and an
// internal host, while a relative reference resolves against the address the client used.
function nextUrl(requestUrl: string, next: q.Position): string {
  const url = new URL(requestUrl)
  url.searchParams.set('cursor', encodeCursor(next))
  return `${url.pathname}${url.search}`
}
