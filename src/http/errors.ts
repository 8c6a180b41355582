// The one error type, its code-to-status map, the contract's problem body, and the plugin that turns
// every failure (ours, Elysia's, the database's) into that body. Which database failures mean
// "away, retry" is src/db/errors.ts's call; 404 / 405 / OPTIONS for unmatched paths is routing.ts's.
import { ValueErrorType } from '@sinclair/typebox/errors'
import { Type, type TObject, type TSchema, type TUnion } from '@sinclair/typebox'
import { Elysia, status, t, type Context, type Static } from 'elysia'
import type { Logger } from '../log'
import { literals, type Literals } from './schema'
import { databaseFailure } from '../db/errors'
import { requestIdOf } from './request'

const codes = {
  VALIDATION_ERROR: [400, 'Bad Request'],
  INVALID_JSON: [400, 'Bad Request'],
  INVALID_CURSOR: [400, 'Bad Request'],
  UNAUTHORIZED: [401, 'Unauthorized'],
  FORBIDDEN: [403, 'Forbidden'],
  TASK_NOT_FOUND: [404, 'Not Found'],
  LIST_NOT_FOUND: [404, 'Not Found'],
  NOT_FOUND: [404, 'Not Found'],
  METHOD_NOT_ALLOWED: [405, 'Method Not Allowed'],
  IDEMPOTENCY_KEY_IN_USE: [409, 'Conflict'],
  CURSOR_EXPIRED: [410, 'Gone'],
  PRECONDITION_FAILED: [412, 'Precondition Failed'],
  PAYLOAD_TOO_LARGE: [413, 'Content Too Large'],
  UNSUPPORTED_MEDIA_TYPE: [415, 'Unsupported Media Type'],
  IDEMPOTENCY_KEY_REUSED: [422, 'Unprocessable Content'],
  RATE_LIMITED: [429, 'Too Many Requests'],
  INTERNAL_ERROR: [500, 'Internal Server Error'],
  SERVICE_UNAVAILABLE: [503, 'Service Unavailable'],
} as const satisfies Record<string, readonly [number, string]>

export type ErrorCode = keyof typeof codes

export const FieldError = t.Object({ field: t.String(), message: t.String() })
export type FieldError = Static<typeof FieldError>

const problemFields = {
  title: t.String(),
  status: Type.Integer(),
  detail: t.String(),
  error_code: t.String(),
  status_code: Type.Integer(),
  request_id: t.String(),
  errors: t.Optional(t.Array(FieldError)),
}

export type Problem = Static<TObject<typeof problemFields>>

export class ApiError extends Error {
  override name = 'ApiError'
  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    readonly options: { errors?: FieldError[]; headers?: Record<string, string> } = {},
  ) {
    super(detail)
  }
  get status(): number {
    return codes[this.code][0]
  }
}

/** A 400 naming one field of the request, as schema validation reports it. */
export function fieldError(field: string, message: string): ApiError {
  return new ApiError('VALIDATION_ERROR', 'The request is not valid', { errors: [{ field, message }] })
}

export function problem(code: ErrorCode, detail: string, requestId: string, errors?: FieldError[]): Problem {
  const [status, title] = codes[code]
  return { title, status, detail, error_code: code, status_code: status, request_id: requestId, ...(errors && { errors }) }
}

type StatusOf<C extends ErrorCode> = (typeof codes)[C][0]
/** The codes of `C` (a tuple) that answer with status `S`, in order. */
type WithStatus<C extends readonly ErrorCode[], S> = C extends readonly [infer H extends ErrorCode, ...infer R extends readonly ErrorCode[]]
  ? StatusOf<H> extends S
    ? [H, ...WithStatus<R, S>]
    : WithStatus<R, S>
  : []

type CodeSchema<C extends readonly ErrorCode[]> = Literals<C> extends infer L extends TSchema[] ? TUnion<L> : never
type ProblemOf<C extends readonly ErrorCode[]> = TObject<Omit<typeof problemFields, 'error_code'> & { error_code: CodeSchema<C> }>

