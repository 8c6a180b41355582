// Type-level checks of taskapi-client, compiled by the Vite project's own `tsc -b` in the Vite check:
// each line stops the build if a type the issue fixed comes back wrong.
import type { App, Client } from 'taskapi-client'

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
type Result<F extends (...args: never[]) => unknown> = Awaited<ReturnType<F>>
type ListQuery = NonNullable<NonNullable<Parameters<Client['tasks']['get']>[0]>['query']>
type Task = NonNullable<Result<Client['tasks']['get']>['data']>[number]

export const limit: ListQuery = { limit: 20, sort: '-due_at', status: 'pending' }
// @ts-expect-error a page size is a number
export const limitAsString: ListQuery = { limit: '20' }
// @ts-expect-error sort is one of its values
export const unknownSort: ListQuery = { sort: 'colour' }
// Only the statuses the service sends: no 422 { type: 'validation' }.
export const listErrors: Equal<NonNullable<Result<Client['tasks']['get']>['error']>['status'], 400 | 401 | 429 | 500 | 503> = true
export const createErrors: Equal<NonNullable<Result<Client['tasks']['post']>['error']>['status'], 400 | 401 | 413 | 415 | 429 | 500 | 503> = true
// Timestamps are the RFC 3339 strings on the wire (parseDate: false).
export const createdAt: Equal<Task['created_at'], string> = true
export const dueAt: Equal<Task['due_at'], string | null> = true
// Only the canonical family: no /api/tasks, no /api/:user_id/tasks.
export const families: Equal<keyof App['~Routes']['api'], 'v1'> = true
