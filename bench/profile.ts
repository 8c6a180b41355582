// Where a request's CPU time goes: starts `bun --cpu-prof src/index.ts serve` on a scratch Postgres
// database with every feature on (access log at info, rate limits on, a CORS origin allowed),
// seeds it, drives one scenario with wrk, stops the server with SIGINT (which writes the profile)
// and prints the JavaScript self time summed by function and by file, plus the server's CPU time
// per request (from /proc, the whole run, seeding excluded).
//
//   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test bun bench/profile.ts get
//
// Scenarios: get (one task), list (a page of 20), create, toggle, move (to the top of its list),
// changes (a page of 50 changes from the start of the log). Options (environment):
// BENCH_SECONDS (10), BENCH_CONNECTIONS (50), BENCH_TOP (30 rows), BENCH_TASKAPI_DIR (the
// checkout to run; this one by default), BENCH_PROFILE_KEEP=1 keeps the .cpuprofile, BENCH_CPU_PROF=0
// runs without the profiler (for the req/s and CPU figures alone), BENCH_PIN=0 pins nothing.
import { SignJWT } from 'jose'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { scratchPostgres } from '../test/support/databases'
import { repoRoot, startServer } from '../test/support/server'
import { cpuMicros } from './proc'

const scenario = process.argv[2] ?? 'get'
const seconds = Number(process.env.BENCH_SECONDS ?? 10)
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50)
const top = Number(process.env.BENCH_TOP ?? 30)
const dir = resolve(process.env.BENCH_TASKAPI_DIR ?? repoRoot)
const profiling = process.env.BENCH_CPU_PROF !== '0'
// The server on core 0, wrk on core 1 (Postgres wherever the kernel puts it), as bench/compare.ts.
const pin = (core: string) => (process.env.BENCH_PIN === '0' ? [] : ['taskset', '-c', core])
const SECRET = 'bench-secret-bench-secret-bench-secret'
if (!process.env.BENCH_DATABASE_URL) throw new Error('BENCH_DATABASE_URL is not set')

