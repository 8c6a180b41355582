// One access-log line per request, written after the response is sent.
import { Elysia } from 'elysia'
import type { Logger } from '../log'
import { requestMeta } from './request'

export const accessLog = (log: Logger) =>
  new Elysia({ name: 'access-log' })
    .onAfterResponse(({ request, route, set }) => {
      const m = requestMeta(request)
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
