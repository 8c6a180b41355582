// The compiled binary (dist/taskapi, from `bun run build`), copied alone into an empty folder and
// run from there: no node_modules, no drizzle/, no source beside it. CI builds it first (.ci/run);
// elsewhere this file builds it.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeProtectedHeader } from 'jose'
import pkg from '../../package.json'
import journal from '../../drizzle/meta/_journal.json'
import { startServer, type RunningServer } from '../support/server'
import { closedPort } from '../support/server'
import { binaryFolder, COMMAND_MS, run as runIn, SECRET } from './harness'

const tags = journal.entries.map((e) => e.tag)
const START_MS = 90_000

let folder: string
let binary: string

beforeAll(async () => {
  ;({ folder, binary } = await binaryFolder())
}, 3 * COMMAND_MS)

afterAll(() => {
  if (folder) rmSync(folder, { recursive: true, force: true })
})

const run = (args: string[], env: Record<string, string> = {}, cwd = folder) => runIn(binary, args, env, cwd)

describe('command line of the binary', () => {
  test('--version prints the package version; --help prints the usage; both exit 0', async () => {
    const version = await run(['--version'])
    expect(version.code, version.output).toBe(0)
    // The version and the commit it was built from.
    expect(version.stdout, version.output).toMatch(new RegExp(`^${pkg.version.replaceAll('.', '\\.')} \\(([0-9a-f]{12}(-dirty)?|unknown)\\)\n$`))
    const help = await run(['--help'])
    expect(help.code, help.output).toBe(0)
    expect(help.stderr, help.output).toBe('')
    for (const command of ['[serve]', 'migrate [--status]', 'token --sub ID', 'healthcheck [--url URL]', 'openapi']) {
      expect(help.stdout, help.output).toContain(`taskapi ${command}`)
    }
  }, COMMAND_MS)

  test('an unknown command or an unknown flag prints the usage on stderr and exits 2', async () => {
    for (const [args, named] of [
      [['frobnicate'], 'unknown command "frobnicate"'],
      [['--frobnicate'], 'unknown option "--frobnicate"'],
      [['serve', '--frobnicate'], '--frobnicate'],
      [['migrate', '--frobnicate'], '--frobnicate'],
      [['healthcheck', '--frobnicate'], '--frobnicate'],
      [['openapi', '--frobnicate'], '--frobnicate'],
    ] as const) {
      const r = await run([...args], { JWT_SECRET: SECRET })
      expect(r.code, r.output).toBe(2)
      expect(r.stdout, r.output).toBe('')
      expect(r.stderr, r.output).toContain(named)
      expect(r.stderr, r.output).toContain('Usage:')
    }
    // None of them opened a database.
    expect(readdirSync(folder)).toEqual(['taskapi'])
  }, COMMAND_MS)

  test('openapi prints the OpenAPI document and exits, with no key and without opening a database', async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'taskapi-openapi-'))
    try {
      const started = performance.now()
      const r = await run(['openapi'], {}, elsewhere)
      const elapsed = performance.now() - started
      expect(r.code, r.output).toBe(0)
      expect(r.stderr, r.output).toBe('')
      const doc = JSON.parse(r.stdout) as { openapi: string; info: { version: string }; paths: Record<string, Record<string, { summary?: string }>> }
      expect(doc.openapi).toMatch(/^3\./)
      expect(doc.info.version).toBe(pkg.version)
      expect(doc.paths['/api/v1/tasks']?.get?.summary).toBe('List tasks')
      expect(Object.keys(doc.paths['/api/v1/tasks'] ?? {}).sort()).toEqual(['delete', 'get', 'post'])
      expect(doc.paths['/healthz']?.get).toBeDefined()
      // Older clients' paths stay out of the document.
      expect(Object.keys(doc.paths).filter((p) => p.startsWith('/api/') && !p.startsWith('/api/v1/'))).toEqual([])
      expect(readdirSync(elsewhere), 'openapi created files').toEqual([])
      expect(elapsed, 'openapi should exit promptly').toBeLessThan(10_000)
    } finally {
      rmSync(elsewhere, { recursive: true, force: true })
    }
  }, COMMAND_MS)

  test('token is refused, exit 1, when only a JWKS is configured (no HMAC secret)', async () => {
    const r = await run(['token', '--sub', 'alice'], { JWT_JWKS_URL: 'https://auth.example.com/api/auth/jwks' })
    expect(r.code, r.output).toBe(1)
    expect(r.stdout, r.output).toBe('')
    expect(r.stderr, r.output).toContain('JWT_SECRET')
    expect(r.stderr, r.output).toContain('JWT_JWKS_URL')
  }, COMMAND_MS)

  test('healthcheck exits 1 when nothing listens on the port', async () => {
    const port = await closedPort()
    const byPort = await run(['healthcheck'], { JWT_SECRET: SECRET, PORT: String(port) })
    expect(byPort.code, byPort.output).toBe(1)
    expect(byPort.stderr, byPort.output).toContain(`http://127.0.0.1:${port}/healthz`)
    const byUrl = await run(['healthcheck', '--url', `http://127.0.0.1:${port}/healthz`])
    expect(byUrl.code, byUrl.output).toBe(1)
  }, COMMAND_MS)
})

