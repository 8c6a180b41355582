// Verifies a bearer token and says exactly why one failed, so every failure can be logged with its
// reason. The token's header picks the key source (HS* → the HMAC secret; EdDSA, ES256, RS256 →
// the JWKS), and the algorithm must fit that key: an HMAC token is never checked against a public
// key, nor a public-key token against the secret.
import { errors, jwtVerify, type FlattenedJWSInput, type JWTHeaderParameters } from 'jose'
import type { Config } from '../config'
import { AuthError } from './errors'
import { jwksKeySource } from './jwks'

export { AuthError, type AuthFailure } from './errors'

const hmacAlgorithms = ['HS256', 'HS384', 'HS512']
const publicKeyAlgorithms = ['EdDSA', 'ES256', 'RS256']
const MAX_USER_ID = 255

export type Verifier = (authorization: string | null) => Promise<string>

/** Builds a verifier from the JWT configuration; it resolves to the user id or throws AuthError. */
export async function createVerifier(jwt: Config['jwt']): Promise<Verifier> {
  // One imported key per HMAC algorithm, made once rather than on every request.
  const hmacKeys = new Map<string, CryptoKey>()
  if (jwt.secret) {
    for (const alg of hmacAlgorithms) {
      const hash = `SHA-${alg.slice(2)}`
      hmacKeys.set(alg, await crypto.subtle.importKey('raw', jwt.secret, { name: 'HMAC', hash }, false, ['verify']))
    }
  }
  const jwks = jwt.jwksUrl ? jwksKeySource(jwt.jwksUrl, jwt.jwksCooldownS) : undefined

  const keyFor = (header: JWTHeaderParameters, token: FlattenedJWSInput) => {
    const hmac = hmacKeys.get(header.alg)
    if (hmac) return hmac
    if (jwks && publicKeyAlgorithms.includes(header.alg)) return jwks(header, token)
    throw new AuthError('algorithm', `tokens signed with ${JSON.stringify(header.alg)} are not accepted`)
  }
  const options = {
    algorithms: [...hmacKeys.keys(), ...(jwks ? publicKeyAlgorithms : [])],
    issuer: jwt.issuer,
    audience: jwt.audience,
    clockTolerance: jwt.clockSkewS,
    requiredClaims: ['exp'],
  }

  const verified = new VerifiedTokens(jwt.clockSkewS)

  return async (authorization) => {
    if (authorization === null || authorization.trim() === '') throw new AuthError('missing', 'no bearer token')
    const match = /^Bearer +([^\s]+) *$/i.exec(authorization)
    if (!match) throw new AuthError('malformed', 'the Authorization header is not "Bearer <token>"')
    const token = match[1]!
    const known = verified.get(token)
    if (known !== undefined) return known
    let payload: Record<string, unknown>
    try {
      ;({ payload } = await jwtVerify(token, keyFor, options))
    } catch (error) {
      throw classify(error)
    }
    const userId = payload[jwt.userClaim]
    if (typeof userId !== 'string' || userId === '' || [...userId].length > MAX_USER_ID || !userId.isWellFormed() || userId.includes('\u0000')) {
      throw new AuthError('claims', `the "${jwt.userClaim}" claim must be a string of 1 to ${MAX_USER_ID} characters`)
    }
    verified.add(token, userId, payload.exp as number)
    return userId
  }
}

/**
 * Tokens that passed verification, remembered until they expire (and for at most a minute, so a
 * key the issuer withdraws stops working soon): WebCrypto's HMAC costs ~100 µs a request, a Map
 * lookup next to nothing. Bounded: past the limit the oldest entries go.
 */
class VerifiedTokens {
  private readonly entries = new Map<string, { userId: string; until: number }>()
  constructor(
    private readonly skewS: number,
    private readonly maxEntries = 10_000,
    private readonly maxAgeMs = 60_000,
  ) {}

  get(token: string): string | undefined {
    const entry = this.entries.get(token)
    if (entry === undefined) return undefined
    if (entry.until > Date.now()) return entry.userId
    this.entries.delete(token)
    return undefined
  }

  add(token: string, userId: string, exp: number) {
    const now = Date.now()
    this.entries.set(token, { userId, until: Math.min((exp + this.skewS) * 1000, now + this.maxAgeMs) })
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!)
  }
}

function classify(error: unknown): AuthError {
  if (error instanceof AuthError) return error
  if (error instanceof errors.JWTExpired) return new AuthError('expired', 'the token has expired')
  if (error instanceof errors.JWTClaimValidationFailed) return new AuthError('claims', `the "${error.claim}" claim is not valid`)
  if (error instanceof errors.JOSEAlgNotAllowed) return new AuthError('algorithm', 'the token algorithm is not accepted')
  if (error instanceof errors.JWSSignatureVerificationFailed) return new AuthError('signature', 'the token signature is not valid')
  if (error instanceof errors.JWKSNoMatchingKey) return new AuthError('unknown_key', 'the token was signed with a key the issuer does not publish')
  return new AuthError('malformed', 'the token is not a well-formed JWT')
}
