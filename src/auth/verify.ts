// Verifies a bearer token and says exactly why one failed, so every failure can be logged with its
// reason. The token's header picks the key; the algorithm must fit that key.
import { errors, jwtVerify, type JWTHeaderParameters } from 'jose'
import type { Config } from '../config'

export type AuthFailure = 'missing' | 'malformed' | 'algorithm' | 'signature' | 'expired' | 'claims'

export class AuthError extends Error {
  override name = 'AuthError'
  constructor(readonly reason: AuthFailure, message: string) {
    super(message)
  }
}

const hmacAlgorithms = ['HS256', 'HS384', 'HS512'] as const
type HmacAlgorithm = (typeof hmacAlgorithms)[number]
const MAX_USER_ID = 255

export type Verifier = (authorization: string | null) => Promise<string>

/** Builds a verifier from the JWT configuration; it resolves to the user id or throws AuthError. */
export async function createVerifier(jwt: Config['jwt']): Promise<Verifier> {
  // One imported key per HMAC algorithm, made once rather than on every request.
  const hmacKeys = new Map<string, CryptoKey>()
  for (const alg of hmacAlgorithms) {
    const hash = `SHA-${alg.slice(2)}`
    hmacKeys.set(alg, await crypto.subtle.importKey('raw', jwt.secret, { name: 'HMAC', hash }, false, ['verify']))
  }
  const keyFor = (header: JWTHeaderParameters) => {
    const key = hmacKeys.get(header.alg as HmacAlgorithm)
    if (!key) throw new AuthError('algorithm', `tokens signed with ${JSON.stringify(header.alg)} are not accepted`)
    return key
  }
  const options = {
    algorithms: [...hmacAlgorithms],
    issuer: jwt.issuer,
    audience: jwt.audience,
    clockTolerance: jwt.clockSkewS,
    requiredClaims: ['exp'],
  }

  return async (authorization) => {
    if (authorization === null || authorization.trim() === '') throw new AuthError('missing', 'no bearer token')
    const match = /^Bearer +([^\s]+) *$/i.exec(authorization)
    if (!match) throw new AuthError('malformed', 'the Authorization header is not "Bearer <token>"')
    let payload: Record<string, unknown>
    try {
      ;({ payload } = await jwtVerify(match[1]!, keyFor, options))
    } catch (error) {
      throw classify(error)
    }
    const userId = payload[jwt.userClaim]
    if (typeof userId !== 'string' || userId === '' || [...userId].length > MAX_USER_ID || !userId.isWellFormed() || userId.includes('\u0000')) {
      throw new AuthError('claims', `the "${jwt.userClaim}" claim must be a string of 1 to ${MAX_USER_ID} characters`)
    }
    return userId
  }
}

function classify(error: unknown): AuthError {
  if (error instanceof AuthError) return error
  if (error instanceof errors.JWTExpired) return new AuthError('expired', 'the token has expired')
  if (error instanceof errors.JWTClaimValidationFailed) return new AuthError('claims', `the "${error.claim}" claim is not valid`)
  if (error instanceof errors.JOSEAlgNotAllowed) return new AuthError('algorithm', 'the token algorithm is not accepted')
  if (error instanceof errors.JWSSignatureVerificationFailed) return new AuthError('signature', 'the token signature is not valid')
  return new AuthError('malformed', 'the token is not a well-formed JWT')
}
