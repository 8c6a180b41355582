// The headers every response carries whatever answers it: no content sniffing, no referrer, and for
// user data under /api, no shared cache (the browser may keep it but must revalidate).
import { Elysia } from 'elysia'
import { pathOf } from './request'

export const responseHeaders = new Elysia({ name: 'response-headers' })
  .onRequest(({ request, set }) => {
    set.headers['x-content-type-options'] = 'nosniff'
    set.headers['referrer-policy'] = 'no-referrer'
    if (pathOf(request).startsWith('/api/')) set.headers['cache-control'] = 'private, no-cache'
  })
  .as('global')
