// End to end against a real Better Auth (its jwt() plugin, EdDSA keys served at /api/auth/jwks):
// the service is configured with JWT_JWKS_URL only, no shared secret, exactly as a deployment
// behind Better Auth is. Users sign up with email and password and use the task API with the
// token from /api/auth/token.
import { afterAll, expect, test } from 'bun:test'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { createTestApp, describeEachDriver, json, newUser, type TestApp } from '../support/app'
import { startBetterAuth } from '../support/better-auth'

const PASSWORD = 'correct horse battery staple'

// The issuer every test talks to (issuer and audience are its base URL, Better Auth's defaults).
const issuer = await startBetterAuth()
// An independent Better Auth that claims the same issuer and audience but has keys of its own.
const stranger = await startBetterAuth({ issuer: issuer.issuer, audience: issuer.audience })
// Short-lived tokens, for the expiry test.
const shortLived = await startBetterAuth({ expirationTime: '2s' })
// An issuer that names the API as the audience (jwt.audience), as the README recommends.
const API_AUDIENCE = 'https://api.tasks.example'
const named = await startBetterAuth({ audience: API_AUDIENCE })
afterAll(() => Promise.all([issuer, stranger, shortLived, named].map((i) => i.stop())))

const serviceEnv = (i: { jwksUrl: string; issuer: string; audience: string }, extra: Record<string, string> = {}) => ({
  JWT_SECRET: '', // unset: Better Auth never signs with a shared secret
  JWT_JWKS_URL: i.jwksUrl,
  JWT_ISSUER: i.issuer,
  JWT_AUDIENCE: i.audience,
  JWT_JWKS_COOLDOWN_S: '0',
  ...extra,
})

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
const email = () => `${newUser('ba')}@example.com`

/** A user signed up at this issuer, and a fresh token for them. */
async function signedUp(at = issuer) {
  const { userId, cookie } = await at.signUp(email(), PASSWORD)
  return { userId, cookie, token: await at.token(cookie) }
}

/** The same database as the suite's app, seen through a service configured differently. */
const appWith = (t: TestApp, env: Record<string, string>) => createTestApp({ handle: t.db, drop: async () => {} }, env)

async function expectAccepted(t: TestApp, token: string) {
  const res = await t.request('/api/v1/tasks', { headers: bearer(token) })
  expect(res.status, await res.clone().text()).toBe(200)
}

/** 401 with the challenge, one auth.failed line with this reason, and the token in no log line. */
async function expectRejected(t: TestApp, token: string, reason: string) {
  const res = await t.request('/api/v1/tasks', { headers: bearer(token) })
  const text = await res.clone().text()
  expect(res.status, text).toBe(401)
  expect(res.headers.get('www-authenticate'), text).toBe('Bearer error="invalid_token"')
  expect(await json(res), text).toMatchObject({ error_code: 'UNAUTHORIZED', status: 401 })
  const failures = t.logs.filter((l) => l.message === 'auth.failed' && l.request_id === res.headers.get('x-request-id'))
  expect(failures, JSON.stringify(t.logs.slice(-5))).toHaveLength(1)
  expect(failures[0]).toMatchObject({ level: 'warn', reason })
  expectNoTokenLogged(t, token)
}

function expectNoTokenLogged(t: TestApp, token: string) {
  const logged = JSON.stringify(t.logs)
  expect(logged).not.toContain(token)
  expect(logged).not.toContain(token.split('.')[2]!) // not even the signature
}

