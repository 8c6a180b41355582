// The compiled binary as a self-hoster runs it: one process per data folder (a second serve,
// migrate or migrate --status is refused, and acknowledged writes survive), a lock that kill -9
// releases, one listener per port, private files, one-line start-up errors, and /healthz at once;
// a first start killed half-way heals, and a template from an older build is migrated on top.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { buildBinary, buildTemplate } from '../../scripts/build'
import { TEMPLATE_NAME } from '../../src/db/client'
import { migrations } from '../../src/db/migrate'
import { startServer, type RunningServer } from '../support/server'
import { binaryFolder, COMMAND_MS, run as runIn, SECRET } from './harness'

let folder: string
let binary: string
const servers: RunningServer[] = []

beforeAll(async () => {
  ;({ folder, binary } = await binaryFolder())
}, 3 * COMMAND_MS)

afterAll(async () => {
  for (const server of servers) if (server.proc.exitCode === null) await server.stop('SIGKILL')
  if (folder) rmSync(folder, { recursive: true, force: true })
})

const env = { JWT_SECRET: SECRET, NODE_ENV: 'production', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info' }
const run = (args: string[], extra: Record<string, string> = {}) => runIn(binary, args, { ...env, ...extra }, folder)
const serve = async (extra: Record<string, string>) => {
  const server = await startServer({ ...env, ...extra }, [binary, 'serve'], folder)
  servers.push(server)
  return server
}

/** A failed start: exit 1, nothing but one line on stderr, no stack trace or source. */
function expectOneLine(r: Awaited<ReturnType<typeof run>>, ...named: string[]) {
  expect(r.code, r.output).toBe(1)
  expect(r.stderr.endsWith('\n'), r.output).toBe(true)
  expect(r.stderr.trimEnd().split('\n'), r.output).toHaveLength(1)
  expect(r.stderr, r.output).toStartWith('taskapi: ')
  expect(r.stderr, r.output).not.toMatch(/\n\s+at |\bfunction\b|=>|\{$/)
  for (const text of named) expect(r.stderr, r.output).toContain(text)
}

async function token(sub: string) {
  const r = await run(['token', '--sub', sub])
  expect(r.code, r.output).toBe(0)
  return r.stdout.trim()
}

describe('one owner per data folder', () => {
  test('a second serve, migrate or migrate --status on a live folder is refused naming the folder and the pid; the first keeps every acknowledged write', async () => {
    const dataDir = join(folder, 'owned')
    const first = await serve({ DATA_DIR: dataDir })
    const bearer = { authorization: `Bearer ${await token('owner')}`, 'content-type': 'application/json' }
    const post = (n: number) => fetch(`${first.url}/api/v1/tasks`, { method: 'POST', headers: bearer, body: JSON.stringify({ title: `task ${n}` }) })

    const created: number[] = []
    for (let n = 0; n < 20; n++) {
      const res = await post(n)
      expect(res.status, await res.clone().text()).toBe(201)
      created.push(n)
      // Others try to open the folder between the writes.
      if (n === 5) expectOneLine(await run(['serve'], { DATA_DIR: dataDir }), dataDir, `pid ${first.proc.pid}`, 'in use')
      if (n === 10) expectOneLine(await run(['migrate'], { DATA_DIR: dataDir }), dataDir, `pid ${first.proc.pid}`)
      if (n === 15) expectOneLine(await run(['migrate', '--status'], { DATA_DIR: dataDir }), dataDir, `pid ${first.proc.pid}`)
    }
    expect(first.proc.exitCode).toBeNull()

    // kill -9: the kernel drops the lock with the process, so the next start succeeds at once.
    expect(await first.stop('SIGKILL')).not.toBe(0)
    const started = performance.now()
    const second = await serve({ DATA_DIR: dataDir })
    expect(performance.now() - started, 'a stale lock must not delay the start').toBeLessThan(15_000)
    const listed = await fetch(`${second.url}/api/v1/tasks?limit=100`, { headers: bearer })
    expect(listed.status, await listed.clone().text()).toBe(200)
    expect(((await listed.json()) as { title: string }[]).map((t) => t.title).sort()).toEqual(created.map((n) => `task ${n}`).sort())
    expect(await second.stop('SIGTERM')).toBe(0)
  }, 3 * COMMAND_MS)
})

describe('one listener per port', () => {
  test('serve on a port another program holds fails with one line, whatever holds it', async () => {
    const holder = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response('not taskapi') })
    try {
      const r = await run(['serve'], { DATA_DIR: join(folder, 'port'), PORT: String(holder.port) })
      expectOneLine(r, `port ${holder.port} is already in use`)
      // Nothing was split: the holder still answers every request.
      for (let i = 0; i < 5; i++) expect(await (await fetch(holder.url)).text()).toBe('not taskapi')
    } finally {
      await holder.stop(true)
    }
  }, COMMAND_MS)

  test('a second taskapi on the port of a running one fails with one line', async () => {
    const first = await serve({ DATABASE_URL: 'memory://' })
    const port = new URL(first.url).port
    expectOneLine(await run(['serve'], { DATABASE_URL: 'memory://', PORT: port }), `port ${port} is already in use`)
    expect(await first.stop('SIGTERM')).toBe(0)
  }, COMMAND_MS)
})

