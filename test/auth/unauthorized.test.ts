// The 401 matrix: every way a bearer token can be wrong, through the whole HTTP app, on every driver.
// Each failure is a 401 with the RFC 6750 challenge and the contract's problem body, comes before
// body validation, and is logged as auth.failed with its reason (and never with the token).
import { expect, test } from 'bun:test'
import { SignJWT, generateKeyPair, type CryptoKey as JoseKey } from 'jose'
import { SECRET, describeEachDriver, json, newUser, type TestApp } from '../support/app'
import { problemKeys } from '../support/problems'

type Reason = 'missing' | 'malformed' | 'algorithm' | 'signature' | 'expired' | 'claims'

const now = () => Math.floor(Date.now() / 1000)
const b64url = (value: string) => Buffer.from(value).toString('base64url')

/** Signs exactly these claims (nothing added) with an HMAC secret or a private key. */
function sign(claims: Record<string, unknown>, { alg = 'HS256', key = new TextEncoder().encode(SECRET) as Uint8Array | JoseKey } = {}) {
  return new SignJWT(claims).setProtectedHeader({ alg, typ: 'JWT' }).sign(key)
}

/** Claims that pass: the given subject, issued a minute ago, expiring in an hour. */
const valid = (sub: unknown = newUser()) => ({ sub, iat: now() - 60, exp: now() + 3600 })

/** A body that fails validation, so a 401 proves authentication runs first. */
const invalidBody = { title: 42, not_a_field: true }

async function expectUnauthorized(t: TestApp, res: Response, reason: Reason, token?: string) {
  const text = await res.clone().text()
  expect(res.status, text).toBe(401)
  expect(res.headers.get('www-authenticate'), text).toBe('Bearer error="invalid_token"')
  expect(res.headers.get('content-type'), text).toBe('application/problem+json')
  const requestId = res.headers.get('x-request-id')
  expect(requestId, text).toBeTruthy()
  const body = await json(res)
  expect(Object.keys(body).sort(), text).toEqual(problemKeys)
  expect(body, text).toMatchObject({ title: 'Unauthorized', status: 401, status_code: 401, error_code: 'UNAUTHORIZED', request_id: requestId })
  expect(typeof body.detail, text).toBe('string')
  if (token) expect(text).not.toContain(token)

  const failures = t.logs.filter((line) => line.message === 'auth.failed' && line.request_id === requestId)
  expect(failures, JSON.stringify(t.logs.slice(-5))).toHaveLength(1)
  expect(failures[0]).toMatchObject({ level: 'warn', reason, client: null })
  if (token) expect(JSON.stringify(failures[0])).not.toContain(token)
}

/** GET the list and POST an invalid body with this Authorization header; both must be 401 for `reason`. */
async function expectRejected(t: TestApp, authorization: string | null, reason: Reason, token?: string) {
  const headers: Record<string, string> = authorization === null ? {} : { authorization }
  await expectUnauthorized(t, await t.request('/api/v1/tasks', { headers }), reason, token)
  await expectUnauthorized(t, await t.request('/api/v1/tasks', { method: 'POST', headers, json: invalidBody }), reason, token)
}

const rejectToken = (t: TestApp, token: string, reason: Reason) => expectRejected(t, `Bearer ${token}`, reason, token)

/** The token is accepted: the list is 200 (and empty, for a new user). */
async function expectAccepted(t: TestApp, token: string) {
  const res = await t.request('/api/v1/tasks', { headers: { authorization: `Bearer ${token}` } })
  expect(res.status, await res.clone().text()).toBe(200)
  expect(await json(res)).toEqual([])
}