// A real body for the docs page (it would show "string" otherwise).
const exampleProblem = (code: ErrorCode) => ({
  title: codes[code][1],
  status: codes[code][0],
  detail: code === 'VALIDATION_ERROR' ? 'The request is not valid' : `${codes[code][1]}`,
  error_code: code,
  status_code: codes[code][0],
  request_id: '0b7e6c1a-4f2d-4e8a-9c3b-5d1f2e3a4b6c',
  ...(code === 'VALIDATION_ERROR' && { errors: [{ field: 'title', message: 'must be 1 to 200 characters after trimming, with no NUL characters' }] }),
})

/** The problem body whose `error_code` is one of `codes`. */
const problemOf = <const C extends readonly ErrorCode[]>(codes: C) =>
  t.Object(
    { ...problemFields, error_code: t.Union(literals(codes) as TSchema[]) },
    {
      description: `RFC 9457 problem details, plus the fields older clients read. error_code: ${codes.join(', ')}`,
      examples: [exampleProblem(codes[0]!)],
    },
  ) as unknown as ProblemOf<C>

/**
 * The error part of a route's `response` map: one problem schema per status, naming the codes that
 * route can answer with, all from the one code table (so OpenAPI lists them and Eden narrows by them).
 */
export function errorResponses<const C extends readonly ErrorCode[]>(...given: C) {
  const byStatus = new Map<number, ErrorCode[]>()
  for (const code of given) byStatus.set(codes[code][0], [...(byStatus.get(codes[code][0]) ?? []), code])
  return Object.fromEntries([...byStatus].map(([status, list]) => [status, problemOf(list)])) as unknown as {
    [S in StatusOf<C[number]>]: ProblemOf<WithStatus<C, S>>
  }
}

// Every 503 says when to come back: the database or the token issuer is away, briefly we hope.
const UNAVAILABLE_RETRY_AFTER_S = '5'

/** Answers with `error` as the contract's problem body, with its headers. */
export function sendProblem(set: Context['set'], request: Request, error: ApiError) {
  set.headers['content-type'] = 'application/problem+json'
  Object.assign(set.headers, error.options.headers)
  if (error.code === 'SERVICE_UNAVAILABLE') set.headers['retry-after'] ??= UNAVAILABLE_RETRY_AFTER_S
  return status(error.status as 400, problem(error.code, error.detail, requestIdOf(request), error.options.errors))
}

/** Maps every failure (ours, Elysia's, the database's) to its problem body, logging what is ours to fix. */
export const errors = ({ log }: { log: Logger }) =>
  new Elysia({ name: 'errors' }).onError({ as: 'global' }, ({ code, error, request, set }) => {
    const send = (err: ApiError) => sendProblem(set, request, err)
    if (error instanceof ApiError) return send(error)
    switch (code) {
      case 'VALIDATION':
        return send(new ApiError('VALIDATION_ERROR', 'The request is not valid', { errors: fieldErrors(error.all) }))
      case 'PARSE':
        return send(new ApiError('INVALID_JSON', 'The request body is not valid JSON'))
      case 'NOT_FOUND':
        return send(new ApiError('NOT_FOUND', 'No route matches this path'))
    }
    const request_id = requestIdOf(request)
    const failure = databaseFailure(error)
    if (failure?.unavailable) {
      log.warn('database.unavailable', { request_id, sql_state: failure.sqlState, driver_code: failure.code })
      return send(new ApiError('SERVICE_UNAVAILABLE', 'The database is unavailable; try again shortly'))
    }
    const e = error as Error
    log.error(
      'request.failed',
      failure
        ? { request_id, error: 'DrizzleQueryError', sql_state: failure.sqlState, driver_code: failure.code }
        : // Only the class: a message or stack can quote user input, and a stack is many lines.
          { request_id, error: e?.name ?? typeof error },
    )
    return send(new ApiError('INTERNAL_ERROR', 'An unexpected error occurred'))
  })

interface TypeboxError {
  type: number
  path: string
  message: string
  schema: { errorMessage?: string }
}

function fieldErrors(all: readonly unknown[]): FieldError[] {
  const seen = new Map<string, string>()
  for (const item of all as TypeboxError[]) {
    const field = item.path.replace(/^\//, '').replaceAll('/', '.')
    if (seen.has(field)) continue
    const message =
      item.type === ValueErrorType.ObjectAdditionalProperties ? 'is not a known field'
      : item.type === ValueErrorType.ObjectRequiredProperty ? 'is required'
      : (item.schema?.errorMessage ?? item.message)
    seen.set(field, message)
  }
  return [...seen].map(([field, message]) => ({ field, message }))
}
