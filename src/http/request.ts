// Who a request is, for every hook that runs on it (errors and the access log included, which run
// even when no route matched): its id (the client's X-Request-Id when sane, else a new one), when
// it started, and the user once authenticated.
import { Elysia } from 'elysia'

interface RequestMeta {
  id: string
  startedAt: number
  userId?: string
}

// Keyed by the Request object, so nothing outlives the request.
const meta = new WeakMap<Request, RequestMeta>()

const saneRequestId = /^[A-Za-z0-9._-]{1,128}$/

export function requestIdOf(request: Request): string {
  return meta.get(request)?.id ?? 'unknown'
}

export function requestMeta(request: Request): Readonly<RequestMeta> | undefined {
  return meta.get(request)
}

/** Records the authenticated user so the access log can name it. */
export function noteUser(request: Request, userId: string) {
  const m = meta.get(request)
  if (m) m.userId = userId
}

export const requestId = new Elysia({ name: 'request-id' })
  .onRequest(({ request, set }) => {
    const given = request.headers.get('x-request-id')
    const id = given !== null && saneRequestId.test(given) ? given : crypto.randomUUID()
    meta.set(request, { id, startedAt: performance.now() })
    set.headers['x-request-id'] = id
  })
  .as('global')
