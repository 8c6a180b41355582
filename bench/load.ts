// Load benchmark: starts the service as a real process and drives it over loopback HTTP with
// concurrent clients, per database driver. Reports requests/s, latency percentiles and the
// server's resident memory. Bounded in count and time; it stops by itself.
//
//   bun bench/load.ts                      # PGlite (in memory)
//   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test bun bench/load.ts
//   BENCH_BINARY=dist/taskapi BENCH_DATA_DIR=/tmp/d bun bench/load.ts   # the binary, on a data folder
//
// Options (environment): BENCH_SECONDS (5 per scenario), BENCH_CONCURRENCY (32), BENCH_EVENTS=1
// (an event stream open for every user during the runs, so every write also sends a NOTIFY).
import { SignJWT } from 'jose'
import { dirname, resolve } from 'node:path'
import { scratchPostgres } from '../test/support/databases'
import { startServer } from '../test/support/server'
import { memoryMiB, resetPeak } from './proc'

const SECRET = 'bench-secret-bench-secret-bench-secret'
const runId = crypto.randomUUID()
const seconds = Number(process.env.BENCH_SECONDS ?? 5)
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 32)

const binary = process.env.BENCH_BINARY ? resolve(process.env.BENCH_BINARY) : undefined
const dataDir = process.env.BENCH_DATA_DIR


let peakMiB = 0
async function run(name: string, request: (i: number) => Promise<Response>) {
  const latencies: number[] = []
  let errors = 0
  const until = performance.now() + seconds * 1000
  let counter = 0
  // Each scenario's own peak; the whole run's is kept beside it.
  peakMiB = Math.max(peakMiB, memoryMiB(server.proc.pid, 'VmHWM'))
  const peaks = resetPeak(server.proc.pid)
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const started = performance.now()
        const res = await request(counter++)
        await res.arrayBuffer()
        if (res.status >= 400) errors++
        latencies.push(performance.now() - started)
      }
    }),
  )
  latencies.sort((a, b) => a - b)
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!.toFixed(2)
  const scenarioPeak = memoryMiB(server.proc.pid, 'VmHWM')
  peakMiB = Math.max(peakMiB, scenarioPeak)
  const peak = peaks ? Math.round(scenarioPeak) : '–'
  return { name, rps: Math.round(latencies.length / seconds), p50: pct(50), p99: pct(99), errors, 'peak RSS MiB': peak }
}

