// The server as a process: acknowledged writes survive kill -9 on the embedded database, and
// SIGTERM/SIGINT let requests in flight finish before a clean exit.
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { json, newUser, signToken, SECRET } from './support/app'
import { startServer } from './support/server'

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
})
