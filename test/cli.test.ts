// The real command line, spawned as a process: token, usage errors, a refused start, --version.
import { describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeProtectedHeader, jwtVerify } from 'jose'
import pkg from '../package.json'

const root = join(import.meta.dir, '..')
const SECRET = 'cli-test-secret-that-is-long-enough-for-production'
const TIMEOUT_MS = 20_000

// Every variable the service reads, set explicitly (empty means unset to loadConfig, and keeps a
// developer's .env from filling it in), so neither the outer environment nor bun test's
// NODE_ENV=test decides anything here.
const serviceVars = [
  'PORT', 'HOST', 'DATABASE_URL', 'DATA_DIR', 'DB_DRIVER', 'DB_POOL_MAX', 'DB_CONNECT_TIMEOUT_S', 'DB_STATEMENT_TIMEOUT_MS',
  'NEON_WS_PROXY', 'JWT_SECRET', 'BETTER_AUTH_SECRET', 'JWT_JWKS_URL', 'JWT_ISSUER', 'JWT_AUDIENCE', 'JWT_CLOCK_SKEW_S',
  'JWT_USER_CLAIM', 'CORS_ORIGINS', 'LOG_LEVEL', 'NODE_ENV', 'DATABASE_DIRECT_URL', 'REDIS_URL', 'REDIS_KEY_PREFIX', 'METRICS_PORT',
]

async function run(args: string[], env: Record<string, string> = {}) {
  const blank = Object.fromEntries(serviceVars.map((name) => [name, '']))
  const proc = Bun.spawn(['bun', 'src/index.ts', ...args], {
    cwd: root,
    env: { ...process.env, ...blank, JWT_SECRET: SECRET, ...env },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  // A command that should exit but serves instead must not hang the suite.
  const timer = setTimeout(() => proc.kill(), TIMEOUT_MS - 5_000)
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  clearTimeout(timer)
  return { stdout, stderr, code, output: `exit ${code}\nstdout: ${stdout}\nstderr: ${stderr}` }
}

/** A wrong invocation: exit 2, nothing on stdout, the usage (and `mentions`) on stderr. */
function expectUsageError(r: Awaited<ReturnType<typeof run>>, ...mentions: string[]) {
  expect(r.code, r.output).toBe(2)
  expect(r.stdout, r.output).toBe('')
  for (const text of ['Usage:', ...mentions]) expect(r.stderr, r.output).toContain(text)
}

const now = () => Math.floor(Date.now() / 1000)

describe('cli token', () => {
  test('token --sub alice prints a JWT for alice, signed with the secret, valid for an hour', async () => {
    const before = now()
    const r = await run(['token', '--sub', 'alice'])
    expect(r.code, r.output).toBe(0)
    expect(r.stderr, r.output).toBe('')
    expect(r.stdout, r.output).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/)
    const token = r.stdout.trim()
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'HS256' })
    const { payload } = await jwtVerify(token, new TextEncoder().encode(SECRET), { algorithms: ['HS256'] })
    expect(payload.sub).toBe('alice')
    expect(payload.exp! - payload.iat!).toBe(3600)
    expect(payload.iat!).toBeGreaterThanOrEqual(before - 1)
    expect(payload.iat!).toBeLessThanOrEqual(now() + 1)
    await expect(jwtVerify(token, new TextEncoder().encode('another-secret-of-enough-length-xxxxx'))).rejects.toThrow()
  }, TIMEOUT_MS)

  test('--ttl 15m makes a token valid for 15 minutes', async () => {
    const r = await run(['token', '--sub', 'bob', '--ttl', '15m'])
    expect(r.code, r.output).toBe(0)
    const { payload } = await jwtVerify(r.stdout.trim(), new TextEncoder().encode(SECRET))
    expect(payload.sub).toBe('bob')
    expect(payload.exp! - payload.iat!).toBe(15 * 60)
    expect(Math.abs(payload.exp! - (now() + 900))).toBeLessThanOrEqual(5)
  }, TIMEOUT_MS)

  test('the token carries the configured issuer, audience and user claim', async () => {
    const r = await run(['token', '--sub', 'carol'], { JWT_ISSUER: 'https://auth.example.com', JWT_AUDIENCE: 'taskapi', JWT_USER_CLAIM: 'uid' })
    expect(r.code, r.output).toBe(0)
    const { payload } = await jwtVerify(r.stdout.trim(), new TextEncoder().encode(SECRET), {
      issuer: 'https://auth.example.com',
      audience: 'taskapi',
    })
    expect(payload.uid).toBe('carol')
  }, TIMEOUT_MS)

  test('BETTER_AUTH_SECRET signs when JWT_SECRET is unset', async () => {
    const other = 'the-better-auth-secret-of-at-least-32-bytes'
    const r = await run(['token', '--sub', 'dave'], { JWT_SECRET: '', BETTER_AUTH_SECRET: other })
    expect(r.code, r.output).toBe(0)
    expect((await jwtVerify(r.stdout.trim(), new TextEncoder().encode(other))).payload.sub).toBe('dave')
  }, TIMEOUT_MS)

  test('a missing --sub exits 2 with the usage on stderr', async () => {
    expectUsageError(await run(['token']), '--sub')
  }, TIMEOUT_MS)

  test('a bad --ttl or an unknown option exits 2 with the usage', async () => {
    for (const args of [['token', '--sub', 'alice', '--ttl', 'forever'], ['token', '--sub', 'alice', '--bogus']]) {
      expectUsageError(await run(args))
    }
  }, TIMEOUT_MS)
})

describe('cli', () => {
  test('an unknown command exits 2 with the usage on stderr', async () => {
    expectUsageError(await run(['frobnicate']), 'frobnicate')
  }, TIMEOUT_MS)

  test('serve with NODE_ENV=production and a short JWT_SECRET exits 1 naming JWT_SECRET, before opening a database', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'taskapi-cli-'))
    const dataDir = join(dir, 'data')
    try {
      const r = await run(['serve'], { NODE_ENV: 'production', JWT_SECRET: 'too-short', DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1' })
      expect(r.code, r.output).toBe(1)
      expect(r.stderr, r.output).toContain('JWT_SECRET')
      expect(r.stdout, r.output).toBe('')
      expect(existsSync(dataDir), `${dataDir} was created: the database was opened`).toBe(false)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, TIMEOUT_MS)

  test('serve with no key at all exits 1 naming JWT_SECRET', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'taskapi-cli-'))
    const dataDir = join(dir, 'data')
    try {
      const r = await run([], { JWT_SECRET: '', DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1' })
      expect(r.code, r.output).toBe(1)
      expect(r.stderr, r.output).toContain('JWT_SECRET')
      expect(existsSync(dataDir), `${dataDir} was created: the database was opened`).toBe(false)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, TIMEOUT_MS)

  test('--version prints the package.json version (and "source" for the commit when run from source)', async () => {
    const r = await run(['--version'])
    expect(r.code, r.output).toBe(0)
    expect(r.stdout, r.output).toBe(`${pkg.version} (source)\n`)
    expect(r.stderr, r.output).toBe('')
  }, TIMEOUT_MS)

  test('--help prints the usage on stdout', async () => {
    const r = await run(['--help'])
    expect(r.code, r.output).toBe(0)
    expect(r.stdout, r.output).toContain('Usage:')
    expect(r.stdout, r.output).toContain('token --sub ID')
  }, TIMEOUT_MS)
})
