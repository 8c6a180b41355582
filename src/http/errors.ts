// The one error type, its code-to-status map, the contract's problem body, and the plugin that turns
// every failure (ours, Elysia's, the database's) into that body.
import { ValueErrorType } from '@sinclair/typebox/errors'
import { DrizzleQueryError } from 'drizzle-orm/errors'
import { Type } from '@sinclair/typebox'
import { Elysia, t, type Static } from 'elysia'
import type { Logger } from '../log'
import { databaseState, isUnavailable } from '../db/errors'
import { requestIdOf } from './request'

const codes = {
  VALIDATION_ERROR: [400, 'Bad Request'],
  INVALID_JSON: [400, 'Bad Request'],
  INVALID_CURSOR: [400, 'Bad Request'],
  UNAUTHORIZED: [401, 'Unauthorized'],
  FORBIDDEN: [403, 'Forbidden'],
  TASK_NOT_FOUND: [404, 'Not Found'],
  NOT_FOUND: [404, 'Not Found'],
  METHOD_NOT_ALLOWED: [405, 'Method Not Allowed'],
  IDEMPOTENCY_KEY_REUSED: [409, 'Conflict'],
  CURSOR_EXPIRED: [410, 'Gone'],
  PRECONDITION_FAILED: [412, 'Precondition Failed'],
  PAYLOAD_TOO_LARGE: [413, 'Content Too Large'],
  UNSUPPORTED_MEDIA_TYPE: [415, 'Unsupported Media Type'],
  RATE_LIMITED: [429, 'Too Many Requests'],
  INTERNAL_ERROR: [500, 'Internal Server Error'],
  SERVICE_UNAVAILABLE: [503, 'Service Unavailable'],
} as const satisfies Record<string, readonly [number, string]>

export type ErrorCode = keyof typeof codes

export const FieldError = t.Object({ field: t.String(), message: t.String() })
export type FieldError = Static<typeof FieldError>

export const Problem = t.Object(
  {
    title: t.String(),
    status: Type.Integer(),
    detail: t.String(),
    error_code: t.String(),
    status_code: Type.Integer(),
    request_id: t.String(),
    errors: t.Optional(t.Array(FieldError)),
  },
  { description: 'RFC 9457 problem details, plus the fields older clients read' },
)
export type Problem = Static<typeof Problem>

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

export function problem(code: ErrorCode, detail: string, requestId: string, errors?: FieldError[]): Problem {
  const [status, title] = codes[code]
  return { title, status, detail, error_code: code, status_code: status, request_id: requestId, ...(errors && { errors }) }
}

// The responses every route may give, for its `response` map (and so for OpenAPI and Eden).
export const commonErrors = {
  400: Problem,
  401: Problem,
  429: Problem,
  500: Problem,
  503: Problem,
}

// Every 503 says when to come back: the database or the token issuer is away, briefly we hope.
const UNAVAILABLE_RETRY_AFTER_S = '5'

/** `known.routes` is filled in once the app is built; it is read on the first unmatched request. */
export const errors = ({ log, known }: { log: Logger; known: { routes: readonly Route[] } }) => {
  let table: ReturnType<typeof routeTable> | undefined
  return new Elysia({ name: 'errors' }).onError({ as: 'global' }, ({ code, error, request, set, status, path }) => {
    const requestId = requestIdOf(request)
    set.headers['content-type'] = 'application/problem+json'
    const send = (err: ApiError) => {
      Object.assign(set.headers, err.options.headers)
      if (err.code === 'SERVICE_UNAVAILABLE') set.headers['retry-after'] ??= UNAVAILABLE_RETRY_AFTER_S
      return status(err.status as 400, problem(err.code, err.detail, requestId, err.options.errors))
    }

    if (error instanceof ApiError) return send(error)
    switch (code) {
      case 'VALIDATION':
        return send(new ApiError('VALIDATION_ERROR', 'The request is not valid', { errors: fieldErrors(error.all) }))
      case 'PARSE':
        return send(new ApiError('INVALID_JSON', 'The request body is not valid JSON'))
      case 'NOT_FOUND': {
        table ??= routeTable(known.routes)
        const allowed = allowedMethods(table, path)
        // OPTIONS on a known path (not a CORS preflight: those never get here) lists its methods.
        if (request.method === 'OPTIONS' && allowed.length > 0) {
          set.headers['allow'] = allowed.join(', ')
          delete set.headers['content-type']
          return status(204, undefined)
        }
        if (allowed.length === 0 || allowed.includes(request.method)) return send(new ApiError('NOT_FOUND', 'No route matches this path'))
        return send(
          new ApiError('METHOD_NOT_ALLOWED', `${request.method} is not allowed here`, { headers: { allow: allowed.join(', ') } }),
        )
      }
    }
    if (isUnavailable(error)) {
      const { sqlState, code: driverCode } = databaseState(error)
      log.warn('database.unavailable', { request_id: requestId, sql_state: sqlState, driver_code: driverCode })
      return send(new ApiError('SERVICE_UNAVAILABLE', 'The database is unavailable; try again shortly'))
    }
    const e = error as Error
    // Drizzle's wrapper and the drivers put the SQL and its parameters (task text) in their
    // messages: for anything from the database, only codes are logged.
    const { sqlState, code: driverCode } = databaseState(error)
    log.error(
      'request.failed',
      error instanceof DrizzleQueryError || sqlState !== undefined
        ? { request_id: requestId, error: 'DrizzleQueryError', sql_state: sqlState, driver_code: driverCode }
        : { request_id: requestId, error: e?.name ?? typeof error, detail: e?.message, stack: e?.stack },
    )
    return send(new ApiError('INTERNAL_ERROR', 'An unexpected error occurred'))
  })
}

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

type Route = { method: string; path: string }

// Known paths and their methods, to tell "no such route" (404) from "wrong method" (405).
function routeTable(routes: readonly Route[]) {
  const byPath = new Map<string, Set<string>>()
  for (const r of routes) {
    const methods = byPath.get(r.path) ?? new Set()
    methods.add(r.method)
    if (r.method === 'GET') methods.add('HEAD')
    byPath.set(r.path, methods)
  }
  return [...byPath].map(([path, methods]) => ({
    pattern: new RegExp('^' + path.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/:[^/]+/g, '[^/]+') + '/?$'),
    methods,
  }))
}

/** The methods a path answers to, OPTIONS included; empty when no route matches it. */
function allowedMethods(table: ReturnType<typeof routeTable>, path: string): string[] {
  const allowed = new Set<string>()
  for (const r of table) if (r.pattern.test(path)) for (const m of r.methods) allowed.add(m)
  if (allowed.size > 0) allowed.add('OPTIONS')
  return [...allowed].sort()
}
