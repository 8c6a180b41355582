// The change feed's wire shapes, written once as typebox schemas (validation, OpenAPI and Eden).
import { t, type Static } from 'elysia'
import { List } from '../lists/model'
import { Task, TaskId } from '../tasks/model'

const TaskUpsert = t.Object({ type: t.Literal('task'), op: t.Literal('upsert'), id: TaskId, data: Task }, { additionalProperties: false })
const TaskDelete = t.Object({ type: t.Literal('task'), op: t.Literal('delete'), id: TaskId }, { additionalProperties: false })

const ListUpsert = t.Object({ type: t.Literal('list'), op: t.Literal('upsert'), id: List.properties.id, data: List }, { additionalProperties: false })
const ListDelete = t.Object({ type: t.Literal('list'), op: t.Literal('delete'), id: List.properties.id }, { additionalProperties: false })

export const Change = t.Union([TaskUpsert, TaskDelete, ListUpsert, ListDelete], {
  description: 'One object in its latest state (upsert), or its deletion',
})
export type Change = Static<typeof Change>

export const ChangesPage = t.Object({
  changes: t.Array(Change),
  cursor: t.String({ description: 'Opaque; pass it as `since` to get what changed after this page' }),
  has_more: t.Boolean({ description: 'Whether more changes follow at once: ask again with `cursor`' }),
})
export type ChangesPage = Static<typeof ChangesPage>

const Since = t.String({ description: 'A cursor from a previous page or event; omit it for a snapshot of everything' })

export const ChangesQuery = t.Object({
  since: t.Optional(Since),
  // A string with a format, as for GET /tasks: Elysia's integer coercion reports range errors against no field.
  limit: t.Optional(t.String({ format: 'page-size', default: '500', description: 'An integer from 1 to 1000', errorMessage: 'must be an integer from 1 to 1000' })),
})

export const StreamEvent = t.Union(
  [
    t.Object({ event: t.Literal('ready'), id: t.String(), data: t.Object({ cursor: t.String() }) }, { description: 'First, without a cursor: id is the current cursor' }),
    t.Object({ event: t.Literal('change'), id: t.String({ description: 'The cursor after this change' }), data: Change }),
  ],
  { description: 'One Server-Sent Event (text/event-stream); comment lines keep the stream open' },
)
export type StreamEvent = Static<typeof StreamEvent>

export const EventsQuery = t.Object({
  since: t.Optional(t.String({ description: 'Replay the changes after this cursor first (the Last-Event-ID header wins over it)' })),
})