describe('private files', () => {
  const modes = (dir: string) => {
    const loose: string[] = []
    const visit = (p: string) => {
      const stat = lstatSync(p)
      const expected = stat.isDirectory() ? 0o700 : 0o600
      if ((stat.mode & 0o777) !== expected) loose.push(`${(stat.mode & 0o777).toString(8)} ${p}`)
      if (stat.isDirectory()) for (const name of readdirSync(p)) visit(join(p, name))
    }
    visit(dir)
    return loose
  }

  test('a new data folder is 0700 and its files 0600, even with umask 000, after writes too', async () => {
    const dataDir = join(folder, 'private')
    const server = await startServer({ ...env, DATA_DIR: dataDir }, ['sh', '-c', `umask 000 && exec ${binary} serve`], folder)
    servers.push(server)
    const bearer = { authorization: `Bearer ${await token('modes')}`, 'content-type': 'application/json' }
    for (let n = 0; n < 5; n++) {
      const res = await fetch(`${server.url}/api/v1/tasks`, { method: 'POST', headers: bearer, body: JSON.stringify({ title: `t${n}` }) })
      expect(res.status).toBe(201)
    }
    expect(modes(dataDir)).toEqual([])
    expect(await server.stop('SIGTERM')).toBe(0)
    expect(modes(dataDir)).toEqual([])
  }, COMMAND_MS)

  test('an existing folder with looser modes is tightened at start, and the log says so', async () => {
    const dataDir = join(folder, 'loose')
    expect((await run(['migrate'], { DATA_DIR: dataDir })).code).toBe(0)
    chmodSync(dataDir, 0o755)
    chmodSync(join(dataDir, 'PG_VERSION'), 0o666)
    const server = await serve({ DATA_DIR: dataDir })
    expect(server.logs).toContainEqual(expect.objectContaining({ message: 'data_dir.tightened', path: dataDir, files: 2 }))
    expect(modes(dataDir)).toEqual([])
    expect(await server.stop('SIGTERM')).toBe(0)
  }, COMMAND_MS)
})

