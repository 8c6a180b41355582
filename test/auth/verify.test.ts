// The verifier remembers tokens it has verified; remembering must never outlive the token.
import { expect, setSystemTime, test } from 'bun:test'
import { createVerifier, type AuthError } from '../../src/auth/verify'
import { loadConfig } from '../../src/config'
import { SECRET, signToken } from '../support/app'

const reasonOf = (promise: Promise<string>) => promise.then((user) => `accepted:${user}`, (error: AuthError) => error.reason)

test('a remembered token is refused once it expires, with the reason expired', async () => {
  const verify = await createVerifier(loadConfig({ JWT_SECRET: SECRET, JWT_CLOCK_SKEW_S: '5' }).jwt)
  const now = Date.now()
  const token = await signToken({ sub: 'alice', exp: Math.floor(now / 1000) + 10 }, { expiresIn: null })
  expect(await reasonOf(verify(`Bearer ${token}`))).toBe('accepted:alice')
  expect(await reasonOf(verify(`Bearer ${token}`))).toBe('accepted:alice')
  try {
    setSystemTime(new Date(now + 14_000)) // within exp + skew
    expect(await reasonOf(verify(`Bearer ${token}`))).toBe('accepted:alice')
    setSystemTime(new Date(now + 16_000)) // past exp + skew
    expect(await reasonOf(verify(`Bearer ${token}`))).toBe('expired')
  } finally {
    setSystemTime()
  }
})

test('a token that failed is never remembered as good, and a tampered copy of a good one fails', async () => {
  const verify = await createVerifier(loadConfig({ JWT_SECRET: SECRET }).jwt)
  const token = await signToken({ sub: 'alice' })
  expect(await reasonOf(verify(`Bearer ${token}`))).toBe('accepted:alice')
  const [header, , signature] = token.split('.')
  const forged = `${header}.${Buffer.from(JSON.stringify({ sub: 'mallory', exp: 9999999999 })).toString('base64url')}.${signature}`
  expect(await reasonOf(verify(`Bearer ${forged}`))).toBe('signature')
  expect(await reasonOf(verify(`Bearer ${forged}`))).toBe('signature')
})
