// One access-log line per request, written after the response is sent.
import { Elysia } from 'elysia'
import type { Logger } from '../log'
import { pathOf, requestMeta } from './request'

export const accessLog = (log: Logger) =>
  new Elysia({ name: 'access-log' })
    .onAfterResponse(({ request, route, set }) => {
      const m = requestMeta(request)
      // Probes come every few seconds from every load balancer: kept for debugging only.
      const write = route === '/healthz' || route === '/readyz' ? log.debug : log.info
      write('request', {
        request_id: m?.id,
        method: request.method,
        // The route pattern, not the path: paths hold task ids and, in older clients, user ids.
        route: route || null,
        // No route matched: the path, so an operator sees what was asked, with its ids masked.
        path: route ? undefined : maskIds(pathOf(request)),
        status: typeof set.status === 'number' ? set.status : 200,
        duration_ms: m ? Math.round((performance.now() - m.startedAt) * 100) / 100 : null,
        user_id: m?.userId,
      })
    })
    .as('global')

const MAX_LOGGED_PATH = 200

/**
 * A path fit for a log line: each segment that may identify something (a number, a word with
 * digits in it, or anything longer than a word: task ids, user ids, tokens pasted into a URL)
 * becomes `:id`; a short version segment such as `v2` stays. The whole is capped.
 */
export function maskIds(path: string): string {
  const masked = path
    .split('/')
    .map((segment) => (/^\d+$/.test(segment) || (/\d/.test(segment) && segment.length > 3) || segment.length > 24 ? ':id' : segment))
    .join('/')
  return masked.length > MAX_LOGGED_PATH ? `${masked.slice(0, MAX_LOGGED_PATH)}…` : masked
}