describe('start-up errors are one line on stderr, exit 1', () => {
  test('HOST that is not an address of this machine', async () => {
    // 192.0.2.0/24 is reserved for documentation: never a local address.
    expectOneLine(await run(['serve'], { DATABASE_URL: 'memory://', HOST: '192.0.2.1' }), 'HOST 192.0.2.1 is not an address')
    expectOneLine(await run(['serve'], { DATABASE_URL: 'memory://', HOST: 'no-such-host.invalid' }), 'HOST no-such-host.invalid')
  }, COMMAND_MS)

  test('DATA_DIR that cannot be created, is not a folder, or is not readable and writable', async () => {
    const file = join(folder, 'a-file')
    writeFileSync(file, '')
    expectOneLine(await run(['serve'], { DATA_DIR: join(file, 'data') }), `DATA_DIR ${join(file, 'data')} cannot be created`)
    expectOneLine(await run(['serve'], { DATA_DIR: file }), `DATA_DIR ${file} is not a folder`)
    const readOnly = join(folder, 'read-only')
    mkdirSync(readOnly, { mode: 0o500 })
    expectOneLine(await run(['serve'], { DATA_DIR: readOnly }), `DATA_DIR ${readOnly} is not readable and writable`, `chmod 700 ${readOnly}`)
    expectOneLine(await run(['migrate'], { DATA_DIR: readOnly }), `DATA_DIR ${readOnly}`)
  }, COMMAND_MS)

  // Giving a folder to another user needs root (CI runs the tests as root).
  test.if(process.getuid?.() === 0)('DATA_DIR owned by another user', async () => {
    const foreign = join(folder, 'foreign')
    mkdirSync(foreign, { mode: 0o700 })
    chownSync(foreign, 65534, 65534)
    expectOneLine(await run(['serve'], { DATA_DIR: foreign }), `DATA_DIR ${foreign} is owned by user 65534`, 'chown')
  }, COMMAND_MS)

  test('a corrupt data folder is named, with how to restore it', async () => {
    const damaged = join(folder, 'damaged')
    expect((await run(['migrate'], { DATA_DIR: damaged })).code).toBe(0)
    truncateSync(join(damaged, 'global/pg_control'), 10)
    expectOneLine(await run(['serve'], { DATA_DIR: damaged }), `DATA_DIR ${damaged} could not be opened`, 'restore')
    expectOneLine(await run(['migrate', '--status'], { DATA_DIR: damaged }), `DATA_DIR ${damaged} could not be opened`, 'restore')
  }, COMMAND_MS)
})

describe('listen first', () => {
  test('/healthz answers while the database still opens behind it; /readyz and the API say 503 with Retry-After until then', async () => {
    const times: number[] = []
    let sawOpening = false
    for (let i = 0; i < 5; i++) {
      const dataDir = join(folder, `fast-${i}`)
      const probe = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() })
      const port = probe.port!
      await probe.stop(true)
      const launched = performance.now()
      const proc = Bun.spawn([binary, 'serve'], { cwd: folder, env: { PATH: process.env.PATH ?? '', ...env, PORT: String(port), DATA_DIR: dataDir }, stdout: 'ignore', stderr: 'pipe' })
      try {
        for (;;) {
          const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null)
          if (res?.status === 200) break
          expect(proc.exitCode, 'taskapi exited').toBeNull()
          await Bun.sleep(1)
        }
        times.push(performance.now() - launched)
        const ready = await fetch(`http://127.0.0.1:${port}/readyz`)
        const api = await fetch(`http://127.0.0.1:${port}/api/v1/tasks`, { headers: { authorization: `Bearer ${await token('early')}` } })
        if (ready.status === 503) {
          sawOpening = true
          expect(ready.headers.get('retry-after')).toBe('5')
          expect(await ready.json()).toMatchObject({ status: 503, error_code: 'SERVICE_UNAVAILABLE' })
        } else expect(ready.status).toBe(200)
        if (api.status !== 200) {
          expect(api.status, await api.clone().text()).toBe(503)
          expect(api.headers.get('retry-after')).toBe('5')
        }
      } finally {
        proc.kill('SIGKILL')
        await proc.exited
      }
    }
    // How soon is a figure of bench/startup.ts (README, "Listen first"), measured against a baseline
    // in the same run: a bound in a test only measures the machine it runs on. What this test holds
    // is the order: the service answers /healthz before its database is open.
    console.log(`launch → /healthz 200 in ms: ${times.map(Math.round).join(', ')}`)
    expect(sawOpening, 'a first start on an empty folder takes long enough to see /readyz say 503').toBe(true)
  }, 3 * COMMAND_MS)
})

