// Request budgets: per client address before the token is verified, per user after; 429 with
// Retry-After; X-RateLimit-* on every API response; bounded memory whatever an attacker rotates.
import { describe, expect, test } from 'bun:test'
import { createRateLimits, RateLimiter } from '../../src/http/rate-limit'
import { createTestApp, json, newUser, type TestApp } from '../support/app'
import { drivers } from '../support/databases'

describe('RateLimiter', () => {
  test('counts within a window and starts again in the next', () => {
    const limiter = new RateLimiter(2, 1000)
    expect(limiter.take('a', 0)).toEqual({ allowed: true, limit: 2, remaining: 1, resetAt: 1000 })
    expect(limiter.take('a', 10)).toEqual({ allowed: true, limit: 2, remaining: 0, resetAt: 1000 })
    expect(limiter.take('a', 999)).toEqual({ allowed: false, limit: 2, remaining: 0, resetAt: 1000 })
    expect(limiter.take('b', 999).allowed).toBe(true)
    expect(limiter.take('a', 1000)).toEqual({ allowed: true, limit: 2, remaining: 1, resetAt: 2000 })
  })

  test('memory stays bounded while an attacker rotates keys', () => {
    const limiter = new RateLimiter(5, 60_000, 1000)
    for (let i = 0; i < 100_000; i++) limiter.take(`attacker-${i}`, 1)
    expect(limiter.size).toBe(1000)
    // Expired windows are dropped as new keys come, not kept until the map is full.
    for (let i = 0; i < 10; i++) limiter.take(`later-${i}`, 120_000)
    expect(limiter.size).toBe(10)
  })

  test('the client budget is spent before the user budget is looked at, and 429 says when to retry', async () => {
    let now = 10_000
    const limits = createRateLimits({ perIp: 1, perUser: 5, windowS: 60 }, { now: () => now })
    const headers: Record<string, string | number> = {}
    await limits.client('1.2.3.4', headers)
    expect(headers).toEqual({ 'x-ratelimit-limit': '1', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '70' })
    now = 40_000
    await expect(limits.client('1.2.3.4', headers)).rejects.toMatchObject({ code: 'RATE_LIMITED', options: { headers: { 'retry-after': '30' } } })
  })
})

const [pglite] = drivers
describe('rate limits over HTTP [pglite]', () => {
  const build = async (env: Record<string, string>) => createTestApp(await pglite!.create(), { TRUST_PROXY: 'X-Forwarded-For', ...env })
  const from = (address: string, t: TestApp, init: Parameters<TestApp['request']>[1] = {}) =>
    t.request('/api/v1/tasks', { ...init, headers: { 'x-forwarded-for': `10.0.0.9, ${address}` } })

  test('per client address, checked before the token: 429 with Retry-After, and the verifier is spared', async () => {
    const t = await build({ RATE_LIMIT_PER_IP: '3', RATE_LIMIT_PER_USER: '100' })
    for (let i = 0; i < 3; i++) expect((await from('203.0.113.7', t)).status).toBe(401)
    const failures = t.logs.filter((l) => l.message === 'auth.failed').length
    expect(failures).toBe(3)
    expect(t.logs.filter((l) => l.message === 'auth.failed').every((l) => l.client === '203.0.113.7')).toBe(true)

    const limited = await from('203.0.113.7', t, { as: newUser() })
    expect(limited.status).toBe(429)
    expect(limited.headers.get('content-type')).toBe('application/problem+json')
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(Number(limited.headers.get('retry-after'))).toBeLessThanOrEqual(60)
    expect(limited.headers.get('x-ratelimit-limit')).toBe('3')
    expect(limited.headers.get('x-ratelimit-remaining')).toBe('0')
    expect(await json(limited)).toMatchObject({ status: 429, status_code: 429, error_code: 'RATE_LIMITED', title: 'Too Many Requests' })
    // Refused before verification: no new auth.failed line.
    expect(t.logs.filter((l) => l.message === 'auth.failed').length).toBe(failures)

    // Another address has its own budget.
    expect((await from('203.0.113.8', t, { as: newUser() })).status).toBe(200)
    await t.db.close()
  })

  test('per user, after the token: the same user from many addresses shares one budget', async () => {
    const t = await build({ RATE_LIMIT_PER_IP: '100', RATE_LIMIT_PER_USER: '2' })
    const token = await t.token(newUser())
    const headers = (address: string) => ({ authorization: `Bearer ${token}`, 'x-forwarded-for': address })
    const first = await t.request('/api/v1/tasks', { headers: headers('198.51.100.1') })
    expect(first.status).toBe(200)
    expect(first.headers.get('x-ratelimit-limit')).toBe('2')
    expect(first.headers.get('x-ratelimit-remaining')).toBe('1')
    expect(Number(first.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000)
    expect((await t.request('/api/v1/tasks/stats', { headers: headers('198.51.100.2') })).status).toBe(200)
    const limited = await t.request('/api/v1/tasks', { headers: headers('198.51.100.3') })
    expect(limited.status).toBe(429)
    expect(await json(limited)).toMatchObject({ error_code: 'RATE_LIMITED' })
    // Other users are unaffected.
    expect((await t.request('/api/v1/tasks', { as: newUser(), headers: { 'x-forwarded-for': '198.51.100.3' } })).status).toBe(200)
    await t.db.close()
  })

  test('without TRUST_PROXY a forwarded-for header is the client\'s own say-so and is ignored', async () => {
    const t = await build({ RATE_LIMIT_PER_IP: '2', RATE_LIMIT_PER_USER: '100', TRUST_PROXY: '' })
    expect((await from('192.0.2.1', t, { as: newUser() })).status).toBe(200)
    expect((await from('192.0.2.2', t, { as: newUser() })).status).toBe(200)
    expect((await from('192.0.2.3', t, { as: newUser() })).status).toBe(429)
    await t.db.close()
  })
})

describe('headers every response carries [pglite]', () => {
  test('nosniff and no-referrer everywhere; API responses are private to the user', async () => {
    const t = await createTestApp(await pglite!.create())
    const cases: [string, RequestInit & { as?: string }, string | null][] = [
      ['/api/v1/tasks', { as: newUser() }, 'private, no-cache'],
      ['/api/v1/tasks', {}, 'private, no-cache'], // 401
      ['/api/tasks/stats', { as: newUser() }, 'private, no-cache'],
      ['/healthz', {}, null],
      ['/nope', {}, null],
      ['/docs/json', {}, null],
    ]
    for (const [path, init, cacheControl] of cases) {
      const res = await t.request(path, init)
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff')
      expect(res.headers.get('referrer-policy'), path).toBe('no-referrer')
      expect(res.headers.get('cache-control'), path).toBe(cacheControl)
    }
    const preflight = await t.request('/api/v1/tasks', {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:3000', 'access-control-request-method': 'POST' },
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('x-content-type-options')).toBe('nosniff')
    expect(preflight.headers.get('referrer-policy')).toBe('no-referrer')
    await t.db.close()
  })
})
