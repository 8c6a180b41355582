// The 'tasks' plugin: every task endpoint, mounted once per path family (/api/v1, /api and the
// older /api/:user_id) on the /api base plugin, which gives each handler `userId` and `db`.
// Handlers are short: one query, shape the answer. They name the context fields they use: Elysia
// reads a handler's source, and a context passed whole to a function makes it prepare everything
// for every request (cookies parsed, the query, all headers copied).
import { Elysia, t } from 'elysia'
import { bodyCodes, commonCodes, keyCodes, notOwned, type Api, type Caller } from '../http/api'
import { decodeCursor, encodeCursor, nextLink } from '../http/cursor'
import { errorResponses } from '../http/errors'
import { locationOf } from '../http/request'
import { ClearQuery, CreateTask, Deleted, ListQuery, MoveTask, Stats, Task, Toggle, UpdateTask, toTask, type ListRequest } from './model'
import * as q from './queries'

// The older family's :user_id rides along in params; the auth plugin has already checked it.
const TaskParams = t.Object({ id: t.String({ description: 'Task id (UUIDv7)' }) }, { additionalProperties: true })
const oneTaskCodes = ['FORBIDDEN', 'TASK_NOT_FOUND'] as const
const commonErrors = errorResponses(...commonCodes)
const taskErrors = errorResponses(...commonCodes, ...oneTaskCodes)
const taskWriteErrors = errorResponses(...commonCodes, ...oneTaskCodes, 'PRECONDITION_FAILED')
const taskBodyErrors = errorResponses(...commonCodes, ...oneTaskCodes, ...bodyCodes, 'PRECONDITION_FAILED')
const taskKeyedErrors = errorResponses(...commonCodes, ...oneTaskCodes, ...bodyCodes, 'PRECONDITION_FAILED', ...keyCodes)
// Bodies are read by the raw-body parser (src/http/body.ts); naming JSON here is what puts their
// schemas under application/json in the OpenAPI document.
const json = 'application/json' as const
const oneTask = { params: TaskParams, notFound: 'TASK_NOT_FOUND' } as const

/** The task for the answer, or the error for an id the caller's write or lookup missed (412, 403 or 404). */
async function found(caller: Caller, row: Awaited<ReturnType<typeof q.getTask>>) {
  if (!row) throw await notOwned(caller, 'task')
  return toTask(row)
}

const update = {
  handler: async ({ db, userId, params, forbidden, ifMatch, body }: Caller & { body: UpdateTask }) =>
    found({ db, userId, params, forbidden, ifMatch }, await q.updateTask(db, userId, params.id, body, ifMatch)),
  options: { ...oneTask, parse: json, body: UpdateTask, conditional: 'write', response: { 200: Task, ...taskBodyErrors } },
} as const

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
        conditional: 'read',
        response: { 200: t.Array(Task), ...errorResponses(...commonCodes, 'INVALID_CURSOR') },
        detail: { summary: 'List tasks', description: 'One page of the caller\'s tasks; the next page is in the `Link` header.' },
      },
    )
    .post(
      '/tasks',
      async ({ body, userId, db, request, set, status }) => {
        const task = toTask(await q.createTask(db, userId, body))
        set.headers['location'] = locationOf(request, task.id)
        return status(201, task)
      },
      {
        parse: json,
        body: CreateTask,
        conditional: 'create',
        idempotent: true,
        response: { 201: Task, ...errorResponses(...commonCodes, ...bodyCodes, ...keyCodes) },
        detail: { summary: 'Create a task' },
      },
    )
    .delete('/tasks', async ({ userId, db, query }) => ({ deleted: await q.clearCompleted(db, userId, query.list_id) }), {
      query: ClearQuery,
      response: { 200: Deleted, ...commonErrors },
      detail: { summary: 'Clear completed tasks', description: 'Within one list when `list_id` is given (`none`: tasks in no list).' },
    })
    .get('/tasks/stats', ({ userId, db }) => q.taskStats(db, userId), {
      conditional: 'read',
      response: { 200: Stats, ...commonErrors },
      detail: { summary: 'Count the caller\'s tasks' },
    })
    .get('/tasks/:id', async ({ db, userId, params, forbidden, ifMatch }) => found({ db, userId, params, forbidden, ifMatch }, await q.getTask(db, userId, params.id)), {
      ...oneTask,
      conditional: 'read',
      response: { 200: Task, ...taskErrors },
      detail: { summary: 'Get a task' },
    })
    .patch('/tasks/:id', update.handler, {
      ...update.options,
      idempotent: true,
      response: { 200: Task, ...taskKeyedErrors },
      detail: { summary: 'Update a task' },
    })
    .put('/tasks/:id', update.handler, { ...update.options, detail: { summary: 'Update a task (as PATCH, for older clients)' } })
    .patch('/tasks/:id/toggle', async ({ db, userId, params, forbidden, ifMatch, body }) =>
      found({ db, userId, params, forbidden, ifMatch }, await q.toggleTask(db, userId, params.id, body?.completed, ifMatch)), {
      ...oneTask,
      parse: json,
      body: Toggle,
      conditional: 'write',
      idempotent: true,
      response: { 200: Task, ...taskKeyedErrors },
      detail: { summary: 'Toggle completion', description: 'Flips `completed`; a body `{"completed": bool}` sets it instead.' },
    })
    .delete(
      '/tasks/:id',
      async ({ db, userId, params, forbidden, ifMatch, status }) => {
        if (!(await q.deleteTask(db, userId, params.id, ifMatch))) throw await notOwned({ db, userId, params, forbidden, ifMatch }, 'task')
        return status(204, undefined)
      },
      { ...oneTask, conditional: 'write', response: { 204: t.Undefined(), ...taskWriteErrors }, detail: { summary: 'Delete a task' } },
    )

/** Moving tasks, only under /api/v1 (the older families serve tasks without it). */
export const taskMoves = (api: Api) =>
  new Elysia({ name: 'task-moves', prefix: '/api/v1', detail: { tags: ['tasks'], security: [{ bearer: [] }] } })
    .use(api)
    .post('/tasks/:id/move', async ({ db, userId, params, forbidden, ifMatch, body }) =>
      found({ db, userId, params, forbidden, ifMatch }, await q.moveTask(db, userId, params.id, body ?? {}, ifMatch)), {
      ...oneTask,
      parse: json,
      body: MoveTask,
      conditional: 'write',
      idempotent: true,
      response: { 200: Task, ...taskKeyedErrors },
      detail: {
        summary: 'Move a task',
        description:
          'Places the task right after (`after`) or before (`before`) another task of the target list, or at its top (neither). `list_id` moves it into another list (`null`: no list). Bumps `version`; no other task is reordered.',
      },
    })