describe('safe defaults', () => {
  test('the development secret listens on 127.0.0.1 only, and says so; GET / redirects to /docs; the log names the data folder', async () => {
    const dataDir = join(folder, 'dev')
    const server = await startServer({ NODE_ENV: 'development', HOST: '', PORT: '0', LOG_LEVEL: 'info', DATA_DIR: dataDir }, [binary, 'serve'], folder)
    servers.push(server)
    const started = server.logs.find((l) => l.message === 'server.started')
    expect(started).toMatchObject({ data_dir: dataDir })
    expect(String(started?.url)).toStartWith('http://127.0.0.1:')
    expect(server.logs).toContainEqual(expect.objectContaining({ message: 'config.development_secret', detail: expect.stringContaining('127.0.0.1') }))
    const root = await fetch(`${server.url}/`, { redirect: 'manual' })
    expect(root.status).toBe(302)
    expect(root.headers.get('location')).toBe('/docs')
    expect(await server.stop('SIGTERM')).toBe(0)

    // Asked for every address with the development secret: refused.
    expectOneLine(await runIn(binary, ['serve'], { NODE_ENV: 'development', HOST: '0.0.0.0', DATA_DIR: dataDir }, folder), 'HOST', 'JWT_SECRET')
  }, COMMAND_MS)

  test('with no key, the error says how to make one and never suggests NODE_ENV=development', async () => {
    const r = await runIn(binary, ['serve'], { DATA_DIR: join(folder, 'nokey') }, folder)
    expectOneLine(r, 'openssl rand -base64 48', 'JWT_SECRET')
    expect(r.stderr).not.toContain('NODE_ENV')
  }, COMMAND_MS)

  test('on Fly.io without DATABASE_URL, DATA_DIR must be a mounted volume', async () => {
    // The image sets DATA_DIR=/data, so "set" proves nothing: the folder must be a mount of its own.
    const dataDir = join(folder, 'machine-disk')
    for (const command of [['serve'], ['migrate']]) {
      expectOneLine(await run(command, { FLY_APP_NAME: 'taskapi', DATA_DIR: dataDir }), `DATA_DIR ${dataDir} is not a mounted volume`, 'Fly.io')
    }
    // DATA_DIR unset: ./data of the working folder, no volume either.
    expectOneLine(await runIn(binary, ['serve'], { ...env, FLY_APP_NAME: 'taskapi' }, folder), 'is not a mounted volume')
  }, COMMAND_MS)
})

describe('a binary that explains itself', () => {
  test('--help lists every command and every environment variable with its default', async () => {
    const { variables } = await import('../../src/config')
    const r = await run(['--help'])
    expect(r.code, r.output).toBe(0)
    for (const name of Object.keys(variables)) expect(r.stdout, name).toMatch(new RegExp(`^  ${name} `, 'm'))
    expect(r.stdout).toMatch(/^ {2}PORT .*\(default: 3000\)$/m)
    expect(r.stdout).toMatch(/^ {2}DATA_DIR .*\(default: \.\/data\)$/m)
    for (const command of ['[serve]', 'migrate [--status]', 'token --sub ID', 'healthcheck [--url URL]', 'openapi']) expect(r.stdout).toContain(`taskapi ${command}`)
  }, COMMAND_MS)
})

const serveWith = async (command: string, dataDir: string) => {
  const server = await startServer({ ...env, DATA_DIR: dataDir }, [command, 'serve'], folder)
  servers.push(server)
  return server
}

