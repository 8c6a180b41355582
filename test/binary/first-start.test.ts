// The first start on an empty data folder, which unpacks the migrated template embedded in the
// binary: killed half-way, the next start starts over instead of calling the folder corrupt; and a
// template from an older build (fewer migrations) gets the newer ones applied on top.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { TEMPLATE_NAME } from '../../src/db/client'
import { migrations } from '../../src/db/migrate'
import { buildBinary, buildTemplate } from '../../scripts/build'
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
const serve = async (command: string, dataDir: string) => {
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

    const server = await serve(binary, dataDir)
    expect(server.logs.find((l) => l.message === 'database.ready'), server.stderr()).toBeDefined()
    expect(existsSync(join(dataDir, 'taskapi.first-start'))).toBe(false)
    await expectWritable(binary, server)
    expect(await server.stop('SIGTERM')).toBe(0)

    // Reopened as it is: the task is still there.
    const again = await serve(binary, dataDir)
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

    const server = await serve(oldBinary, dataDir)
    expect(server.logs).toContainEqual(expect.objectContaining({ message: 'migrations.applied', migrations: expect.stringContaining(newest) }))
    await expectWritable(oldBinary, server)
    expect(await server.stop('SIGTERM')).toBe(0)

    const after = await runIn(oldBinary, ['migrate', '--status'], { ...env, DATA_DIR: dataDir }, folder)
    expect(after.stdout).toContain(`applied  ${newest}`)
    expect(after.stdout).not.toContain('pending')
  }, 3 * COMMAND_MS)
})
