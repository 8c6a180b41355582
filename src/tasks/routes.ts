// The 'tasks' plugin: every task endpoint, mounted once per path family (/api/v1, /api and the
// older /api/:user_id) on the /api base plugin, which gives each handler `userId` and `db`.
// Handlers are short: one query, shape the answer.
import { Elysia, t } from 'elysia'
import type { Database } from '../db/client'
import type { Api } from '../http/api'
import { decodeCursor, encodeCursor, nextLink } from '../http/cursor'
import { ApiError, errorResponses } from '../http/errors'
import { ClearQuery, CreateTask, Deleted, ListQuery, Stats, Task, Toggle, UpdateTask, toTask, type ListRequest } from './model'
import { urlOf } from '../http/request'
import * as q from './queries'

// The older family's :user_id rides along in params; the auth plugin has already checked it.
const TaskParams = t.Object({ id: t.String({ description: 'Task id (UUIDv7)' }) }, { additionalProperties: true })
// What any /api route may answer (a stray body on a GET is still read, so INVALID_JSON is common).
const common = ['VALIDATION_ERROR', 'INVALID_JSON', 'UNAUTHORIZED', 'RATE_LIMITED', 'INTERNAL_ERROR', 'SERVICE_UNAVAILABLE'] as const
const oneTaskCodes = ['FORBIDDEN', 'TASK_NOT_FOUND'] as const
const bodyCodes = ['PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'] as const
const commonErrors = errorResponses(...common)
const taskErrors = errorResponses(...common, ...oneTaskCodes)
const taskBodyErrors = errorResponses(...common, ...oneTaskCodes, ...bodyCodes)
// Bodies are read by the raw-body parser (src/http/body.ts); naming JSON here is what puts their
// schemas under application/json in the OpenAPI document.
const json = 'application/json' as const
const oneTask = { params: TaskParams, notFound: 'TASK_NOT_FOUND' } as const

interface Caller {
  db: Database
  userId: string
  params: { id: string }
  forbidden: (target: string, detail: string) => ApiError
}

/** The error for an id the caller does not own: 403 (logged) if another user has it, else 404. */
async function missing({ db, userId, params: { id }, forbidden }: Caller) {
  if (await q.ownedByAnother(db, userId, id)) return forbidden(`task:${id}`, 'This task belongs to another user')
  return new ApiError('TASK_NOT_FOUND', 'Task not found')
}

async function found(caller: Caller, row: Awaited<ReturnType<typeof q.getTask>>) {
  if (!row) throw await missing(caller)
  return toTask(row)
}

const update = {
  handler: async (c: Caller & { body: UpdateTask }) => found(c, await q.updateTask(c.db, c.userId, c.params.id, c.body)),
  options: { ...oneTask, parse: json, body: UpdateTask, response: { 200: Task, ...taskBodyErrors } },
}

export const tasks = <const Prefix extends '/api/v1' | '/api' | '/api/:user_id'>(api: Api, prefix: Prefix) =>
  new Elysia({ name: 'tasks', seed: prefix, prefix, detail: { tags: ['tasks'], security: [{ bearer: [] }] } })
    .use(api)
    .get(
      '/tasks',
      async ({ query: raw, request, set, userId, db }) => {
        // Elysia widens literal unions in query types; the schema has already checked them.
        const query = raw as ListRequest
        const after = query.cursor === undefined ? null : decodeCursor(query.cursor, (values) => q.positionOf(values, query.sort))
        const page = await q.listTasks(db, userId, query, after)
        if (page.next) set.headers['link'] = nextLink(request, encodeCursor(q.cursorValues(page.next)))
        return page.rows.map(toTask)
      },
      {
        query: ListQuery,
        response: { 200: t.Array(Task), ...errorResponses(...common, 'INVALID_CURSOR') },
        detail: { summary: 'List tasks', description: 'One page of the caller\'s tasks; the next page is in the `Link` header.' },
      },
    )
    .post(
      '/tasks',
      async ({ body, userId, db, request, set, status }) => {
        const task = toTask(await q.createTask(db, userId, body))
        set.headers['location'] = `${urlOf(request).pathname.replace(/\/$/, '')}/${task.id}`
        return status(201, task)
      },
      { parse: json, body: CreateTask, response: { 201: Task, ...errorResponses(...common, ...bodyCodes) }, detail: { summary: 'Create a task' } },
    )
    .delete('/tasks', async ({ userId, db }) => ({ deleted: await q.clearCompleted(db, userId) }), {
      query: ClearQuery,
      response: { 200: Deleted, ...commonErrors },
      detail: { summary: 'Clear completed tasks' },
    })
    .get('/tasks/stats', ({ userId, db }) => q.taskStats(db, userId), {
      response: { 200: Stats, ...commonErrors },
      detail: { summary: 'Count the caller\'s tasks' },
    })
    .get('/tasks/:id', async (c) => found(c, await q.getTask(c.db, c.userId, c.params.id)), {
      ...oneTask,
      response: { 200: Task, ...taskErrors },
      detail: { summary: 'Get a task' },
    })
    .patch('/tasks/:id', update.handler, { ...update.options, detail: { summary: 'Update a task' } })
    .put('/tasks/:id', update.handler, { ...update.options, detail: { summary: 'Update a task (as PATCH, for older clients)' } })
    .patch('/tasks/:id/toggle', async (c) => found(c, await q.toggleTask(c.db, c.userId, c.params.id, c.body?.completed)), {
      ...oneTask,
      parse: json,
      body: Toggle,
      response: { 200: Task, ...taskBodyErrors },
      detail: { summary: 'Toggle completion', description: 'Flips `completed`; a body `{"completed": bool}` sets it instead.' },
    })
    .delete(
      '/tasks/:id',
      async (c) => {
        if (!(await q.deleteTask(c.db, c.userId, c.params.id))) throw await missing(c)
        return c.status(204, undefined)
      },
      { ...oneTask, response: { 204: t.Undefined(), ...taskErrors }, detail: { summary: 'Delete a task' } },
    )
