// The task's wire shapes, written once as typebox schemas: they validate requests, type handlers
// and Eden's client, and document the API.
import { Type } from '@sinclair/typebox'
import { t, type Static } from 'elysia'
import type { SQL } from 'drizzle-orm'
import { instantText, priorities, tasks } from '../db/schema'
import { literals } from '../http/schema'
import './formats'

// Enumerations are unions of literals, not t.UnionEnum: Elysia fills an absent optional UnionEnum
// in with its first value, which would turn every PATCH into "priority: none".
type Options = { description?: string; default?: string; errorMessage?: string }
const priorityOf = (options: Options) => t.Union(literals(priorities), options)
export const Priority = priorityOf({ description: priorities.join(' < ') })
const AnyPriority = t.Optional(priorityOf({ errorMessage: `must be one of ${priorities.join(', ')}` }))
export const Instant = t.String({ format: 'date-time', examples: ['2026-11-22T10:00:00.000Z'] })
const NullableInstant = t.Union([Instant, t.Null()], { errorMessage: 'must be an RFC 3339 timestamp with a time zone, or null' })

export const TaskId = t.String({ format: 'uuid', description: 'UUIDv7' })
export const Position = t.String({ description: 'Read-only order key; keys compare by their bytes, ties by id', examples: ['a0'] })

// Ids in a body that must name one of the caller's own objects. Malformed, unknown and another
// user's are one answer, so the error never says whether an id exists.
export const ownListMessage = 'must be the id of one of your lists, or null'
export const ownTaskMessage = 'must be the id of one of your tasks'
const ListRef = t.Union([t.String({ format: 'uuid' }), t.Null()], { description: 'A list of the caller, or null for no list (the inbox)', errorMessage: ownListMessage })
const TaskRef = t.String({ format: 'uuid', errorMessage: ownTaskMessage })

// Real values for the docs page's examples (it would show "string" otherwise).
const exampleTask = {
  id: '01936f5e-7c3a-7b1e-9d4f-2a6b8c0d1e2f',
  user_id: 'alice',
  title: 'Buy milk',
  description: 'Two litres, semi-skimmed',
  completed: false,
  completed_at: null,
  priority: 'high',
  due_at: '2026-11-23T18:00:00.000Z',
  created_at: '2026-11-22T10:00:00.000Z',
  updated_at: '2026-11-22T10:00:00.000Z',
  version: 1,
}

// Output integers use TypeBox's own Integer: Elysia's t.Integer also accepts numeric strings (for
// query coercion), and the OpenAPI document would say "integer or string".
export const Task = t.Object(
  {
    id: TaskId,
    user_id: t.String(),
    list_id: t.Union([t.String({ format: 'uuid' }), t.Null()], { description: 'The list the task is in; null: the inbox' }),
    title: t.String(),
    description: t.Union([t.String(), t.Null()]),
    completed: t.Boolean(),
    completed_at: t.Union([Instant, t.Null()]),
    priority: Priority,
    due_at: t.Union([Instant, t.Null()]),
    position: Position,
    created_at: Instant,
    updated_at: Instant,
    version: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false, examples: [exampleTask] },
)
export type Task = Static<typeof Task>

const Title = t.String({
  format: 'task-title',
  description: 'Trimmed; 1 to 200 characters (Unicode code points)',
  errorMessage: 'must be 1 to 200 characters after trimming, with no NUL characters',
})
const Description = t.Union(
  [t.String({ format: 'task-description', description: 'At most 2000 characters (Unicode code points)' }), t.Null()],
  { errorMessage: 'must be at most 2000 characters with no NUL characters, or null' },
)

// A client may send a task (or a list) back as it got it: these are accepted and ignored.
export const ignored = t.Optional(t.Unknown({ readOnly: true, description: 'Read-only; ignored' }))
const readOnlyFields = {
  id: ignored,
  user_id: ignored,
  created_at: ignored,
  updated_at: ignored,
  completed_at: ignored,
  position: ignored,
  version: ignored,
}

const writable = {
  description: t.Optional(Description),
  completed: t.Optional(t.Boolean({ errorMessage: 'must be true or false' })),
  priority: AnyPriority,
  due_at: t.Optional(NullableInstant),
  list_id: t.Optional(ListRef),
}

export const CreateTask = t.Object(
  { title: Title, ...writable, ...readOnlyFields },
  { additionalProperties: false, examples: [{ title: 'Buy milk', description: 'Two litres, semi-skimmed', priority: 'high', due_at: '2026-11-23T18:00:00.000Z' }] },
)
export type CreateTask = Static<typeof CreateTask>

export const UpdateTask = t.Object(
  { title: t.Optional(Title), ...writable, ...readOnlyFields },
  { additionalProperties: false, examples: [{ title: 'Buy oat milk', due_at: null }] },
)
export type UpdateTask = Static<typeof UpdateTask>

