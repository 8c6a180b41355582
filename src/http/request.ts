// Cross-cutting request plumbing: the request id, CORS, and the one access-log line per request.
import { Elysia } from 'elysia'
import type { Logger } from '../log'

interface RequestMeta {
  id: string
  startedAt: number
  userId?: string
}

// Per-request facts that every hook (errors and logging included, which run even when no route
// matched) must read; keyed by the Request object, so nothing outlives the request.
const meta = new WeakMap<Request, RequestMeta>()

const saneRequestId = /^[A-Za-z0-9._-]{1,128}$/

export function requestIdOf(request: Request): string {
  return meta.get(request)?.id ?? 'unknown'
}

/** Records the authenticated user so the access log can name it. */
export function noteUser(request: Request, userId: string) {
  const m = meta.get(request)
  if (m) m.userId = userId
}

const exposed = ['ETag', 'Location', 'Link', 'X-Request-Id', 'Retry-After', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'].join(', ')
const allowedRequestHeaders = ['Authorization', 'Content-Type', 'If-Match', 'If-None-Match', 'Idempotency-Key', 'Last-Event-ID', 'X-Request-Id'].join(', ')
const allowedMethods = 'GET, POST, PUT, PATCH, DELETE'

export const requestContext = (options: { log: Logger; corsOrigins: readonly string[] }) => {
  const { log } = options
  const anyOrigin = options.corsOrigins.includes('*')
  const origins = new Set(options.corsOrigins)

  return new Elysia({ name: 'request-context' })
    .onRequest(({ request, set }) => {
      const given = request.headers.get('x-request-id')
      const id = given !== null && saneRequestId.test(given) ? given : crypto.randomUUID()
      meta.set(request, { id, startedAt: performance.now() })
      set.headers['x-request-id'] = id
      set.headers['x-content-type-options'] = 'nosniff'
      set.headers['referrer-policy'] = 'no-referrer'
      // User data is for the user's own client only: no shared cache stores it; the browser may
      // keep it but must revalidate.
      if (new URL(request.url).pathname.startsWith('/api/')) set.headers['cache-control'] = 'private, no-cache'

      const origin = request.headers.get('origin')
      if (origin === null) return
      const allowed = anyOrigin || origins.has(origin)
      if (allowed) {
        set.headers['access-control-allow-origin'] = anyOrigin ? '*' : origin
        set.headers['access-control-expose-headers'] = exposed
      }
      if (!anyOrigin) set.headers['vary'] = 'Origin'
      if (request.method === 'OPTIONS' && request.headers.has('access-control-request-method')) {
        // A preflight is answered here, whatever route it names; a refused origin gets no CORS headers.
        if (allowed) {
          Object.assign(set.headers, {
            'access-control-allow-methods': allowedMethods,
            'access-control-allow-headers': allowedRequestHeaders,
            'access-control-max-age': '600',
          })
        }
        set.status = 204
        return new Response(null, { status: 204, headers: set.headers as Record<string, string> })
      }
    })
    .onAfterResponse(({ request, route, set }) => {
      const m = meta.get(request)
      log.info('request', {
        request_id: m?.id,
        method: request.method,
        // The route pattern, not the path: paths hold task ids and, in older clients, user ids.
        route: route || null,
        status: typeof set.status === 'number' ? set.status : 200,
        duration_ms: m ? Math.round((performance.now() - m.startedAt) * 100) / 100 : null,
        user_id: m?.userId,
      })
    })
    .as('global')
}
