// Neon's two URLs: DATABASE_DIRECT_URL (no pooler) carries `migrate` and the start-up migration,
// DATABASE_URL (pooled) the queries. Shown by making the pooled one unreachable while migrating.
import { describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { ConfigError, loadConfig } from '../../src/config'
import { forMigrations } from '../../src/db/client'
import { migrations } from '../../src/db/migrate'
import { hasPostgres, scratchPostgres } from '../support/databases'
import { startServer } from '../support/server'
import { startTcpProxy } from '../support/tcp-proxy'

const root = join(import.meta.dir, '../..')
const SECRET = 'direct-url-test-secret-that-is-long-enough'

describe('DATABASE_DIRECT_URL in the configuration', () => {
  test('migrations use it, one connection; queries keep DATABASE_URL', () => {
    const config = loadConfig({ JWT_SECRET: SECRET, DATABASE_URL: 'postgres://u@pooler.example/db', DATABASE_DIRECT_URL: 'postgres://u@direct.example/db' })
    expect(config.database).toMatchObject({ driver: 'postgres', url: 'postgres://u@pooler.example/db', directUrl: 'postgres://u@direct.example/db' })
    expect(forMigrations(config.database)).toMatchObject({ driver: 'postgres', url: 'postgres://u@direct.example/db', pool: { max: 1 } })
    const alone = loadConfig({ JWT_SECRET: SECRET, DATABASE_URL: 'postgres://u@host/db' })
    expect(forMigrations(alone.database)).toEqual(alone.database)
  })

  test('it needs a postgres:// DATABASE_URL beside it, and METRICS_PORT must not be PORT', () => {
    expect(() => loadConfig({ JWT_SECRET: SECRET, DATABASE_DIRECT_URL: 'postgres://u@direct.example/db' })).toThrow(
      new ConfigError(['DATABASE_DIRECT_URL: needs a postgres:// DATABASE_URL (the pooled one) beside it']),
    )
    expect(() => loadConfig({ JWT_SECRET: SECRET, PORT: '8080', METRICS_PORT: '8080' })).toThrow(
      new ConfigError(['METRICS_PORT: must differ from PORT (metrics are never served on the public port)']),
    )
    expect(() => loadConfig({ JWT_SECRET: SECRET, REDIS_URL: 'http://redis' })).toThrow(new ConfigError(['REDIS_URL: must be a redis:// or rediss:// URL']))
  })
})

describe.if(hasPostgres)('DATABASE_DIRECT_URL against Postgres', () => {
  // A port nothing listens on: the pooled URL while it is away.
  const away = (url: string, port: number) => {
    const u = new URL(url)
    u.port = String(port)
    return u.href
  }

  test('`migrate` applies through the direct URL while the pooled one is unreachable', async () => {
    const scratch = await scratchPostgres()
    const relay = startTcpProxy({ host: '127.0.0.1', port: 1 }, { listening: false })
    try {
      const run = async (args: string[]) => {
        const proc = Bun.spawn(['bun', 'src/index.ts', 'migrate', ...args], {
          cwd: root,
          env: { PATH: process.env.PATH ?? '', JWT_SECRET: SECRET, DATABASE_URL: away(scratch.url, relay.port), DATABASE_DIRECT_URL: scratch.url },
          stdout: 'pipe',
          stderr: 'pipe',
        })
        const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
        return { stdout, code, output: `exit ${code}\n${stdout}\n${stderr}` }
      }
      const first = await run([])
      expect(first.code, first.output).toBe(0)
      expect(first.stdout).toBe(`Applied ${migrations.length}: ${migrations.map((m) => m.tag).join(', ')}\n`)
      const status = await run(['--status'])
      expect(status.stdout).toBe(migrations.map((m) => `applied  ${m.tag}\n`).join(''))
    } finally {
      await scratch.drop()
    }
  }, 30_000)

  test('`serve` migrates at start through the direct URL; queries wait for the pooled one', async () => {
    const scratch = await scratchPostgres()
    const target = new URL(scratch.url)
    const pooled = startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) }, { listening: false })
    const server = await startServer({ JWT_SECRET: SECRET, DATABASE_URL: away(scratch.url, pooled.port), DATABASE_DIRECT_URL: scratch.url })
    try {
      expect(server.logs.filter((l) => l.message === 'migrations.applied')).toEqual([
        expect.objectContaining({ migrations: migrations.map((m) => m.tag).join(',') }),
      ])
      expect((await fetch(`${server.url}/readyz`)).status).toBe(503)
      pooled.start()
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200)
    } finally {
      await server.stop()
      pooled.stop()
      await scratch.drop()
    }
  }, 30_000)
})
