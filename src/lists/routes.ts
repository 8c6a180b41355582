// The 'lists' plugin: the caller's lists and their order, only under /api/v1. Handlers are short:
// validate, one query, shape the answer.
import { t } from 'elysia'
import { lists as listTable, type ListRow } from '../db/schema'
import { commonErrors, Problem } from '../http/errors'
import { notOwned, resource, type Kind, type ResourceOptions } from '../http/resource'
import { CreateList, List, MoveList, toList, UpdateList } from './model'
import * as q from './queries'

const ListParams = t.Object({ id: t.String({ description: 'List id (UUIDv7)' }) })
const listErrors = { ...commonErrors, 403: Problem, 404: Problem }
const bodyErrors = { 413: Problem, 415: Problem }
const json = 'application/json' as const
const list: Kind = { name: 'list', notFound: 'LIST_NOT_FOUND', table: listTable }

export const lists = (options: ResourceOptions<'/api/v1'>) => {
  const { db } = options.database
  /** The list for the answer, or the error for an id the caller does not own (403 or 404). */
  const found = async (request: Request, userId: string, id: string, row: ListRow | undefined) => {
    if (!row) throw await notOwned(options, db, list, request, userId, id)
    return toList(row)
  }
  return resource('lists', list, options)
    .get('/lists', async ({ userId }) => (await q.allLists(db, userId)).map(toList), {
      response: { 200: t.Array(List), ...commonErrors },
      detail: { summary: 'List lists', description: 'All the caller\'s lists, in their order.' },
    })
    .post(
      '/lists',
      async ({ body, userId, request, set, status }) => {
        const created = toList(await q.createList(db, userId, body.name))
        set.headers['location'] = `${new URL(request.url).pathname.replace(/\/$/, '')}/${created.id}`
        return status(201, created)
      },
      { parse: json, body: CreateList, response: { 201: List, ...commonErrors, ...bodyErrors }, detail: { summary: 'Create a list', description: 'The new list comes last.' } },
    )
    .get('/lists/:id', async ({ params: { id }, userId, request }) => found(request, userId, id, await q.getList(db, userId, id)), {
      params: ListParams,
      response: { 200: List, ...listErrors },
      detail: { summary: 'Get a list' },
    })
    .patch(
      '/lists/:id',
      async ({ params: { id }, body, userId, request }) => found(request, userId, id, await q.renameList(db, userId, id, body.name)),
      { params: ListParams, parse: json, body: UpdateList, response: { 200: List, ...listErrors, ...bodyErrors }, detail: { summary: 'Rename a list', description: 'The only writable field is `name`; the read-only fields of a list sent back as it came are ignored.' } },
    )
    .post(
      '/lists/:id/move',
      async ({ params: { id }, body, userId, request }) => found(request, userId, id, await q.moveList(db, userId, id, body ?? {})),
      {
        params: ListParams,
        parse: json,
        body: MoveList,
        response: { 200: List, ...listErrors, ...bodyErrors },
        detail: { summary: 'Move a list', description: 'Places the list right after (`after`) or before (`before`) another of the caller\'s lists, or first (neither). Bumps `version`; no other list is reordered.' },
      },
    )
    .delete(
      '/lists/:id',
      async ({ params: { id }, userId, request, status }) => {
        if (!(await q.deleteList(db, userId, id))) await found(request, userId, id, undefined)
        return status(204, undefined)
      },
      { params: ListParams, response: { 204: t.Undefined(), ...listErrors }, detail: { summary: 'Delete a list and its tasks' } },
    )
}