const scratch = process.env.BENCH_DATABASE_URL ? await scratchPostgres(process.env.BENCH_DATABASE_URL, 'taskapi_bench') : null
const server = await startServer(
  {
    JWT_SECRET: SECRET,
    ...(dataDir && !scratch ? { DATA_DIR: dataDir } : { DATABASE_URL: scratch?.url ?? 'memory://' }),
    LOG_LEVEL: 'info', // as in production: one access-log line per request
    RATE_LIMIT_PER_IP: '0',
    RATE_LIMIT_PER_USER: '0',
  },
  ...((binary ? [[binary, 'serve'], dirname(binary)] : []) as []),
)
try {
  const users = Array.from({ length: 16 }, (_, i) => `bench-user-${i}`)
  const tokens = await Promise.all(
    users.map((sub) => new SignJWT({ sub }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET))),
  )
  const headers = (i: number) => ({ authorization: `Bearer ${tokens[i % tokens.length]}`, 'content-type': 'application/json' })
  // Seed: 200 tasks per user, so lists read real pages; 4 requests at a time per user, under the
  // service's cap of 8 in flight per user (a 429 would leave a hole in `ids`, and every later
  // request naming it would be an error).
  const ids: string[] = []
  const created = async (res: Response) => {
    if (res.status !== 201) throw new Error(`seeding: ${res.status} ${await res.text()}`)
    return ((await res.json()) as { id: string }).id
  }
  for (let u = 0; u < users.length; u++) {
    for (let n = 0; n < 200; n += 4) {
      await Promise.all(
        [n, n + 1, n + 2, n + 3].map(async (k) => {
          ids[u * 200 + k] = await created(await fetch(`${server.url}/api/v1/tasks`, { method: 'POST', headers: headers(u), body: JSON.stringify({ title: `seed ${k}`, priority: 'medium' }) }))
        }),
      )
    }
  }
  // Each user also has a list of 200 tasks, for the list-scoped page and the moves.
  const listIds: string[] = []
  const inList: string[] = []
  for (let u = 0; u < users.length; u++) {
    listIds[u] = await created(await fetch(`${server.url}/api/v1/lists`, { method: 'POST', headers: headers(u), body: JSON.stringify({ name: `list ${u}` }) }))
    for (let n = 0; n < 200; n++) {
      inList[u * 200 + n] = await created(await fetch(`${server.url}/api/v1/tasks`, { method: 'POST', headers: headers(u), body: JSON.stringify({ title: `listed ${n}`, list_id: listIds[u] }) }))
    }
  }
  // A move: request i moves one of its user's listed tasks right after another of the same list
  // (never itself: 7i + 3 and i differ mod 200, as 6i + 3 is odd).
  const listed = (i: number, n: number) => inList[(i % users.length) * 200 + (n % 200)]
  // Streams are read to the end in the background: every write then reaches one of them.
  const streams = process.env.BENCH_EVENTS === '1' ? await Promise.all(users.map((_, u) => fetch(`${server.url}/api/v1/events`, { headers: headers(u) }))) : []
  let delivered = 0
  for (const stream of streams) {
    void (async () => {
      for await (const chunk of stream.body!) delivered += new TextDecoder().decode(chunk).split('event: change').length - 1
    })().catch(() => {})
  }
  const rssIdle = memoryMiB(server.proc.pid)
  // Each user's first page's weak ETag, for the If-None-Match scenario (nothing changes them until the POSTs).
  const pageTags = await Promise.all(users.map(async (_, u) => (await fetch(`${server.url}/api/v1/tasks?limit=50`, { headers: headers(u) })).headers.get('etag')!))
  const results = [
    await run('GET /healthz', () => fetch(`${server.url}/healthz`)),
    await run('GET /api/v1/tasks/:id', (i) => fetch(`${server.url}/api/v1/tasks/${ids[((i % users.length) * 200) + (i % 200)]}`, { headers: headers(i) })),
    await run('GET /api/v1/tasks?limit=50', (i) => fetch(`${server.url}/api/v1/tasks?limit=50`, { headers: headers(i) })),
    await run('  same, If-None-Match → 304', (i) =>
      fetch(`${server.url}/api/v1/tasks?limit=50`, { headers: { ...headers(i), 'if-none-match': pageTags[i % users.length]! } }),
    ),
    await run('POST /api/v1/tasks', (i) => fetch(`${server.url}/api/v1/tasks`, { method: 'POST', headers: headers(i), body: `{"title":"bench ${i}"}` })),
    await run('  same, Idempotency-Key (new each)', (i) =>
      fetch(`${server.url}/api/v1/tasks`, { method: 'POST', headers: { ...headers(i), 'idempotency-key': `bench-${i}-${runId}` }, body: `{"title":"bench ${i}"}` }),
    ),
    await run('PATCH /api/v1/tasks/:id/toggle', (i) => fetch(`${server.url}/api/v1/tasks/${ids[((i % users.length) * 200) + (i % 200)]}/toggle`, { method: 'PATCH', headers: headers(i) })),
    await run('  same, If-Match: *', (i) =>
      fetch(`${server.url}/api/v1/tasks/${ids[((i % users.length) * 200) + (i % 200)]}/toggle`, { method: 'PATCH', headers: { ...headers(i), 'if-match': '*' } }),
    ),
    await run('GET /api/v1/tasks?list_id&sort=position&limit=50', (i) =>
      fetch(`${server.url}/api/v1/tasks?list_id=${listIds[i % users.length]}&sort=position&limit=50`, { headers: headers(i) }),
    ),
    await run('POST /api/v1/tasks/:id/move', (i) =>
      fetch(`${server.url}/api/v1/tasks/${listed(i, i)}/move`, { method: 'POST', headers: headers(i), body: JSON.stringify({ after: listed(i, i * 7 + 3) }) }),
    ),
  ]
  const rssPeak = memoryMiB(server.proc.pid)
  const database = scratch ? 'postgres (Bun.SQL)' : dataDir ? `pglite in ${dataDir}` : 'pglite (in memory)'
  console.log(`${binary ?? 'bun src/index.ts'}; driver: ${database}; ${concurrency} concurrent clients, ${seconds} s per scenario; bun ${Bun.version}`)
  console.table(results)
  console.log(`server RSS: ${rssIdle.toFixed(0)} MiB after seeding, ${rssPeak.toFixed(0)} MiB after the runs, peak ${Math.max(peakMiB, memoryMiB(server.proc.pid, 'VmHWM')).toFixed(0)} MiB`)
  if (streams.length > 0) console.log(`${streams.length} event streams open (one per user): ${delivered} change events delivered`)
} catch (error) {
  // A failed run says why the server went away, if it did.
  console.error(String(error), '\nserver exit:', server.proc.exitCode ?? server.proc.signalCode, '\n', server.stderr().slice(-4000))
  process.exitCode = 1
} finally {
  await server.stop('SIGTERM')
  await scratch?.drop()
}