describeEachDriver('unauthorized', (ctx) => {
  test('a valid token with the same invalid body is a 400, so the 401s below come before validation', async () => {
    const t = ctx()
    const res = await t.request('/api/v1/tasks', { method: 'POST', as: newUser(), json: invalidBody })
    expect(res.status, await res.clone().text()).toBe(400)
    expect(await json(res)).toMatchObject({ error_code: 'VALIDATION_ERROR' })
  })

  test('no Authorization header', async () => {
    await expectRejected(ctx(), null, 'missing')
  })

  test('an empty Authorization header', async () => {
    await expectRejected(ctx(), '', 'missing')
  })

  test('another scheme (Basic)', async () => {
    await expectRejected(ctx(), `Basic ${btoa('alice:password')}`, 'malformed')
  })

  test('another scheme carrying a valid JWT', async () => {
    const token = await sign(valid())
    await expectRejected(ctx(), `Token ${token}`, 'malformed', token)
  })

  test('"Bearer" with no token', async () => {
    await expectRejected(ctx(), 'Bearer', 'malformed')
    await expectRejected(ctx(), 'Bearer    ', 'malformed')
  })

  test('a token that is not three parts', async () => {
    const [header, payload] = (await sign(valid())).split('.')
    await rejectToken(ctx(), `${header}.${payload}`, 'malformed')
    await rejectToken(ctx(), 'not-a-jwt', 'malformed')
  })

  test('a token that is not base64url', async () => {
    await rejectToken(ctx(), '!!!.@@@.###', 'malformed')
  })

  test('a token whose header is not JSON', async () => {
    const [, payload, signature] = (await sign(valid())).split('.')
    await rejectToken(ctx(), `${b64url('not json')}.${payload}.${signature}`, 'malformed')
  })

  test('a bad signature (signed with another secret)', async () => {
    const token = await sign(valid(), { key: new TextEncoder().encode('another-secret-that-is-also-long-enough-for-hs256') })
    await rejectToken(ctx(), token, 'signature')
  })

  test('a tampered payload', async () => {
    const [header, , signature] = (await sign(valid())).split('.')
    await rejectToken(ctx(), `${header}.${b64url(JSON.stringify(valid()))}.${signature}`, 'signature')
  })

  test('alg none (an unsigned token)', async () => {
    const claims = b64url(JSON.stringify(valid()))
    await rejectToken(ctx(), `${b64url(JSON.stringify({ alg: 'none' }))}.${claims}.`, 'algorithm')
    await rejectToken(ctx(), `${b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${claims}.`, 'algorithm')
  })

  for (const alg of ['RS256', 'ES256', 'EdDSA']) {
    test(`an algorithm that does not fit the key: ${alg}`, async () => {
      const { privateKey } = await generateKeyPair(alg)
      await rejectToken(ctx(), await sign(valid(), { alg, key: privateKey }), 'algorithm')
    })
  }

  test('expired, beyond the 30 s clock skew', async () => {
    await rejectToken(ctx(), await sign({ sub: newUser(), iat: now() - 3600, exp: now() - 40 }), 'expired')
  })

  test('expired 10 s ago, within the clock skew, is accepted', async () => {
    await expectAccepted(ctx(), await sign({ sub: newUser(), iat: now() - 3600, exp: now() - 10 }))
  })

  test('nbf in the future, beyond the clock skew', async () => {
    await rejectToken(ctx(), await sign({ ...valid(), nbf: now() + 40 }), 'claims')
  })

  test('nbf 10 s in the future, within the clock skew, is accepted', async () => {
    await expectAccepted(ctx(), await sign({ ...valid(), nbf: now() + 10 }))
  })

  test('no exp claim', async () => {
    await rejectToken(ctx(), await sign({ sub: newUser(), iat: now() }), 'claims')
  })

  test('no sub claim', async () => {
    await rejectToken(ctx(), await sign({ iat: now(), exp: now() + 3600 }), 'claims')
  })

  test('an empty sub', async () => {
    await rejectToken(ctx(), await sign(valid('')), 'claims')
  })

  test('a sub that is not a string', async () => {
    await rejectToken(ctx(), await sign(valid(12345)), 'claims')
    await rejectToken(ctx(), await sign(valid(null)), 'claims')
    await rejectToken(ctx(), await sign(valid([newUser()])), 'claims')
  })

  test('a sub of 256 characters', async () => {
    await rejectToken(ctx(), await sign(valid(newUser().padEnd(256, 'x'))), 'claims')
  })

  test('a sub of 255 characters is accepted, and can own tasks', async () => {
    const t = ctx()
    const user = newUser().padEnd(255, 'x')
    const token = await sign(valid(user))
    await expectAccepted(t, token)
    const res = await t.request('/api/v1/tasks', { method: 'POST', headers: { authorization: `Bearer ${token}` }, json: { title: 'long owner' } })
    expect(res.status, await res.clone().text()).toBe(201)
    expect((await json(res)).user_id).toBe(user)
  })

  test('a sub of 255 emoji (code points, not UTF-16 units) is accepted, 256 are not', async () => {
    const t = ctx()
    const user = `${newUser()}_`.padEnd(255 * 2, '😀') // ASCII prefix + emoji; counted below
    const cut = [...user].slice(0, 255).join('')
    expect([...cut]).toHaveLength(255)
    await expectAccepted(t, await sign(valid(cut)))
    await rejectToken(t, await sign(valid(cut + '😀')), 'claims')
  })

  test('a sub containing NUL', async () => {
    await rejectToken(ctx(), await sign(valid(`${newUser()}\u0000admin`)), 'claims')
  })

  for (const alg of ['HS256', 'HS384', 'HS512']) {
    test(`${alg} tokens are accepted`, async () => {
      await expectAccepted(ctx(), await sign(valid(), { alg }))
    })
  }

  test('the scheme name is case-insensitive (RFC 7235)', async () => {
    const t = ctx()
    const res = await t.request('/api/v1/tasks', { headers: { authorization: `bearer ${await sign(valid())}` } })
    expect(res.status, await res.clone().text()).toBe(200)
  })
})