describe('migrate with the binary', () => {
  test('a new folder starts from the embedded template, already migrated: migrate applies nothing; --status lists them', async () => {
    const env = { JWT_SECRET: SECRET, DATA_DIR: join(folder, 'migrated') }
    const before = await run(['migrate', '--status'], env)
    expect(before.code, before.output).toBe(0)
    expect(before.stdout, before.output).toBe(tags.map((t) => `applied  ${t}\n`).join(''))

    const second = await run(['migrate'], env)
    expect(second.code, second.output).toBe(0)
    expect(second.stdout, second.output).toBe('No pending migrations.\n')

    const after = await run(['migrate', '--status'], env)
    expect(after.code, after.output).toBe(0)
    expect(after.stdout, after.output).toBe(tags.map((t) => `applied  ${t}\n`).join(''))
    expect(existsSync(join(folder, 'migrated/PG_VERSION'))).toBe(true)
  }, 3 * COMMAND_MS)
})

describe('serving from the binary', () => {
  let server: RunningServer | undefined
  let token = ''
  let kept = ''
  const env = { JWT_SECRET: SECRET, NODE_ENV: 'production' }

  afterAll(async () => {
    if (server && server.proc.exitCode === null) await server.stop('SIGKILL')
  })

  const api = (path: string, init: RequestInit & { json?: unknown } = {}) => {
    const headers = new Headers(init.headers)
    headers.set('authorization', `Bearer ${token}`)
    if (init.json !== undefined) headers.set('content-type', 'application/json')
    return fetch(`${server!.url}${path}`, { ...init, headers, body: init.json !== undefined ? JSON.stringify(init.json) : init.body })
  }

  test('starts with the embedded database under ./data of its working folder; /healthz is 200', async () => {
    server = await startServer(env, [binary, 'serve'], folder)
    expect(server.logs.find((l) => l.message === 'server.started')).toMatchObject({ driver: 'pglite', version: pkg.version })
    // Production with CORS_ORIGINS unset answers no browser on another origin, and says so at start.
    expect(server.logs.find((l) => l.message === 'config.cors_closed')).toMatchObject({ level: 'warn', detail: expect.stringContaining('CORS_ORIGINS') })
    expect(existsSync(join(folder, 'data/PG_VERSION')), 'the data directory is ./data').toBe(true)
    const res = await fetch(`${server.url}/healthz`)
    expect(res.status, await res.clone().text()).toBe(200)
    expect(await res.json()).toEqual({ status: 'ok' })
    const ready = await fetch(`${server.url}/readyz`)
    expect(ready.status, await ready.text()).toBe(200)
  }, START_MS)

  test('taskapi token mints a token the server accepts', async () => {
    const user = `bin_${crypto.randomUUID().slice(0, 8)}`
    const r = await run(['token', '--sub', user, '--ttl', '10m'], env)
    expect(r.code, r.output).toBe(0)
    token = r.stdout.trim()
    expect(decodeProtectedHeader(token).alg).toBe('HS256')
    const res = await api('/api/v1/tasks')
    expect(res.status, await res.clone().text()).toBe(200)
    expect(await res.json()).toEqual([])
  }, COMMAND_MS)

  test('creates, lists, toggles and deletes tasks', async () => {
    const created = await api('/api/v1/tasks', { method: 'POST', json: { title: 'Kept across restarts' } })
    expect(created.status, await created.clone().text()).toBe(201)
    const task = (await created.json()) as { id: string; title: string; completed: boolean; version: number }
    expect(task).toMatchObject({ title: 'Kept across restarts', completed: false, version: 1 })
    kept = task.id

    const other = await api('/api/v1/tasks', { method: 'POST', json: { title: 'Deleted soon' } })
    expect(other.status, await other.clone().text()).toBe(201)
    const otherId = ((await other.json()) as { id: string }).id

    const listed = await api('/api/v1/tasks?sort=created_at')
    expect(listed.status, await listed.clone().text()).toBe(200)
    expect(((await listed.json()) as { id: string }[]).map((t) => t.id)).toEqual([kept, otherId])

    const toggled = await api(`/api/v1/tasks/${kept}/toggle`, { method: 'PATCH' })
    expect(toggled.status, await toggled.clone().text()).toBe(200)
    expect(await toggled.json()).toMatchObject({ id: kept, completed: true, version: 2 })

    const deleted = await api(`/api/v1/tasks/${otherId}`, { method: 'DELETE' })
    expect(deleted.status, await deleted.clone().text()).toBe(204)
    const gone = await api(`/api/v1/tasks/${otherId}`)
    expect(gone.status, await gone.clone().text()).toBe(404)
  }, COMMAND_MS)

  test('/docs, its assets and /docs/json load from the binary, with nothing fetched from elsewhere', async () => {
    const page = await fetch(`${server!.url}/docs`)
    expect(page.status).toBe(200)
    const html = await page.text()
    // Every script and stylesheet the page loads is the service's own.
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!)
    expect(refs.sort()).toEqual(['/docs/assets/swagger-ui-bundle.js', '/docs/assets/swagger-ui.css'])
    for (const [ref, type] of [
      ['/docs/assets/swagger-ui-bundle.js', 'text/javascript'],
      ['/docs/assets/swagger-ui.css', 'text/css'],
    ] as const) {
      const asset = await fetch(`${server!.url}${ref}`)
      expect(asset.status, ref).toBe(200)
      expect(asset.headers.get('content-type'), ref).toStartWith(type)
      expect((await asset.arrayBuffer()).byteLength, ref).toBeGreaterThan(100_000)
    }
    const spec = await fetch(`${server!.url}/docs/json`)
    expect(spec.status).toBe(200)
    expect(Object.keys(((await spec.json()) as { paths: object }).paths)).toContain('/api/v1/tasks')
  }, COMMAND_MS)

  test('healthcheck exits 0 while the server is up (default URL from PORT, and --url)', async () => {
    const port = new URL(server!.url).port
    const byPort = await run(['healthcheck'], { ...env, PORT: port })
    expect(byPort.code, byPort.output).toBe(0)
    const byUrl = await run(['healthcheck', '--url', `${server!.url}/healthz`])
    expect(byUrl.code, byUrl.output).toBe(0)
    // Anything but a 200 is unhealthy.
    const notFound = await run(['healthcheck', '--url', `${server!.url}/no-such-page`])
    expect(notFound.code, notFound.output).toBe(1)
  }, COMMAND_MS)

  test('SIGTERM stops it with exit 0; healthcheck then exits 1; a restart finds the data', async () => {
    const port = new URL(server!.url).port
    const code = await server!.stop('SIGTERM')
    expect(code, server!.stderr()).toBe(0)
    expect(server!.logs.map((l) => l.message)).toContain('server.stopped')

    const down = await run(['healthcheck'], { ...env, PORT: port })
    expect(down.code, down.output).toBe(1)

    server = await startServer(env, [binary, 'serve'], folder)
    // The second start found the schema in place.
    expect(server.logs.map((l) => l.message)).not.toContain('migrations.applied')
    const listed = await api('/api/v1/tasks')
    expect(listed.status, await listed.clone().text()).toBe(200)
    expect(await listed.json()).toMatchObject([{ id: kept, title: 'Kept across restarts', completed: true, version: 2 }])
    expect(await server.stop('SIGTERM')).toBe(0)

    // Nothing but the binary and the data it was told to keep was written beside it.
    expect(readdirSync(folder).filter((name) => name !== 'migrated').sort()).toEqual(['data', 'taskapi'])
  }, START_MS)
})
