// Liveness and readiness for load balancers and orchestrators; no authentication.
import { Elysia, t } from 'elysia'
import type { DatabaseHandle } from '../db/client'
import { ApiError, errorResponses } from './errors'

const READY_TIMEOUT_MS = 2000

export const health = (database: Pick<DatabaseHandle, 'checkReady'>) =>
  new Elysia({ name: 'health', detail: { tags: ['operations'] } })
    .get('/healthz', () => ({ status: 'ok' as const }), {
      response: { 200: t.Object({ status: t.Literal('ok') }) },
      detail: { summary: 'Liveness: 200 while the process serves; never touches the database' },
    })
    .get(
      '/readyz',
      async () => {
        try {
          await database.checkReady(READY_TIMEOUT_MS)
        } catch {
          throw new ApiError('SERVICE_UNAVAILABLE', 'The database did not answer')
        }
        return { status: 'ready' as const }
      },
      {
        response: { 200: t.Object({ status: t.Literal('ready') }), ...errorResponses('SERVICE_UNAVAILABLE') },
        detail: { summary: 'Readiness: 200 when the database is migrated and answers within 2 s' },
      },
    )
