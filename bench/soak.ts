// Soak: BENCH_CONNECTIONS (1,000) concurrent keep-alive connections of mixed traffic for
// BENCH_SECONDS (60) against the service on Postgres (or PGlite), rate limits off. Reports
// requests/s, non-2xx by status, p50/p99/max latency, and the server's resident memory and open
// files before, at the end of and 5 s after the load.
//
//   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test bun bench/soak.ts
//
// (Bun's fetch opens at most BENCH_CONNECTIONS sockets to one host only when
// BUN_CONFIG_MAX_HTTP_REQUESTS allows it: the script re-runs itself with it set.)
import { SignJWT } from 'jose'
import { readdirSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { scratchPostgres } from '../test/support/databases'
import { startServer } from '../test/support/server'
import { memoryMiB } from './proc'

const connections = Number(process.env.BENCH_CONNECTIONS ?? 1000)
const seconds = Number(process.env.BENCH_SECONDS ?? 60)
if (process.env.BUN_CONFIG_MAX_HTTP_REQUESTS === undefined) {
  const child = Bun.spawn([process.execPath, import.meta.path], {
    env: { ...process.env, BUN_CONFIG_MAX_HTTP_REQUESTS: String(Math.max(connections + 24, 256)) },
    stdio: ['inherit', 'inherit', 'inherit'],
  })
  process.exit(await child.exited)
}

const SECRET = 'bench-secret-bench-secret-bench-secret'
const databaseUrl = process.env.BENCH_DATABASE_URL
// One user per connection, as real traffic from many clients: one user's requests in flight are
// capped (8), and a soak is not the place to test that cap.
const USERS = connections

const openFiles = (pid: number) => readdirSync(`/proc/${pid}/fd`).length
const snapshot = (pid: number) => `RSS ${memoryMiB(pid).toFixed(0)} MiB, ${openFiles(pid)} open files`

const scratch = databaseUrl ? await scratchPostgres(databaseUrl, 'taskapi_bench') : undefined
const server = await startServer({
  JWT_SECRET: SECRET,
  DATABASE_URL: scratch?.url ?? 'memory://',
  RATE_LIMIT_PER_IP: '0',
  RATE_LIMIT_PER_USER: '0',
  LOG_LEVEL: 'info',
  ...(scratch && { DB_POOL_MAX: '20' }),
})
const pid = server.proc.pid
try {
  const tokens = await Promise.all(
    Array.from({ length: USERS }, (_, i) =>
      new SignJWT({ sub: `soak-${i}` }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('2h').sign(new TextEncoder().encode(SECRET)),
    ),
  )
  const ids: string[][] = tokens.map(() => [])
  // A few tasks per user first, so reads have something to read.
  await Promise.all(
    tokens.map(async (token, u) => {
      for (let i = 0; i < 5; i++) {
        const res = await fetch(`${server.url}/api/v1/tasks`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: `{"title":"seed ${i}"}` })
        ids[u]!.push(((await res.json()) as { id: string }).id)
      }
    }),
  )
  const before = snapshot(pid)
  const statuses = new Map<string, number>()
  const latencies: number[] = []
  let counter = 0
  const until = performance.now() + seconds * 1000
  await Promise.all(
    Array.from({ length: connections }, async (_, c) => {
      while (performance.now() < until) {
        const u = c % USERS
        counter++
        const headers = { authorization: `Bearer ${tokens[u]}`, 'content-type': 'application/json' }
        const id = ids[u]![counter % ids[u]!.length]!
        const roll = counter % 10
        const started = performance.now()
        let status: string
        try {
          const res =
            roll < 5 ? await fetch(`${server.url}/api/v1/tasks?limit=20`, { headers })
            : roll < 7 ? await fetch(`${server.url}/api/v1/tasks`, { method: 'POST', headers, body: `{"title":"soak ${counter}","priority":"high"}` })
            : roll < 8 ? await fetch(`${server.url}/api/v1/tasks/${id}`, { headers })
            : roll < 9 ? await fetch(`${server.url}/api/v1/tasks/${id}/toggle`, { method: 'PATCH', headers })
            : await fetch(`${server.url}/api/v1/tasks/stats`, { headers })
          await res.arrayBuffer()
          status = String(res.status)
        } catch (error) {
          status = `error:${(error as { code?: string }).code ?? (error as Error).name}`
        }
        latencies.push(performance.now() - started)
        statuses.set(status, (statuses.get(status) ?? 0) + 1)
      }
    }),
  )
  const atEnd = snapshot(pid)
  await Bun.sleep(5000)
  const after = snapshot(pid)
  latencies.sort((a, b) => a - b)
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!.toFixed(1)
  const non2xx = [...statuses].filter(([s]) => !s.startsWith('2'))
  console.log(`cores ${cpus().length}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}, database ${scratch ? 'postgres' : 'pglite'}`)
  console.log(`${connections} connections, ${seconds} s, mixed (50% list, 20% create, 10% get, 10% toggle, 10% stats), one user each`)
  console.log(`${latencies.length} requests, ${(latencies.length / seconds).toFixed(0)} req/s; latency ms p50 ${pct(50)} p99 ${pct(99)} max ${latencies.at(-1)!.toFixed(1)}`)
  console.log(`statuses ${JSON.stringify(Object.fromEntries(statuses))}; non-2xx ${non2xx.reduce((n, [, k]) => n + k, 0)}`)
  console.log(`server before: ${before}; at end: ${atEnd}; 5 s after: ${after}`)
  const unparsed = server.logs.filter((l) => 'raw' in l).length
  console.log(`stdout lines that are not JSON: ${unparsed}; 500s logged: ${server.logs.filter((l) => l.status === 500).length}`)
} finally {
  await server.stop()
  await scratch?.drop()
}
