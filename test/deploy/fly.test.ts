// fly.toml, parsed and checked against the Dockerfile and the service's defaults.
import { describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadConfig } from '../../src/config'
import { repoRoot } from '../support/server'
import { parseDockerfile } from './dockerfile'

interface FlyToml {
  app?: string
  kill_signal?: string
  kill_timeout?: string
  build?: { dockerfile?: string }
  deploy?: { release_command?: string }
  metrics?: { port?: number; path?: string }
  env?: Record<string, string>
  http_service?: {
    internal_port?: number
    force_https?: boolean
    auto_stop_machines?: string | boolean
    auto_start_machines?: boolean
    min_machines_running?: number
    checks?: { method?: string; path?: string; interval?: string; timeout?: string; grace_period?: string }[]
  }
}

const text = readFileSync(join(repoRoot, 'fly.toml'), 'utf8')
const fly = Bun.TOML.parse(text) as FlyToml
const defaultPort = loadConfig({ JWT_SECRET: 'x'.repeat(32) }).port
const runtime = parseDockerfile(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8')).at(-1)!
const serveCommand = runtime.last('CMD')!.words

describe('fly.toml', () => {
  test('builds from the Dockerfile', () => {
    expect(fly.build?.dockerfile).toBe('Dockerfile')
  })

  test("release_command runs `taskapi migrate` by the binary's path in the image", () => {
    expect(serveCommand).toEqual(['/usr/local/bin/taskapi', 'serve'])
    expect(fly.deploy?.release_command).toBe(`${serveCommand[0]} migrate`)
  })

  test("the http service listens on the service's default port, HTTPS only, machines stopped and started on demand", () => {
    expect(defaultPort).toBe(3000)
    expect(fly.http_service?.internal_port).toBe(defaultPort)
    // Nothing in [env] moves the service off that port.
    expect(fly.env?.PORT ?? String(defaultPort)).toBe(String(defaultPort))
    expect(fly.http_service?.force_https).toBe(true)
    expect(fly.http_service?.auto_stop_machines).toBe('stop')
    expect(fly.http_service?.auto_start_machines).toBe(true)
    expect(fly.http_service?.min_machines_running).toBe(0)
  })

  test('checks GET /healthz', () => {
    expect(fly.http_service?.checks).toHaveLength(1)
    expect(fly.http_service?.checks?.[0]).toMatchObject({ method: 'GET', path: '/healthz' })
  })

  test('sets NODE_ENV=production and no secret in [env]', () => {
    expect(fly.env?.NODE_ENV).toBe('production')
    for (const secret of ['DATABASE_URL', 'JWT_SECRET', 'BETTER_AUTH_SECRET', 'JWT_JWKS_URL']) expect(Object.keys(fly.env ?? {})).not.toContain(secret)
  })

  test('[env] plus the secrets the comments name is a valid production configuration', () => {
    const secrets = { DATABASE_URL: 'postgres://app:pw@ep-calm-1234-pooler.eu-central-1.aws.neon.tech/taskapi', JWT_SECRET: 'x'.repeat(48) }
    const config = loadConfig({ ...fly.env, ...secrets })
    expect(config.production).toBe(true)
    expect(config.port).toBe(fly.http_service!.internal_port!)
    expect(config.database.driver).toBe('neon')
    // Per-address rate limits see the client, not Fly's proxy.
    expect(config.trustProxy?.toLowerCase()).toBe('fly-client-ip')
    const jwksOnly = loadConfig({ ...fly.env, DATABASE_URL: secrets.DATABASE_URL, JWT_JWKS_URL: 'https://auth.example.com/api/auth/jwks' })
    expect(jwksOnly.jwt.secret).toBeUndefined()
    expect(() => loadConfig({ ...fly.env, DATABASE_URL: secrets.DATABASE_URL })).toThrow(/JWT_SECRET/)
  })

  test('its comments say which secrets to set', () => {
    const comments = text.split('\n').filter((l) => l.trimStart().startsWith('#')).join('\n')
    expect(comments).toMatch(/fly secrets set DATABASE_URL=\S+ +JWT_SECRET=/)
    expect(comments).toMatch(/fly secrets set JWT_JWKS_URL=/)
  })

  test('[metrics] scrapes the metrics listener, which is not the public port', () => {
    const config = loadConfig({ ...fly.env, JWT_SECRET: 'x'.repeat(48) })
    expect(fly.metrics).toEqual({ port: config.metricsPort, path: '/metrics' })
    expect(config.metricsPort).not.toBe(fly.http_service!.internal_port)
  })

  test('the secrets for several Machines on Neon: pooled URL for queries, direct URL for migrations, Redis for budgets', () => {
    const comments = text.split('\n').filter((l) => l.trimStart().startsWith('#')).join('\n')
    expect(comments).toMatch(/fly secrets set DATABASE_DIRECT_URL=/)
    expect(comments).toMatch(/fly secrets set REDIS_URL=rediss:\/\//)
    const config = loadConfig({
      ...fly.env,
      JWT_SECRET: 'x'.repeat(48),
      DATABASE_URL: 'postgres://app:pw@ep-calm-1234-pooler.eu-central-1.aws.neon.tech/taskapi',
      DATABASE_DIRECT_URL: 'postgres://app:pw@ep-calm-1234.eu-central-1.aws.neon.tech/taskapi',
      REDIS_URL: 'rediss://default:pw@eu1-calm-1234.upstash.io:6379',
    })
    expect(config.database).toMatchObject({ driver: 'neon', directUrl: 'postgres://app:pw@ep-calm-1234.eu-central-1.aws.neon.tech/taskapi' })
    expect(config.redis).toEqual({ url: 'rediss://default:pw@eu1-calm-1234.upstash.io:6379', keyPrefix: 'taskapi:' })
  })

  test('gives SIGTERM and more time than the service takes to drain', () => {
    expect(fly.kill_signal).toBe('SIGTERM')
    // src/index.ts drains for up to 8 s.
    expect(fly.kill_timeout).toBe('10s')
  })
})