describeEachDriver(
  'Better Auth tokens',
  (ctx) => {
    test('the token is EdDSA, carries only what the service needs, and names the issuer and audience', async () => {
      const { userId, token } = await signedUp()
      const header = decodeProtectedHeader(token)
      expect(header.alg).toBe('EdDSA')
      expect(await issuer.publishedKids()).toContain(header.kid!)
      const claims = decodeJwt(token)
      expect(Object.keys(claims).sort()).toEqual(['aud', 'exp', 'iat', 'iss', 'sub'])
      expect(claims).toMatchObject({ sub: userId, iss: issuer.url, aud: issuer.url })
    })

    test('sign up, get a token, and use the task API: the tasks belong to the Better Auth user id', async () => {
      const t = ctx()
      const alice = await signedUp()
      const bob = await signedUp()

      for (const title of ['Buy milk', 'Walk the dog']) {
        const res = await t.request('/api/v1/tasks', { method: 'POST', headers: bearer(alice.token), json: { title } })
        expect(res.status, await res.clone().text()).toBe(201)
        expect(await json(res)).toMatchObject({ title, user_id: alice.userId })
      }
      const list = await t.request('/api/v1/tasks', { headers: bearer(alice.token) })
      expect(list.status, await list.clone().text()).toBe(200)
      const tasks = await json<{ title: string; user_id: string }[]>(list)
      expect(tasks.map((task) => task.title).sort()).toEqual(['Buy milk', 'Walk the dog'])
      expect(tasks.every((task) => task.user_id === alice.userId)).toBe(true)

      // The older path family takes the same user id in the path.
      const legacy = await t.request(`/api/${alice.userId}/tasks`, { headers: bearer(alice.token) })
      expect(legacy.status, await legacy.clone().text()).toBe(200)
      expect(await json(legacy)).toHaveLength(2)

      // Another Better Auth user sees none of them.
      const other = await t.request('/api/v1/tasks', { headers: bearer(bob.token) })
      expect(await json(other)).toEqual([])
      expectNoTokenLogged(t, alice.token)
    })

    test('a token from a second, independent Better Auth instance is 401 (unknown_key)', async () => {
      // Its kid is not in our issuer's key set, even after the refetch an unknown kid triggers, so
      // jose finds no key to check the signature with: unknown_key, not signature.
      const t = ctx()
      const { token } = await signedUp(stranger)
      expect(decodeJwt(token)).toMatchObject({ iss: issuer.issuer, aud: issuer.audience })
      await expectRejected(t, token, 'unknown_key')
    })

    test('a stranger token relabelled with one of our kids fails its signature', async () => {
      const t = ctx()
      const [ourKid] = await issuer.publishedKids()
      const [, payload, signature] = (await signedUp(stranger)).token.split('.')
      const header = Buffer.from(JSON.stringify({ alg: 'EdDSA', kid: ourKid })).toString('base64url')
      await expectRejected(t, `${header}.${payload}.${signature}`, 'signature')
    })

    test('after the issuer rotates its keys, new tokens are accepted without restarting the service, and old ones still are', async () => {
      const t = ctx()
      const user = await signedUp()
      await expectAccepted(t, user.token) // the service now holds the current key set
      const oldKid = decodeProtectedHeader(user.token).kid!

      const newKid = await issuer.rotateKeys()
      expect(newKid).not.toBe(oldKid)
      expect(await issuer.publishedKids()).toEqual(expect.arrayContaining([oldKid, newKid]))
      const fresh = await issuer.token(user.cookie)
      expect(decodeProtectedHeader(fresh).kid).toBe(newKid)

      await expectAccepted(t, fresh)
      await expectAccepted(t, user.token) // the old key is still published, so its tokens still pass
    })

    test('an expired Better Auth token is 401 (expired)', async () => {
      const t = await appWith(ctx(), serviceEnv(shortLived, { JWT_CLOCK_SKEW_S: '0' }))
      const { token } = await signedUp(shortLived)
      const { exp, iat } = decodeJwt(token)
      expect(exp! - iat!).toBe(2)
      await expectAccepted(t, token)
      await Bun.sleep(exp! * 1000 - Date.now() + 100)
      await expectRejected(t, token, 'expired')
    })

    test('JWT_AUDIENCE that is not the token audience is 401 (claims); the issuer naming it with jwt.audience passes', async () => {
      const t = await appWith(ctx(), serviceEnv(issuer, { JWT_AUDIENCE: API_AUDIENCE }))
      await expectRejected(t, (await signedUp()).token, 'claims')

      const n = await appWith(ctx(), serviceEnv(named))
      expect(named.audience).toBe(API_AUDIENCE)
      const user = await signedUp(named)
      expect(decodeJwt(user.token)).toMatchObject({ iss: named.url, aud: API_AUDIENCE })
      await expectAccepted(n, user.token)
    })

    test('JWT_ISSUER that is not the token issuer is 401 (claims)', async () => {
      const t = await appWith(ctx(), serviceEnv(issuer, { JWT_ISSUER: 'https://auth.elsewhere.example' }))
      await expectRejected(t, (await signedUp()).token, 'claims')
    })
  },
  serviceEnv(issuer),
)