export const MoveTask = t.Optional(t.Object(
  {
    after: t.Optional(TaskRef),
    before: t.Optional(TaskRef),
    list_id: t.Optional(ListRef),
  },
  {
    additionalProperties: false,
    description: 'Give `after` or `before` (a task of the target list), or neither for the top. `list_id` moves it to another list (the task\'s own by default).',
    examples: [{ after: '01936b2e-7c4f-7a10-9d8e-4a3b2c1d0e5f' }, { list_id: '01936b2e-8a1c-7b20-8c3d-5e6f7a8b9c0d' }, {}],
  },
))
export type MoveTask = NonNullable<Static<typeof MoveTask>>

export const Toggle = t.Optional(
  t.Object({ completed: t.Optional(t.Boolean({ errorMessage: 'must be true or false' })) }, { additionalProperties: false, examples: [{ completed: true }] }),
)

export const sorts = ['created_at', 'updated_at', 'due_at', 'priority', 'title', 'position'] as const
export type SortKey = (typeof sorts)[number]
type Descending<T extends readonly string[]> = { -readonly [K in keyof T]: `-${T[K] & string}` }
const descendingSorts = sorts.map((s) => `-${s}`) as Descending<typeof sorts>

export const listFilterMessage = 'must be the id of one of your lists, or none'
const ListFilter = t.String({ format: 'list-filter', description: 'A list\'s id, or `none` for tasks in no list', errorMessage: listFilterMessage })

export const ListQuery = t.Object({
  list_id: t.Optional(ListFilter),
  status: t.Optional(t.Union([t.Literal('all'), t.Literal('pending'), t.Literal('completed')], { default: 'all', errorMessage: 'must be one of all, pending, completed' })),
  q: t.Optional(
    t.String({
      format: 'search-text',
      description: 'Case-insensitive substring of title or description; % _ and \\ match themselves',
      errorMessage: 'must be at most 200 characters with no NUL characters',
    }),
  ),
  priority: AnyPriority,
  due_after: t.Optional(t.String({ format: 'date-time', description: 'Inclusive', errorMessage: 'must be an RFC 3339 timestamp with a time zone' })),
  due_before: t.Optional(t.String({ format: 'date-time', description: 'Exclusive', errorMessage: 'must be an RFC 3339 timestamp with a time zone' })),
  // Type.Unsafe states the static type where the runtime schema cannot carry it (the schema itself is
  // unchanged): a union built from an array types as nothing in Elysia's query, and a page size
  // is validated as a string but sent by clients as a number.
  sort: t.Optional(
    // Spelled out, not an alias, so the client's emitted declaration holds the values themselves.
    Type.Unsafe<(typeof sorts)[number] | (typeof descendingSorts)[number]>(
      t.Union(literals([...sorts, ...descendingSorts]), {
        default: '-created_at',
        errorMessage: `must be one of ${sorts.join(', ')}, optionally prefixed with -`,
      }),
    ),
  ),
  // A string with a format, not t.Integer: Elysia coerces query integers and then reports a range
  // error against no field at all.
  limit: t.Optional(
    Type.Unsafe<number>(t.String({ format: 'page-size', default: '50', description: 'An integer from 1 to 1000', errorMessage: 'must be an integer from 1 to 1000' })),
  ),
  cursor: t.Optional(t.String({ description: 'Opaque; from the Link header of the previous page' })),
})
export type ListQuery = Static<typeof ListQuery>
/** A list query as a handler gets it: Elysia fills the schema's defaults in. */
export type ListRequest = ListQuery & Required<Pick<ListQuery, 'status' | 'sort' | 'limit'>>

export const ClearQuery = t.Object({
  list_id: t.Optional(ListFilter),
  status: t.Literal('completed', { errorMessage: 'must be "completed": only completed tasks can be cleared in bulk' }),
})

export const Stats = t.Object({
  total: Type.Integer(),
  completed: Type.Integer(),
  pending: Type.Integer(),
  overdue: Type.Integer({ description: 'Pending tasks whose due date has passed' }),
}, { examples: [{ total: 12, completed: 5, pending: 7, overdue: 2 }] })

export const Deleted = t.Object({ deleted: Type.Integer() }, { examples: [{ deleted: 5 }] })

/**
 * The select list of a task as the API writes it: every read and write of tasks returns rows in
 * this shape, so a row is the answer as it is (timestamps formatted by Postgres, see instantText).
 */
export const taskColumns = {
  id: tasks.id,
  user_id: tasks.userId,
  list_id: tasks.listId,
  title: tasks.title,
  description: tasks.description,
  completed: tasks.completed,
  completed_at: instantText(tasks.completedAt).as('completed_at') as SQL.Aliased<string | null>,
  priority: tasks.priority,
  due_at: instantText(tasks.dueAt).as('due_at') as SQL.Aliased<string | null>,
  position: tasks.position,
  created_at: instantText(tasks.createdAt).as('created_at'),
  updated_at: instantText(tasks.updatedAt).as('updated_at'),
  version: tasks.version,
}