/** Creates a task and reads the list back: the database is open, migrated and writable. */
async function expectWritable(command: string, server: RunningServer) {
  const token = await runIn(command, ['token', '--sub', 'first-start'], env, folder)
  expect(token.code, token.output).toBe(0)
  const headers = { authorization: `Bearer ${token.stdout.trim()}`, 'content-type': 'application/json' }
  expect((await fetch(`${server.url}/readyz`)).status).toBe(200)
  const created = await fetch(`${server.url}/api/v1/tasks`, { method: 'POST', headers, body: JSON.stringify({ title: 'after the first start' }) })
  expect(created.status, await created.clone().text()).toBe(201)
  const list = await fetch(`${server.url}/api/v1/tasks`, { headers })
  expect(list.status).toBe(200)
  expect(((await list.json()) as { title: string }[]).map((t) => t.title)).toEqual(['after the first start'])
}

describe('first start', () => {
  test('killed while the template unpacks, the next start starts over and serves', async () => {
    let dataDir = ''
    // The kill must land inside the first start: after the unpacking began (PG_VERSION written)
    // and before the database opened (the marker still there). A kill that came too late is retried.
    for (let attempt = 0; attempt < 5; attempt++) {
      dataDir = join(folder, `interrupted-${attempt}`)
      const proc = Bun.spawn([binary, 'serve'], { cwd: folder, env: { PATH: process.env.PATH ?? '', ...env, DATA_DIR: dataDir }, stdout: 'ignore', stderr: 'ignore' })
      while (!existsSync(join(dataDir, 'PG_VERSION')) && proc.exitCode === null) await Bun.sleep(0)
      proc.kill('SIGKILL')
      await proc.exited
      if (existsSync(join(dataDir, 'taskapi.first-start'))) break
      dataDir = ''
    }
    expect(dataDir, 'no kill landed inside the first start in 5 attempts').not.toBe('')

    const server = await serveWith(binary, dataDir)
    expect(server.logs.find((l) => l.message === 'database.ready'), server.stderr()).toBeDefined()
    expect(existsSync(join(dataDir, 'taskapi.first-start'))).toBe(false)
    await expectWritable(binary, server)
    expect(await server.stop('SIGTERM')).toBe(0)

    // Reopened as it is: the task is still there.
    const again = await serveWith(binary, dataDir)
    const token = (await runIn(binary, ['token', '--sub', 'first-start'], env, folder)).stdout.trim()
    const list = await fetch(`${again.url}/api/v1/tasks`, { headers: { authorization: `Bearer ${token}` } })
    expect((await list.json()) as unknown[]).toHaveLength(1)
    expect(await again.stop('SIGTERM')).toBe(0)
  }, 3 * COMMAND_MS)

  test('a template from an older build gets the newer migrations applied on top', async () => {
    // An older build: its template holds every migration but the newest (with one migration, none).
    const older = mkdtempSync(join(folder, 'older-'))
    const template = await buildTemplate(migrations.slice(0, -1), join(older, `${TEMPLATE_NAME}.tar.gz`))
    const oldBinary = join(older, 'taskapi')
    buildBinary(template, oldBinary)
    const newest = migrations.at(-1)!.tag

    const dataDir = join(folder, 'from-older-template')
    const status = await runIn(oldBinary, ['migrate', '--status'], { ...env, DATA_DIR: dataDir }, folder)
    expect(status.code, status.output).toBe(0)
    expect(status.stdout).toContain(`pending  ${newest}`)

    const server = await serveWith(oldBinary, dataDir)
    expect(server.logs).toContainEqual(expect.objectContaining({ message: 'migrations.applied', migrations: expect.stringContaining(newest) }))
    await expectWritable(oldBinary, server)
    expect(await server.stop('SIGTERM')).toBe(0)

    const after = await runIn(oldBinary, ['migrate', '--status'], { ...env, DATA_DIR: dataDir }, folder)
    expect(after.stdout).toContain(`applied  ${newest}`)
    expect(after.stdout).not.toContain('pending')
  }, 3 * COMMAND_MS)
})
