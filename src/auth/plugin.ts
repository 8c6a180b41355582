// The auth plugin: derives `userId` from a verified bearer token for every route it is used by.
// `derive` runs before validation, so a bad token is a 401 before a bad body is a 400. Around the
// verifier sit the two request budgets: the client's before it (it protects the verifier), the
// user's after. On the older /api/{user_id}/… paths, the path's user must be the token's, checked
// before anything else.
import { Elysia } from 'elysia'
import { clientAddress } from '../http/client-address'
import { ApiError } from '../http/errors'
import type { RateLimits } from '../http/rate-limit'
import { noteUser, requestIdOf, whenFinished } from '../http/request'
import type { Logger } from '../log'
import { AuthError, type Verifier } from './verify'

const challenge = { 'www-authenticate': 'Bearer error="invalid_token"' }

export interface AuthOptions {
  verify: Verifier
  log: Logger
  limits: RateLimits
  trustProxy?: string
}

export const auth = ({ verify, log, limits, trustProxy }: AuthOptions) =>
  new Elysia({ name: 'auth' }).derive({ as: 'scoped' }, async ({ request, params, server, set }) => {
    const client = clientAddress(request, server, trustProxy)
    await limits.client(client ?? 'unknown', set.headers as Record<string, string>)

    let userId: string
    try {
      userId = await verify(request.headers.get('authorization'))
    } catch (error) {
      if (!(error instanceof AuthError)) throw error
      log.warn('auth.failed', { request_id: requestIdOf(request), reason: error.reason, client })
      if (error.reason === 'key_fetch_failed') {
        throw new ApiError('SERVICE_UNAVAILABLE', 'The token issuer could not be reached; try again shortly')
      }
      throw new ApiError('UNAUTHORIZED', `Authentication failed: ${error.message}`, { headers: challenge })
    }
    noteUser(request, userId)
    await limits.user(userId, set.headers as Record<string, string>)
    whenFinished(request, limits.inFlight(userId))

    /** The 403 for something that belongs to another user, logged as authz.denied. */
    const forbidden = (target: string, detail: string) => {
      log.warn('authz.denied', { request_id: requestIdOf(request), user_id: userId, target })
      return new ApiError('FORBIDDEN', detail)
    }
    const pathUser = (params as Record<string, string | undefined> | undefined)?.user_id
    if (pathUser !== undefined && pathUser !== userId) throw forbidden(`user:${pathUser.slice(0, 255)}`, 'This path belongs to another user')
    return { userId, forbidden }
  })
