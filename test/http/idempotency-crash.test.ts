// The kept response commits with its write, through a real crash: keyed creates are in flight when
// the server process gets kill -9; after a restart, retrying every key leaves exactly one task per
// key, and a key whose 201 was received replays that very task.
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { json, newUser, signToken, SECRET } from '../support/app'
import { hasPostgres, neonProxy, scratchPostgres } from '../support/databases'
import { startServer } from '../support/server'

const dirs: string[] = []
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))

interface Setup {
  name: string
  env(): Promise<{ env: Record<string, string>; drop(): Promise<void> }>
}

const setups: Setup[] = [
  {
    name: 'pglite',
    async env() {
      const dir = mkdtempSync(join(tmpdir(), 'taskapi-idem-'))
      dirs.push(dir)
      return { env: { DATA_DIR: dir }, drop: async () => {} }
    },
  },
  ...(hasPostgres
    ? [
        { name: 'postgres', extra: () => ({}) },
        { name: 'neon', extra: () => ({ DB_DRIVER: 'neon', NEON_WS_PROXY: neonProxy().address }) },
      ].map(({ name, extra }) => ({
        name,
        async env() {
          const scratch = await scratchPostgres()
          return { env: { DATABASE_URL: scratch.url, ...extra() }, drop: scratch.drop }
        },
      }))
    : []),
]

const KEYS = 40

for (const setup of setups) {
  describe(`Idempotency-Key through kill -9 [${setup.name}]`, () => {
    test('retrying every key after a crash and restart leaves exactly one task per key', async () => {
      const { env: dbEnv, drop } = await setup.env()
      const env = { JWT_SECRET: SECRET, ...dbEnv }
      // Five users with eight keys each: every create is in flight at once (the service lets one
      // user have at most 8 requests in flight).
      const users = await Promise.all(
        Array.from({ length: KEYS / 8 }, async () => {
          const sub = newUser()
          return { authorization: `Bearer ${await signToken({ sub })}`, 'content-type': 'application/json' }
        }),
      )
      const keys = Array.from({ length: KEYS }, (_, i) => `crash-${i}-${crypto.randomUUID()}`)
      const headersOf = (key: string) => users[keys.indexOf(key) % users.length]!
      const create = (url: string, key: string) =>
        fetch(`${url}/api/v1/tasks`, { method: 'POST', headers: { ...headersOf(key), 'idempotency-key': key }, body: JSON.stringify({ title: key }) })
      try {
        const first = await startServer(env)
        const received = new Map<string, string>()
        const inFlight = keys.map((key) =>
          create(first.url, key)
            .then(async (res) => {
              if (res.status === 201) received.set(key, (await json(res)).id)
            })
            .catch(() => undefined),
        )
        // Die once a quarter of the creates are answered and others are still running.
        const deadline = Date.now() + 10_000
        while (received.size < KEYS / 4 && Date.now() < deadline) await Bun.sleep(1)
        expect(await first.stop('SIGKILL')).not.toBe(0)
        await Promise.all(inFlight)
        expect(received.size).toBeGreaterThan(0)

        const second = await startServer(env)
        let replayed = 0
        try {
          for (const key of keys) {
            let res = await create(second.url, key)
            // A lock held by the dead process's connection goes as soon as the database notices.
            for (let i = 0; res.status === 409 && i < 100; i++) {
              await Bun.sleep(100)
              res = await create(second.url, key)
            }
            expect(res.status, await res.clone().text()).toBe(201)
            const task = await json(res)
            expect(task.title).toBe(key)
            if (res.headers.get('idempotent-replayed') === 'true') replayed++
            if (received.has(key)) {
              expect(res.headers.get('idempotent-replayed'), key).toBe('true')
              expect(task.id).toBe(received.get(key)!)
            }
          }
          for (const headers of users) {
            const listed = await json<{ title: string }[]>(await fetch(`${second.url}/api/v1/tasks?limit=1000`, { headers }))
            expect(listed.map((t) => t.title).sort()).toEqual(keys.filter((key) => headersOf(key) === headers).sort())
          }
          expect(replayed).toBeGreaterThanOrEqual(received.size)
        } finally {
          await second.stop('SIGKILL')
        }
      } finally {
        await drop()
      }
    }, 120_000)
  })
}
