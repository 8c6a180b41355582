// The server as a process: acknowledged writes survive kill -9 on the embedded database, and
// SIGTERM/SIGINT let requests in flight finish before a clean exit.
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { json, newUser, signToken, SECRET } from './support/app'
import { closedPort, repoRoot, serverEnv, startServer } from './support/server'

const dirs: string[] = []
const dataDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'taskapi-serve-'))
  dirs.push(dir)
  return dir
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))

describe('durability of the embedded database', () => {
  test('every task acknowledged with 201 is there after kill -9, and nothing is half-written', async () => {
    const env = { JWT_SECRET: SECRET, DATA_DIR: dataDir() }
    const user = newUser()
    const headers = { authorization: `Bearer ${await signToken({ sub: user })}`, 'content-type': 'application/json' }
    const first = await startServer(env)
    const acknowledged = new Map<string, string>()
    const create = async (title: string) => {
      const res = await fetch(`${first.url}/api/v1/tasks`, { method: 'POST', headers, body: JSON.stringify({ title, description: `${title} `.repeat(50) }) })
      if (res.status === 201) acknowledged.set((await json(res)).id, title)
    }
    for (let i = 0; i < 20; i++) await create(`sequential ${i}`)
    // More writes in flight when the process dies: each either landed whole or not at all.
    const inFlight = Array.from({ length: 10 }, (_, i) => create(`in flight ${i}`).catch(() => undefined))
    await Bun.sleep(5)
    expect(await first.stop('SIGKILL')).not.toBe(0)
    await Promise.all(inFlight)

    const second = await startServer(env)
    try {
      const res = await fetch(`${second.url}/api/v1/tasks?limit=1000`, { headers })
      expect(res.status).toBe(200)
      const tasks = await json<{ id: string; title: string; description: string }[]>(res)
      const found = new Map(tasks.map((t) => [t.id, t]))
      for (const [id, title] of acknowledged) {
        expect(found.get(id)?.title, `acknowledged task ${title}`).toBe(title)
      }
      for (const task of tasks) {
        expect(task.title).toMatch(/^(sequential|in flight) \d+$/)
        expect(task.description).toBe(`${task.title} `.repeat(50))
      }
      expect(acknowledged.size).toBeGreaterThanOrEqual(20)
    } finally {
      await second.stop('SIGKILL')
    }
  }, 90_000)
})

describe('graceful shutdown', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`${signal}: a request in flight completes, new ones are refused, the exit is 0 within 10 s`, async () => {
      const server = await startServer({ JWT_SECRET: SECRET, DATABASE_URL: 'memory://' })
      const token = await signToken({ sub: newUser() })
      // A slow request: its body arrives in two parts, the second after the signal.
      let send!: (chunk: string) => void
      let end!: () => void
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          send = (chunk) => controller.enqueue(new TextEncoder().encode(chunk))
          end = () => controller.close()
        },
      })
      const slow = fetch(`${server.url}/api/v1/tasks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body,
        duplex: 'half',
      } as RequestInit)
      send('{"title": "started before ')
      await Bun.sleep(200)

      const signalled = performance.now()
      server.proc.kill(signal)
      await Bun.sleep(300)
      const refused = await fetch(`${server.url}/healthz`).then(
        (r) => r.status,
        () => 'refused',
      )
      expect(refused).toBe('refused')
      send('the signal"}')
      end()

      const res = await slow
      expect(res.status, await res.clone().text()).toBe(201)
      expect((await json(res)).title).toBe('started before the signal')
      expect(await server.proc.exited).toBe(0)
      expect(performance.now() - signalled).toBeLessThan(10_000)
      expect(server.logs).toContainEqual(expect.objectContaining({ message: 'server.stopped', signal }))
    }, 60_000)
  }

  // /healthz answers before the app and the database are loaded; a signal in that window (an
  // orchestrator stopping a service it has just started) is a clean stop too, not death by signal.
  test('SIGTERM as soon as /healthz first answers, before the database is open: exit 0, and the folder opens again', async () => {
    const port = await closedPort()
    const folder = dataDir()
    const env = serverEnv({ PORT: String(port), JWT_SECRET: SECRET, DATA_DIR: folder })
    const proc = Bun.spawn(['bun', join(repoRoot, 'src/index.ts'), 'serve'], { env, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' })
    const deadline = performance.now() + 30_000
    let status: number | undefined
    while (status === undefined && proc.exitCode === null && performance.now() < deadline) {
      status = await fetch(`http://127.0.0.1:${port}/healthz`).then(
        (r) => r.status,
        () => Bun.sleep(1).then(() => undefined),
      )
    }
    expect(status).toBe(200)
    proc.kill('SIGTERM')
    expect(await proc.exited).toBe(0)
    const logs = (await new Response(proc.stdout).text()).trim().split('\n').map((line) => JSON.parse(line) as { message: string })
    const messages = logs.map((l) => l.message)
    expect(messages).toContain('server.stopping')
    expect(messages.at(-1)).toBe('server.stopped')
    expect(await new Response(proc.stderr).text()).toBe('')

    const again = await startServer({ JWT_SECRET: SECRET, DATA_DIR: folder })
    try {
      const res = await fetch(`${again.url}/readyz`)
      expect(res.status).toBe(200)
    } finally {
      expect(await again.stop('SIGTERM')).toBe(0)
    }
  }, 60_000)
})
