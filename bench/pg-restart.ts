// Postgres restart under load: a private Postgres cluster (initdb in a temporary folder, on a free
// port, so the shared server is never touched) serves the service while 32 clients create tasks;
// after BENCH_RESTART_AFTER_S (5) it is restarted (`pg_ctl restart -m fast`). Prints the status
// timeline per second, then checks that every task answered 201 is in the database.
//
//   bun bench/pg-restart.ts          (needs initdb and pg_ctl; run as root, it uses the postgres user)
//
// Options (environment): BENCH_SECONDS (20), BENCH_RESTART_AFTER_S (5), BENCH_CONCURRENCY (32).
import { SQL } from 'bun'
import { SignJWT } from 'jose'
import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startServer } from '../test/support/server'

const seconds = Number(process.env.BENCH_SECONDS ?? 20)
const restartAfter = Number(process.env.BENCH_RESTART_AFTER_S ?? 5)
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 32)
const SECRET = 'bench-secret-bench-secret-bench-secret'

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
const asPostgres = (args: string[]) => {
  const command = process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--', ...args] : args
  const r = Bun.spawnSync(command, { stdout: 'pipe', stderr: 'pipe' })
  if (r.exitCode !== 0) throw new Error(`${args.join(' ')}: ${r.stderr.toString()}`)
}

const dir = mkdtempSync(join(tmpdir(), 'taskapi-pg-'))
chmodSync(dir, 0o777)
const data = join(dir, 'data')
const port = await freePort()
asPostgres(['initdb', '-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8'])
const pgCtl = (...args: string[]) => asPostgres(['pg_ctl', '-D', data, '-l', join(dir, 'log'), '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`, '-w', ...args])
pgCtl('start')
const url = `postgres://postgres@127.0.0.1:${port}/postgres`
const server = await startServer({ JWT_SECRET: SECRET, DATABASE_URL: url, RATE_LIMIT_PER_IP: '0', RATE_LIMIT_PER_USER: '0', DB_CONNECT_TIMEOUT_S: '2', LOG_LEVEL: 'info' })
try {
  // One user per client (one user's requests in flight are capped at 8).
  const tokens = await Promise.all(
    Array.from({ length: concurrency }, (_, i) =>
      new SignJWT({ sub: `restart-${i}` }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET)),
    ),
  )
  const created: string[] = []
  const timeline = new Map<number, Map<string, number>>()
  const t0 = performance.now()
  const until = t0 + seconds * 1000
  let n = 0
  let restartMs = 0
  const restart = (async () => {
    await Bun.sleep(restartAfter * 1000)
    const started = performance.now()
    pgCtl('restart', '-m', 'fast')
    restartMs = performance.now() - started
  })()
  await Promise.all(
    Array.from({ length: concurrency }, async (_, client) => {
      while (performance.now() < until) {
        const second = Math.floor((performance.now() - t0) / 1000)
        let status: string
        try {
          const res = await fetch(`${server.url}/api/v1/tasks`, {
            method: 'POST',
            headers: { authorization: `Bearer ${tokens[client]}`, 'content-type': 'application/json' },
            body: JSON.stringify({ title: `restart ${n++}` }),
          })
          const body = (await res.json()) as { id?: string }
          if (res.status === 201) created.push(body.id!)
          status = String(res.status)
          if (res.status === 503) await Bun.sleep(50)
        } catch (error) {
          status = `error:${(error as { code?: string }).code ?? (error as Error).name}`
        }
        const row = timeline.get(second) ?? new Map<string, number>()
        row.set(status, (row.get(status) ?? 0) + 1)
        timeline.set(second, row)
      }
    }),
  )
  await restart
  console.log(`Postgres restart (pg_ctl restart -m fast, took ${restartMs.toFixed(0)} ms) at ${restartAfter} s, ${concurrency} clients creating tasks for ${seconds} s`)
  console.log('second  statuses')
  for (const [second, row] of [...timeline].sort(([a], [b]) => a - b)) console.log(`${String(second).padStart(6)}  ${JSON.stringify(Object.fromEntries(row))}`)
  const sql = new SQL(url, { max: 1 })
  const stored = new Set((await sql`select id from tasks where user_id like ${'restart-%'}`).map((r: { id: string }) => r.id))
  await sql.close()
  const missing = created.filter((id) => !stored.has(id))
  console.log(`201s: ${created.length}; found in the database afterwards: ${created.length - missing.length}; missing: ${missing.length}`)
  console.log(`stdout lines that are not JSON: ${server.logs.filter((l) => 'raw' in l).length}; 500s: ${server.logs.filter((l) => l.status === 500).length}`)
} finally {
  await server.stop()
  pgCtl('stop', '-m', 'fast')
  rmSync(dir, { recursive: true, force: true })
}
