// The 'lists' plugin: the caller's lists and their order, only under /api/v1, on the /api base
// plugin (which gives each handler `userId` and `db`). Handlers are short: one query, shape the answer.
// They name the context fields they use (see src/tasks/routes.ts).
import { Elysia, t } from 'elysia'
import type { ListRow } from '../db/schema'
import { bodyCodes, commonCodes, keyCodes, notOwned, type Api, type Caller } from '../http/api'
import { errorResponses } from '../http/errors'
import { locationOf } from '../http/request'
import { CreateList, List, MoveList, toList, UpdateList } from './model'
import * as q from './queries'

const ListParams = t.Object({ id: t.String({ description: 'List id (UUIDv7)' }) })
const oneListCodes = ['FORBIDDEN', 'LIST_NOT_FOUND'] as const
const listErrors = errorResponses(...commonCodes, ...oneListCodes)
const listWriteErrors = errorResponses(...commonCodes, ...oneListCodes, 'PRECONDITION_FAILED')
const listKeyedErrors = errorResponses(...commonCodes, ...oneListCodes, ...bodyCodes, 'PRECONDITION_FAILED', ...keyCodes)
const json = 'application/json' as const
const oneList = { params: ListParams, notFound: 'LIST_NOT_FOUND' } as const

/** The list for the answer, or the error for an id the caller's write or lookup missed (412, 403 or 404). */
async function found(caller: Caller, row: ListRow | undefined) {
  if (!row) throw await notOwned(caller, 'list')
  return toList(row)
}

export const lists = (api: Api) =>
  new Elysia({ name: 'lists', prefix: '/api/v1', detail: { tags: ['lists'], security: [{ bearer: [] }] } })
    .use(api)
    .get('/lists', async ({ userId, db }) => (await q.allLists(db, userId)).map(toList), {
      conditional: 'read',
      response: { 200: t.Array(List), ...errorResponses(...commonCodes) },
      detail: { summary: 'List lists', description: 'All the caller\'s lists, in their order.' },
    })
    .post(
      '/lists',
      async ({ body, userId, db, request, set, status }) => {
        const created = toList(await q.createList(db, userId, body.name))
        set.headers['location'] = locationOf(request, created.id)
        return status(201, created)
      },
      {
        parse: json,
        body: CreateList,
        conditional: 'create',
        idempotent: true,
        response: { 201: List, ...errorResponses(...commonCodes, ...bodyCodes, ...keyCodes) },
        detail: { summary: 'Create a list', description: 'The new list comes last.' },
      },
    )
    .get('/lists/:id', async ({ db, userId, params, forbidden, ifMatch }) => found({ db, userId, params, forbidden, ifMatch }, await q.getList(db, userId, params.id)), {
      ...oneList,
      conditional: 'read',
      response: { 200: List, ...listErrors },
      detail: { summary: 'Get a list' },
    })
    .patch('/lists/:id', async ({ db, userId, params, forbidden, ifMatch, body }) =>
      found({ db, userId, params, forbidden, ifMatch }, await q.renameList(db, userId, params.id, body.name, ifMatch)), {
      ...oneList,
      parse: json,
      body: UpdateList,
      conditional: 'write',
      idempotent: true,
      response: { 200: List, ...listKeyedErrors },
      detail: { summary: 'Rename a list', description: 'The only writable field is `name`; the read-only fields of a list sent back as it came are ignored.' },
    })
    .post('/lists/:id/move', async ({ db, userId, params, forbidden, ifMatch, body }) =>
      found({ db, userId, params, forbidden, ifMatch }, await q.moveList(db, userId, params.id, body ?? {}, ifMatch)), {
      ...oneList,
      parse: json,
      body: MoveList,
      conditional: 'write',
      idempotent: true,
      response: { 200: List, ...listKeyedErrors },
      detail: {
        summary: 'Move a list',
        description: 'Places the list right after (`after`) or before (`before`) another of the caller\'s lists, or first (neither). Bumps `version`; no other list is reordered.',
      },
    })
    .delete(
      '/lists/:id',
      async ({ db, userId, params, forbidden, ifMatch, status }) => {
        if (!(await q.deleteList(db, userId, params.id, ifMatch))) await found({ db, userId, params, forbidden, ifMatch }, undefined)
        return status(204, undefined)
      },
      { ...oneList, conditional: 'write', response: { 204: t.Undefined(), ...listWriteErrors }, detail: { summary: 'Delete a list and its tasks' } },
    )
