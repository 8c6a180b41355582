// The 'tasks' plugin: every task endpoint, mounted once per path family (/api/v1, /api and the
// older /api/:user_id). Handlers are short: validate, one query, shape the answer.
import { t } from 'elysia'
import { tasks as taskTable, type TaskRow } from '../db/schema'
import { ApiError, commonErrors, Problem } from '../http/errors'
import { notOwned, resource, type Kind, type ResourceOptions } from '../http/resource'
import { ClearQuery, CreateTask, Deleted, ListQuery, MoveTask, Stats, Task, Toggle, UpdateTask, toTask } from './model'
import * as q from './queries'

export type TasksOptions<Prefix extends string> = ResourceOptions<Prefix>

// The older family's :user_id rides along in params; the auth plugin has already checked it.
const TaskParams = t.Object({ id: t.String({ description: 'Task id (UUIDv7)' }) }, { additionalProperties: true })
const taskErrors = { ...commonErrors, 403: Problem, 404: Problem }
const bodyErrors = { 413: Problem, 415: Problem }
// Bodies are read by the raw-body parser (src/http/body.ts); naming JSON here is what puts their
// schemas under application/json in the OpenAPI document.
const json = 'application/json' as const
const task: Kind = { name: 'task', notFound: 'TASK_NOT_FOUND', table: taskTable }

/** The task for the answer, or the error for an id the caller does not own (403 or 404). */
const found = async (options: TasksOptions<string>, request: Request, userId: string, id: string, row: TaskRow | undefined) => {
  if (!row) throw await notOwned(options, options.database.db, task, request, userId, id)
  return toTask(row)
}

export const tasks = <const Prefix extends '/api/v1' | '/api' | '/api/:user_id'>(options: TasksOptions<Prefix>) => {
  const { db } = options.database
  return (
    resource('tasks', task, options)
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
        async ({ userId, query }) => ({ deleted: await q.clearCompleted(db, userId, query.list_id) }),
        {
          query: ClearQuery,
          response: { 200: Deleted, ...commonErrors },
          detail: { summary: 'Clear completed tasks', description: 'Within one list when `list_id` is given (`none`: tasks in no list).' },
        },
      )
      .get('/tasks/stats', ({ userId }) => q.taskStats(db, userId), {
        response: { 200: Stats, ...commonErrors },
        detail: { summary: 'Count the caller\'s tasks' },
      })
      .get(
        '/tasks/:id',
        async ({ params: { id }, userId, request }) => found(options, request, userId, id, await q.getTask(db, userId, id)),
        { params: TaskParams, response: { 200: Task, ...taskErrors }, detail: { summary: 'Get a task' } },
      )
      .patch(
        '/tasks/:id',
        async ({ params: { id }, body, userId, request }) => found(options, request, userId, id, await q.updateTask(db, userId, id, body)),
        { params: TaskParams, parse: json, body: UpdateTask, response: { 200: Task, ...taskErrors, ...bodyErrors }, detail: { summary: 'Update a task' } },
      )
      .put(
        '/tasks/:id',
        async ({ params: { id }, body, userId, request }) => found(options, request, userId, id, await q.updateTask(db, userId, id, body)),
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
          found(options, request, userId, id, await q.toggleTask(db, userId, id, body?.completed)),
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
          if (!(await q.deleteTask(db, userId, id))) await found(options, request, userId, id, undefined)
          return status(204, undefined)
        },
        { params: TaskParams, response: { 204: t.Undefined(), ...taskErrors }, detail: { summary: 'Delete a task' } },
      )
  )
}

/** Moving tasks, only under /api/v1 (the older families serve tasks without it). */
export const taskMoves = (options: TasksOptions<'/api/v1'>) => {
  const { db } = options.database
  return resource('task-moves', task, options).post(
    '/tasks/:id/move',
    async ({ params: { id }, body, userId, request }) => found(options, request, userId, id, await q.moveTask(db, userId, id, body ?? {})),
    {
      params: TaskParams,
      parse: json,
      body: MoveTask,
      response: { 200: Task, ...taskErrors, ...bodyErrors },
      detail: {
        summary: 'Move a task',
        description:
          'Places the task right after (`after`) or before (`before`) another task of the target list, or at its top (neither). `list_id` moves it into another list (`null`: no list). Bumps `version`; no other task is reordered.',
      },
    },
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

function nextUrl(requestUrl: string, next: q.Position): string {
  const url = new URL(requestUrl)
  url.searchParams.set('cursor', encodeCursor(next))
  return url.toString()
}
