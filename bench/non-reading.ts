// Clients that never read (issue 9, item 1): N connections from one user and one address each ask
// for a 1,000-task page of maximal tasks and never read a byte of the answer, while another user
// lists their own tasks in a loop. Reports the server's resident memory (peak and after) and the
// other user's latency. Bounded: BENCH_SECONDS of attack, then everything is closed.
//
//   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test bun bench/non-reading.ts
//
// Options (environment): BENCH_CONNECTIONS (300), BENCH_SECONDS (30), BENCH_PACE_MS (0: all at
// once; e.g. 50: one connection every 50 ms, each served), BENCH_DATABASE_URL (unset:
// embedded PGlite in memory). Default rate limits stay on, as in production.
import { SQL } from 'bun'
import { SignJWT } from 'jose'
import { connect, type Socket } from 'node:net'
import { cpus, loadavg } from 'node:os'
import { scratchPostgres } from '../test/support/databases'
import { startServer } from '../test/support/server'
import { memoryMiB } from './proc'

const SECRET = 'bench-secret-bench-secret-bench-secret'
const connections = Number(process.env.BENCH_CONNECTIONS ?? 300)
const seconds = Number(process.env.BENCH_SECONDS ?? 30)
// 0: all connections at once (most are refused by the in-flight cap); above 0, one connection per
// this many ms, so every request is served and the page byte budget is what bounds memory.
const paceMs = Number(process.env.BENCH_PACE_MS ?? 0)
const databaseUrl = process.env.BENCH_DATABASE_URL

const token = (sub: string) => new SignJWT({ sub }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET))

const scratch = databaseUrl ? await scratchPostgres(databaseUrl, 'taskapi_bench') : undefined
// Attacker and bystander come from two addresses (as X-Forwarded-For, trusted here): on loopback
// they would otherwise share one address's rate limit.
const server = await startServer({ JWT_SECRET: SECRET, DATABASE_URL: scratch?.url ?? 'memory://', LOG_LEVEL: 'info', TRUST_PROXY: 'X-Forwarded-For' })
const pid = server.proc.pid
try {
  // 1,000 maximal tasks for the attacker: 200-emoji titles, 2,000-emoji descriptions (~9 KB each as JSON).
  const attacker = 'attacker'
  const title = '😀'.repeat(200)
  const description = '😀'.repeat(2000)
  if (scratch) {
    const sql = new SQL(scratch.url, { max: 1 })
    await sql`insert into tasks (id, user_id, title, description) select gen_random_uuid(), ${attacker}, ${title}, ${description} from generate_series(1, 1000)`
    await sql.close()
  } else {
    // PGlite in memory: only the API reaches it, and the default per-user budget stops seeding at
    // 600 a minute; Postgres (BENCH_DATABASE_URL) is the intended target.
    const auth = { authorization: `Bearer ${await token(attacker)}`, 'content-type': 'application/json', 'x-forwarded-for': '10.9.0.1' }
    for (let i = 0; i < 1000; i++) await fetch(`${server.url}/api/v1/tasks`, { method: 'POST', headers: auth, body: JSON.stringify({ title, description }) })
  }
  const other = 'bystander'
  const otherAuth = { authorization: `Bearer ${await token(other)}`, 'x-forwarded-for': '10.9.0.2' }
  for (let i = 0; i < 20; i++) await fetch(`${server.url}/api/v1/tasks`, { method: 'POST', headers: { ...otherAuth, 'content-type': 'application/json' }, body: '{"title":"mine"}' })

  const rateLimited = () => server.logs.filter((l) => l.message === 'request' && l.status === 429 && l.user_id === attacker).length
  const probe = async (ms: number) => {
    const latencies: number[] = []
    const statuses = new Map<number, number>()
    const until = performance.now() + ms
    while (performance.now() < until) {
      const started = performance.now()
      const res = await fetch(`${server.url}/api/v1/tasks`, { headers: otherAuth })
      await res.arrayBuffer()
      latencies.push(performance.now() - started)
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
      // ~9 requests a second: within the default budget of 600 a minute per user.
      await Bun.sleep(110)
    }
    latencies.sort((a, b) => a - b)
    const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!.toFixed(1)
    return { n: latencies.length, p50: pct(50), p99: pct(99), max: latencies.at(-1)!.toFixed(1), statuses: Object.fromEntries(statuses) }
  }

  const baseline = await probe(3000)
  const limitedBefore = rateLimited()
  const rssBefore = memoryMiB(pid)

  const attackerToken = await token(attacker)
  const url = new URL(server.url)
  const sockets: Socket[] = []
  const request = `GET /api/v1/tasks?limit=1000 HTTP/1.1\r\nHost: ${url.host}\r\nX-Forwarded-For: 10.9.0.1\r\nAuthorization: Bearer ${attackerToken}\r\n\r\n`
  let peak = rssBefore
  const sampler = setInterval(() => {
    try {
      peak = Math.max(peak, memoryMiB(pid))
    } catch {}
  }, 100)
  const opening = (async () => {
    for (let i = 0; i < connections; i++) {
      const socket = connect({ host: url.hostname, port: Number(url.port) })
      socket.on('error', () => {})
      // Never read: paused before the first byte arrives.
      socket.pause()
      socket.write(request)
      sockets.push(socket)
      if (paceMs > 0) await Bun.sleep(paceMs)
    }
  })()
  const during = await probe(seconds * 1000)
  await opening
  clearInterval(sampler)
  const rssDuring = memoryMiB(pid)
  for (const s of sockets) s.destroy()
  await Bun.sleep(2000)
  const rssAfter = memoryMiB(pid)

  console.log(`cores ${cpus().length}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}, database ${scratch ? 'postgres' : 'pglite'}`)
  console.log(`${connections} non-reading connections${paceMs ? `, one every ${paceMs} ms,` : ''} for ${seconds} s, each GET /api/v1/tasks?limit=1000 of 1,000 maximal tasks`)
  console.log(`server RSS MiB: before ${rssBefore.toFixed(0)}, peak ${peak.toFixed(0)} (+${(peak - rssBefore).toFixed(0)}), at end ${rssDuring.toFixed(0)}, 2 s after closing ${rssAfter.toFixed(0)}`)
  console.log(`other user's list ms, baseline: p50 ${baseline.p50} p99 ${baseline.p99} max ${baseline.max} (n ${baseline.n}) ${JSON.stringify(baseline.statuses)}`)
  console.log(`attacker requests answered 429 (in-flight cap): ${rateLimited() - limitedBefore} of ${connections}`)
  console.log(`other user's list ms, during:   p50 ${during.p50} p99 ${during.p99} max ${during.max} (n ${during.n}) ${JSON.stringify(during.statuses)}`)
} finally {
  await server.stop()
  await scratch?.drop()
}
