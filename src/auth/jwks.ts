// The issuer's public keys. jose's remote key set caches them and refetches on an unknown kid at
// most once per cooldown; around it, what jose leaves out: a failed fetch backs off too (or an
// outage would mean one fetch per request), and while the issuer is failing, keys already fetched
// keep working (stale-if-error) instead of every token becoming a 503.
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWTHeaderParameters,
} from 'jose'
import { AuthError } from './errors'

const CACHE_MAX_AGE_MS = 10 * 60_000
const FETCH_TIMEOUT_MS = 5000
const MAX_FAILURE_BACKOFF_MS = 5000

export type KeySource = (header: JWTHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>

export function jwksKeySource(url: URL, cooldownS: number): KeySource {
  const remote = createRemoteJWKSet(url, { cooldownDuration: cooldownS * 1000, cacheMaxAge: CACHE_MAX_AGE_MS, timeoutDuration: FETCH_TIMEOUT_MS })
  const backoffMs = Math.min(cooldownS * 1000, MAX_FAILURE_BACKOFF_MS)
  let failedAt = -Infinity

  const knows = (set: JSONWebKeySet | undefined, kid: string | undefined) => set?.keys.some((k) => kid === undefined || k.kid === kid) ?? false

  /** Verifies against the keys last fetched, when they hold the token's key; else our side failed. */
  const lastKnown = (header: JWTHeaderParameters, token: FlattenedJWSInput) => {
    const set = remote.jwks()
    if (!knows(set, header.kid)) throw new AuthError('key_fetch_failed', "the issuer's keys could not be fetched")
    return createLocalJWKSet(set!)(header, token)
  }

  return async (header, token) => {
    if (Date.now() - failedAt < backoffMs) return lastKnown(header, token)
    try {
      return await remote(header, token)
    } catch (error) {
      if (error instanceof errors.JWKSNoMatchingKey) {
        // The kid is published, but for another algorithm: the token's alg does not fit that key.
        if (header.kid !== undefined && knows(remote.jwks(), header.kid)) {
          throw new AuthError('algorithm', `the key "${header.kid}" does not sign with ${header.alg}`)
        }
        throw new AuthError('unknown_key', 'the token was signed with a key the issuer does not publish')
      }
      if (error instanceof errors.JWKSMultipleMatchingKeys) throw new AuthError('unknown_key', 'the token does not say which of the issuer\'s keys signed it')
      if (!isFetchFailure(error)) throw error
      failedAt = Date.now()
      return lastKnown(header, token)
    }
  }
}

// fetch() itself failed (refused, DNS, reset), timed out, answered other than 200 (jose's generic
// error), or answered something that is not a key set.
function isFetchFailure(error: unknown): boolean {
  if (!(error instanceof errors.JOSEError)) return true
  return error.code === 'ERR_JOSE_GENERIC' || error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid
}