describeEachDriver(
  'unauthorized, with JWT_ISSUER and JWT_AUDIENCE',
  (ctx) => {
    const iss = 'https://auth.example.com'
    const aud = 'taskapi'

    test('the right iss and aud are accepted', async () => {
      await expectAccepted(ctx(), await sign({ ...valid(), iss, aud }))
      await expectAccepted(ctx(), await sign({ ...valid(), iss, aud: ['other', aud] }))
    })

    test('a wrong iss', async () => {
      await rejectToken(ctx(), await sign({ ...valid(), iss: 'https://evil.example.com', aud }), 'claims')
    })

    test('no iss', async () => {
      await rejectToken(ctx(), await sign({ ...valid(), aud }), 'claims')
    })

    test('a wrong aud', async () => {
      await rejectToken(ctx(), await sign({ ...valid(), iss, aud: 'another-service' }), 'claims')
    })

    test('no aud', async () => {
      await rejectToken(ctx(), await sign({ ...valid(), iss }), 'claims')
    })
  },
  { JWT_ISSUER: 'https://auth.example.com', JWT_AUDIENCE: 'taskapi' },
)

describeEachDriver(
  'unauthorized, with JWT_USER_CLAIM=uid',
  (ctx) => {
    test('the configured claim is the user id, not sub', async () => {
      const t = ctx()
      const [user, other] = [newUser('uid'), newUser('sub')]
      const headers = { authorization: `Bearer ${await sign({ ...valid(other), uid: user })}` }
      const res = await t.request('/api/v1/tasks', { method: 'POST', headers, json: { title: 'mine' } })
      expect(res.status, await res.clone().text()).toBe(201)
      expect((await json(res)).user_id).toBe(user)
      const requestId = res.headers.get('x-request-id')
      // The access log is written after the response is sent.
      for (let i = 0; i < 50 && !t.logs.some((l) => l.message === 'request' && l.request_id === requestId); i++) await Bun.sleep(10)
      expect(t.logs).toContainEqual(expect.objectContaining({ message: 'request', request_id: requestId, status: 201, user_id: user }))
    })

    test('a token with sub but no such claim', async () => {
      await rejectToken(ctx(), await sign(valid()), 'claims')
    })

    test('the configured claim must be a non-empty string', async () => {
      await rejectToken(ctx(), await sign({ ...valid(), uid: '' }), 'claims')
      await rejectToken(ctx(), await sign({ ...valid(), uid: 7 }), 'claims')
    })
  },
  { JWT_USER_CLAIM: 'uid' },
)
