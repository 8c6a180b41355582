// The list's wire shapes, written once as typebox schemas (requests, handlers, Eden, the docs).
import { Type } from '@sinclair/typebox'
import { t, type Static } from 'elysia'
import { instantText, lists } from '../db/schema'
import { ignored, Instant, Position } from '../tasks/model'

export const ownListAnchorMessage = 'must be the id of one of your lists'

export const List = t.Object(
  {
    id: t.String({ format: 'uuid', description: 'UUIDv7' }),
    name: t.String(),
    position: Position,
    created_at: Instant,
    updated_at: Instant,
    version: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
)
export type List = Static<typeof List>

const Name = t.String({
  format: 'list-name',
  description: 'Trimmed; 1 to 100 characters (Unicode code points)',
  errorMessage: 'must be 1 to 100 characters after trimming, with no NUL characters',
})

const readOnlyFields = { id: ignored, position: ignored, created_at: ignored, updated_at: ignored, version: ignored }

export const CreateList = t.Object({ name: Name, ...readOnlyFields }, { additionalProperties: false, examples: [{ name: 'Groceries' }] })
export const UpdateList = t.Object({ name: t.Optional(Name), ...readOnlyFields }, { additionalProperties: false, examples: [{ name: 'Weekend shopping' }] })

const ListRef = t.String({ format: 'uuid', errorMessage: ownListAnchorMessage })
export const MoveList = t.Optional(t.Object(
  { after: t.Optional(ListRef), before: t.Optional(ListRef) },
  {
    additionalProperties: false,
    description: 'Give `after` or `before` (another of the caller\'s lists), or neither to make it the first.',
    examples: [{ after: '01936b2e-7c4f-7a10-9d8e-4a3b2c1d0e5f' }, {}],
  },
))

/** The select list of a list as the API writes it (see taskColumns). */
export const listColumns = {
  id: lists.id,
  name: lists.name,
  position: lists.position,
  created_at: instantText(lists.createdAt).as('created_at'),
  updated_at: instantText(lists.updatedAt).as('updated_at'),
  version: lists.version,
}
