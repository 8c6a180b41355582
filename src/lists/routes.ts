// The 'lists' plugin: the caller's lists and their order, only under /api/v1, on the /api base
// plugin (which gives each handler `userId` and `db`). Handlers are short: one query, shape the answer.
import { Elysia, t } from 'elysia'
import type { Database } from '../db/client'
import { ownedByAnother } from '../db/ownership'
import { lists as listTable, type ListRow } from '../db/schema'
import type { Api } from '../http/api'
import { ApiError, errorResponses } from '../http/errors'
import { CreateList, List, MoveList, toList, UpdateList } from './model'
import * as q from './queries'

const ListParams = t.Object({ id: t.String({ description: 'List id (UUIDv7)' }) })
const common = ['VALIDATION_ERROR', 'INVALID_JSON', 'UNAUTHORIZED', 'RATE_LIMITED', 'INTERNAL_ERROR', 'SERVICE_UNAVAILABLE'] as const
const oneListCodes = ['FORBIDDEN', 'LIST_NOT_FOUND'] as const
const bodyCodes = ['PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'] as const
const listErrors = errorResponses(...common, ...oneListCodes)
const listBodyErrors = errorResponses(...common, ...oneListCodes, ...bodyCodes)
const json = 'application/json' as const
const oneList = { params: ListParams, notFound: 'LIST_NOT_FOUND' } as const

interface Caller {
  db: Database
  userId: string
  params: { id: string }
  forbidden: (target: string, detail: string) => ApiError
}

/** The list for the answer, or the error for an id the caller does not own: 403 (logged) if another user has it, else 404. */
async function found({ db, userId, params: { id }, forbidden }: Caller, row: ListRow | undefined) {
  if (row) return toList(row)
  if (await ownedByAnother(db, listTable, userId, id)) throw forbidden(`list:${id}`, 'This list belongs to another user')
  throw new ApiError('LIST_NOT_FOUND', 'List not found')
}

export const lists = (api: Api) =>
  new Elysia({ name: 'lists', prefix: '/api/v1', detail: { tags: ['lists'], security: [{ bearer: [] }] } })
    .use(api)
    .get('/lists', async ({ userId, db }) => (await q.allLists(db, userId)).map(toList), {
      response: { 200: t.Array(List), ...errorResponses(...common) },
      detail: { summary: 'List lists', description: 'All the caller\'s lists, in their order.' },
    })
    .post(
      '/lists',
      async ({ body, userId, db, request, set, status }) => {
        const created = toList(await q.createList(db, userId, body.name))
        set.headers['location'] = `${new URL(request.url).pathname.replace(/\/$/, '')}/${created.id}`
        return status(201, created)
      },
      {
        parse: json,
        body: CreateList,
        response: { 201: List, ...errorResponses(...common, ...bodyCodes) },
        detail: { summary: 'Create a list', description: 'The new list comes last.' },
      },
    )
    .get('/lists/:id', async (c) => found(c, await q.getList(c.db, c.userId, c.params.id)), {
      ...oneList,
      response: { 200: List, ...listErrors },
      detail: { summary: 'Get a list' },
    })
    .patch('/lists/:id', async (c) => found(c, await q.renameList(c.db, c.userId, c.params.id, c.body.name)), {
      ...oneList,
      parse: json,
      body: UpdateList,
      response: { 200: List, ...listBodyErrors },
      detail: { summary: 'Rename a list', description: 'The only writable field is `name`; the read-only fields of a list sent back as it came are ignored.' },
    })
    .post('/lists/:id/move', async (c) => found(c, await q.moveList(c.db, c.userId, c.params.id, c.body ?? {})), {
      ...oneList,
      parse: json,
      body: MoveList,
      response: { 200: List, ...listBodyErrors },
      detail: {
        summary: 'Move a list',
        description: 'Places the list right after (`after`) or before (`before`) another of the caller\'s lists, or first (neither). Bumps `version`; no other list is reordered.',
      },
    })
    .delete(
      '/lists/:id',
      async (c) => {
        if (!(await q.deleteList(c.db, c.userId, c.params.id))) await found(c, undefined)
        return c.status(204, undefined)
      },
      { ...oneList, response: { 204: t.Undefined(), ...listErrors }, detail: { summary: 'Delete a list and its tasks' } },
    )
