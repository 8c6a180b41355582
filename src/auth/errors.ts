// Why a token was refused: each failure names its reason, for the auth.failed log line.
export type AuthFailure =
  | 'missing'
  | 'malformed'
  | 'algorithm'
  | 'signature'
  | 'expired'
  | 'claims'
  | 'unknown_key'
  /** Our side failed (the issuer's key set could not be fetched): a 503, not the client's fault. */
  | 'key_fetch_failed'

export class AuthError extends Error {
  override name = 'AuthError'
  constructor(readonly reason: AuthFailure, message: string) {
    super(message)
  }
}
