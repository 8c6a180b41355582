// CORS for browser clients on the configured origins: the exposed response headers, and preflights
// answered before any route runs.
import { Elysia } from 'elysia'

const exposed = ['ETag', 'Location', 'Link', 'X-Request-Id', 'Retry-After', 'Idempotent-Replayed', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'].join(', ')
const allowedRequestHeaders = ['Authorization', 'Content-Type', 'If-Match', 'If-None-Match', 'Idempotency-Key', 'Last-Event-ID', 'X-Request-Id'].join(', ')
const allowedMethods = 'GET, POST, PUT, PATCH, DELETE'

export const cors = (corsOrigins: readonly string[]) => {
  const anyOrigin = corsOrigins.includes('*')
  const allows = originMatcher(corsOrigins)

  return new Elysia({ name: 'cors' })
    .onRequest(({ request, set }) => {
      const origin = request.headers.get('origin')
      if (origin === null) return
      const allowed = anyOrigin || allows(origin)
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
    .as('global')
}

/** Exact origins, plus `scheme://host:*` for that scheme and host on any port (or none). */
function originMatcher(list: readonly string[]): (origin: string) => boolean {
  const exact = new Set(list.filter((o) => !o.endsWith(':*')))
  const anyPort = list.filter((o) => o.endsWith(':*')).map((o) => o.slice(0, -1))
  return (origin) => exact.has(origin) || anyPort.some((p) => origin === p.slice(0, -1) || (origin.startsWith(p) && /^\d{1,5}$/.test(origin.slice(p.length))))
}
