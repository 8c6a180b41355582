// The auth plugin: derives `userId` from a verified bearer token for every route it is used by.
// `derive` runs before validation, so a bad token is a 401 before a bad body is a 400. On the older
// /api/{user_id}/… paths, the path's user must be the token's, checked before anything else.
import { Elysia } from 'elysia'
import type { Logger } from '../log'
import { ApiError } from '../http/errors'
import { noteUser, requestIdOf } from '../http/request'
import { AuthError, type Verifier } from './verify'

const challenge = { 'www-authenticate': 'Bearer error="invalid_token"' }

export const auth = (options: { verify: Verifier; log: Logger }) => {
  const { verify, log } = options
  return new Elysia({ name: 'auth' })
    .derive({ as: 'scoped' }, async ({ request, params, server }) => {
      let userId: string
      try {
        userId = await verify(request.headers.get('authorization'))
      } catch (error) {
        if (!(error instanceof AuthError)) throw error
        log.warn('auth.failed', {
          request_id: requestIdOf(request),
          reason: error.reason,
          client: server?.requestIP(request)?.address ?? null,
        })
        throw new ApiError('UNAUTHORIZED', `Authentication failed: ${error.message}`, { headers: challenge })
      }
      noteUser(request, userId)
      const pathUser = (params as Record<string, string | undefined> | undefined)?.user_id
      if (pathUser !== undefined && pathUser !== userId) {
        log.warn('authz.denied', { request_id: requestIdOf(request), user_id: userId, target: `user:${pathUser.slice(0, 255)}` })
        throw new ApiError('FORBIDDEN', 'This path belongs to another user')
      }
      return { userId }
    })
}
