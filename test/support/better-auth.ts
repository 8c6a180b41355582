// A real Better Auth on a local port, as the frontends run it: email and password sign-in and the
// jwt() plugin, on bun:sqlite in memory. Its tokens are EdDSA, published at /api/auth/jwks, with
// `iss` and `aud` set to its base URL unless told otherwise; the payload is trimmed to the user id.
import { Database } from 'bun:sqlite'
import { betterAuth } from 'better-auth'
import { getMigrations } from 'better-auth/db/migration'
import { createJwk, jwt, type JwtOptions } from 'better-auth/plugins/jwt'

export interface BetterAuthSetup {
  /** The token lifetime, as the plugin's `jwt.expirationTime` (default "15m"). */
  expirationTime?: string | number
  /** The plugin's `jwt.issuer` / `jwt.audience`; both default to the base URL. */
  issuer?: string
  audience?: string
  /** The plugin's `jwks.keyPairConfig` (default EdDSA, Ed25519). */
  keyPairConfig?: NonNullable<JwtOptions['jwks']>['keyPairConfig']
}

export interface BetterAuthIssuer {
  /** The base URL, such as http://127.0.0.1:41234 */
  url: string
  /** What the service's JWT_JWKS_URL points at. */
  jwksUrl: string
  /** What its tokens carry as `iss` and `aud` (the service's JWT_ISSUER and JWT_AUDIENCE). */
  issuer: string
  audience: string
  /** Signs up with email and password; the cookie is the session a browser would hold. */
  signUp(email: string, password: string): Promise<{ userId: string; cookie: string }>
  /** A JWT for that session, from GET /api/auth/token. */
  token(cookie: string): Promise<string>
  /**
   * Makes a new signing key with the plugin's own createJwk, as its rotation does
   * (`jwks.rotationInterval`): new tokens are signed with it, and the older keys stay published.
   * Resolves to the new key's id (the tokens' `kid`).
   */
  rotateKeys(): Promise<string>
  /** The key ids the issuer publishes. */
  publishedKids(): Promise<string[]>
  stop(): Promise<void>
}

export async function startBetterAuth(setup: BetterAuthSetup = {}): Promise<BetterAuthIssuer> {
  // The base URL must be known before Better Auth is built: listen first, hand over the handler after.
  const server = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response('starting', { status: 503 }) })
  const url = `http://127.0.0.1:${server.port}`
  const database = new Database(':memory:')

  const jwtOptions = {
    jwt: {
      // The service needs the user id (`sub`) and nothing else: no email or name in the token.
      definePayload: ({ user }) => ({ sub: user.id }),
      expirationTime: setup.expirationTime ?? '15m',
      ...(setup.issuer === undefined ? {} : { issuer: setup.issuer }),
      ...(setup.audience === undefined ? {} : { audience: setup.audience }),
    },
    jwks: setup.keyPairConfig === undefined ? {} : { keyPairConfig: setup.keyPairConfig },
  } satisfies JwtOptions
  const options = {
    baseURL: url,
    secret: Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url'),
    database,
    emailAndPassword: { enabled: true },
    plugins: [jwt(jwtOptions)],
    logger: { disabled: true },
    telemetry: { enabled: false },
  }
  try {
    await (await getMigrations(options)).runMigrations()
  } catch (error) {
    await server.stop(true)
    database.close()
    throw error
  }
  const auth = betterAuth(options)
  server.reload({ fetch: auth.handler })

  const call = async (path: string, init?: RequestInit) => {
    const res = await fetch(`${url}/api/auth${path}`, init)
    if (res.status !== 200) throw new Error(`Better Auth ${path}: ${res.status} ${await res.text()}`)
    return res
  }

  return {
    url,
    jwksUrl: `${url}/api/auth/jwks`,
    issuer: setup.issuer ?? url,
    audience: setup.audience ?? url,
    async signUp(email, password) {
      const res = await call('/sign-up/email', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password, name: email.split('@')[0] }),
      })
      const body = (await res.json()) as { user: { id: string } }
      const cookie = res.headers
        .getSetCookie()
        .map((c) => c.split(';')[0]!)
        .join('; ')
      if (!cookie.includes('session_token=')) throw new Error(`Better Auth sign-up set no session cookie: ${cookie}`)
      return { userId: body.user.id, cookie }
    },
    async token(cookie) {
      const res = await call('/token', { headers: { cookie } })
      const { token } = (await res.json()) as { token: string }
      return token
    },
    async rotateKeys() {
      // createJwk reads only ctx.context (the adapter and the secret that encrypts the private key).
      const context = await auth.$context
      const key = await createJwk({ context } as unknown as Parameters<typeof createJwk>[0], jwtOptions)
      return key.id
    },
    async publishedKids() {
      const res = await call('/jwks')
      const { keys } = (await res.json()) as { keys: { kid: string }[] }
      return keys.map((k) => k.kid)
    },
    async stop() {
      await server.stop(true)
      database.close()
    },
  }
}