const scratch = await scratchPostgres(process.env.BENCH_DATABASE_URL, 'taskapi_profile')
const profDir = mkdtempSync(join(tmpdir(), 'taskapi-prof-'))
const server = await startServer(
  {
    JWT_SECRET: SECRET,
    DATABASE_URL: scratch.url,
    LOG_LEVEL: 'info',
    RATE_LIMIT_PER_IP: '1000000',
    RATE_LIMIT_PER_USER: '1000000',
    CORS_ORIGINS: 'https://app.example.com',
  },
  [...pin('0'), 'bun', ...(profiling ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []), join(dir, 'src/index.ts'), 'serve'],
  dir,
)
try {
  const users = Array.from({ length: 16 }, (_, i) => `profile-user-${i}`)
  const tokens = await Promise.all(
    users.map((sub) => new SignJWT({ sub }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET))),
  )
  const auth = (u: number) => ({ authorization: `Bearer ${tokens[u]}`, 'content-type': 'application/json' })
  const ids: string[][] = users.map(() => [])
  // One request per user at a time (a user may have 8 in flight).
  for (let n = 0; n < 50; n++) {
    await Promise.all(
      users.map(async (_, u) => {
        const res = await fetch(`${server.url}/api/v1/tasks`, { method: 'POST', headers: auth(u), body: JSON.stringify({ title: `seed ${n}`, priority: 'medium', due_at: '2026-12-01T10:00:00.000Z' }) })
        if (res.status !== 201) throw new Error(`seeding: ${res.status} ${await res.text()}`)
        ids[u]![n] = ((await res.json()) as { id: string }).id
      }),
    )
  }
  // The changes page: every change from the start of the log (50 per page).
  const since = Buffer.from(JSON.stringify([0, 0, Math.floor(Date.now() / 1000)])).toString('base64url')
  // wrk's script: request i goes to user i mod 16, on one of that user's tasks.
  // (Users interleaved: one user has at most 8 requests in flight.)
  const requests = Array.from({ length: 10 }).flatMap((_, n) =>
    users.map((_, u) => {
      const id = ids[u]![n]!
      const paths: Record<string, string> = {
        get: `/api/v1/tasks/${id}`,
        toggle: `/api/v1/tasks/${id}/toggle`,
        list: '/api/v1/tasks?limit=20',
        create: '/api/v1/tasks',
        move: `/api/v1/tasks/${id}/move`,
        changes: `/api/v1/changes?since=${since}&limit=50`,
      }
      const path = paths[scenario]
      if (path === undefined) throw new Error(`unknown scenario ${scenario}: ${Object.keys(paths).join(', ')}`)
      const method = scenario === 'toggle' ? 'PATCH' : scenario === 'create' || scenario === 'move' ? 'POST' : 'GET'
      // A move with no anchor puts the task at the top of its list.
      const body = scenario === 'create' ? '{"title":"profiled","priority":"high"}' : scenario === 'move' ? '{}' : ''
      return { path, method, body, token: tokens[u]! }
    }),
  )
  const first = requests[0]!
  const check = await fetch(server.url + first.path, { method: first.method, headers: auth(0), body: first.body || undefined })
  if (!check.ok) throw new Error(`${first.method} ${first.path}: ${check.status} ${await check.text()}`)
  const lua = join(profDir, 'script.lua')
  writeFileSync(
    lua,
    // Formatted in init(): wrk knows the Host header only then.
    `local reqs = {}
init = function(args)
${requests.map((r) => `table.insert(reqs, wrk.format(${JSON.stringify(r.method)}, ${JSON.stringify(r.path)}, {["Authorization"] = "Bearer ${r.token}", ["Content-Type"] = "application/json", ["Origin"] = "https://app.example.com"}, ${JSON.stringify(r.body)}))`).join('\n')}
end
local i = 0
request = function()
  i = i + 1
  return reqs[(i % #reqs) + 1]
end
`,
  )
  const before = cpuMicros(server.proc.pid)
  const wrk = Bun.spawnSync([...pin('1'), 'wrk', '-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '-s', lua, server.url], { stdout: 'pipe', stderr: 'pipe' })
  const out = wrk.stdout.toString()
  const cpuMs = (cpuMicros(server.proc.pid) - before) / 1000
  const total = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0)
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0)
  console.log(`${dir}: ${scenario}, wrk -c${connections} ${seconds} s; bun ${Bun.version}; load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`)
  console.log(`${(total / seconds).toFixed(0)} req/s, ${non2xx} non-2xx, server CPU ${((cpuMs * 1000) / total).toFixed(0)} µs/request; latency: ${/50%\s+(\S+)/.exec(out)?.[1]} p50, ${/99%\s+(\S+)/.exec(out)?.[1]} p99`)
  await server.stop('SIGINT')
  if (profiling) {
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'))
    if (!file) throw new Error(`no profile written in ${profDir}:\n${server.stderr()}`)
    summarize(JSON.parse(readFileSync(join(profDir, file), 'utf8')))
    if (process.env.BENCH_PROFILE_KEEP === '1') console.log(`profile: ${join(profDir, file)}`)
  }
} finally {
  if (server.proc.exitCode === null) await server.stop('SIGKILL')
  await scratch.drop()
  if (process.env.BENCH_PROFILE_KEEP !== '1') rmSync(profDir, { recursive: true, force: true })
}

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
}

/** Self time by function and by file, as shares of all samples (idle and GC included). */
function summarize(profile: { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const byFunction = new Map<string, number>()
  const byFile = new Map<string, number>()
  let all = 0
  let idle = 0
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i + 1] ?? 0
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame
    all += dt
    if (functionName === '(idle)' || functionName === '(program)') idle += dt
    const file = url.includes('/node_modules/') ? url.slice(url.lastIndexOf('/node_modules/') + 14) : url.startsWith('/') ? relative(dir, url) : url || '(native)'
    const fn = `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + dt)
    const pkg = url.includes('/node_modules/') ? file.split('/').slice(0, file.startsWith('@') ? 2 : 1).join('/') : file
    byFile.set(pkg, (byFile.get(pkg) ?? 0) + dt)
  })
  const busy = all - idle
  const table = (m: Map<string, number>) =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, v]) => `${((v / busy) * 100).toFixed(1).padStart(5)} %  ${k}`).join('\n')
  console.log(`\nprofiled ${(all / 1e6).toFixed(1)} s, busy (not idle/program) ${(busy / 1e6).toFixed(1)} s; shares of busy time\n\nby function:\n${table(byFunction)}\n\nby file or package:\n${table(byFile)}`)
}
