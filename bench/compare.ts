// The comparative benchmark (issue 16): taskapi against a raw baseline server (bench/baseline/
// server.ts: Bun.serve + Bun.SQL, no framework) on one Postgres and one data set, each pinned to
// core 0 while wrk drives it from core 1, scenario by scenario on one server then the next, in
// rounds whose order alternates. A middle rung, the baseline's handlers served through Elysia
// (bench/baseline/elysia.ts), shows what the framework alone costs. Prints, per scenario, the
// servers' requests/s, their share of the baseline's, p50/p99, CPU per request (the server's, how
// busy its core was, and Postgres's), and resident memory after start and at peak, per round and
// combined.
//
//   flock /tmp/taskapi-heavy.lock bun bench/compare.ts
//
// Options (environment):
//   BENCH_DATABASE_URL  Postgres server to make the scratch database on (postgres://postgres@127.0.0.1:5432/test)
//   BENCH_SECONDS       measured seconds per scenario (10)
//   BENCH_WARMUP        unmeasured seconds of the same load before each (2)
//   BENCH_ROUNDS        rounds; in each, every scenario runs on every server back to back, the order reversed every round (3)
//   BENCH_ELYSIA        0 leaves out the middle rung (baseline handlers on Elysia)
//   BENCH_TASKAPI_ENV   space-separated NAME=value pairs added to taskapi's environment, for a variant
//                       (say LOG_LEVEL=warn to see what the access log costs); printed above the tables
//   BENCH_SCENARIOS     comma-separated subset of: get,list20,create,toggle,mixed,list1000,move,listpage,changes
//   BENCH_TASKAPI_DIR   the taskapi checkout to run (this one); it also migrates the database
//   BENCH_CONNECTIONS   wrk connections (50; list1000 always uses 4)
//   BENCH_COMPILED      0 runs the three servers from source (`bun file.ts`); by default each runs as
//                       what is deployed, an executable from `bun build --compile` (taskapi's made by
//                       `bun run build` in its checkout, dist/taskapi; the other two with the same flags)
//
// Every scenario is first checked with one request of each kind against each server (exact status
// and shape); a scenario in which wrk saw a non-2xx/3xx answer or a socket error is flagged in the
// tables and makes the exit code 1. The scratch database is dropped and the servers stopped at the
// end, on failure and on Ctrl-C.
import { SQL, type Subprocess } from 'bun'
import { generateNKeysBetween } from 'fractional-indexing'
import { SignJWT } from 'jose'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { FLAGS as BUILD_FLAGS } from '../scripts/build'
import { scratchPostgres } from '../test/support/databases'
import { cpuMeter, cpuMicros, memoryMiB, resetPeak } from './proc'
import { median } from './stats'

const repo = resolve(import.meta.dir, '..')
const serverUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const seconds = Number(process.env.BENCH_SECONDS ?? 10)
const warmup = Number(process.env.BENCH_WARMUP ?? 2)
const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50)
const taskapiDir = resolve(process.env.BENCH_TASKAPI_DIR ?? repo)
const taskapiEnv = Object.fromEntries((process.env.BENCH_TASKAPI_ENV ?? '').split(/\s+/).filter(Boolean).map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]))
const servers: ServerName[] = process.env.BENCH_ELYSIA === '0' ? ['baseline', 'taskapi'] : ['baseline', 'elysia', 'taskapi']
const SECRET = 'bench-compare-secret-bench-compare-secret-0123456789'

const USERS = 1000
const INBOX = 25 // of each user's 50 tasks, 25 in no list…
const LISTED = 25 // …and 25 in the user's one list
const BIG_TASKS = 1000
const CHANGES_LIMIT = 50

for (const tool of ['wrk', 'taskset']) {
  if (!Bun.which(tool)) {
    console.error(`${tool} is missing: install it (Debian/Ubuntu: apt-get install ${tool === 'wrk' ? 'wrk' : 'util-linux'}), then run this again`)
    process.exit(2)
  }
}
if (availableParallelism() < 2) console.warn('warning: fewer than 2 cores; server and wrk will share one')

// ---- Scenarios ------------------------------------------------------------------------------

interface Scenario {
  name: string
  label: string
  connections: number
  /** The body of wrk's `request` function (Lua); data.lua's tables are in scope. */
  lua: string
  /** One request of each kind the scenario sends, with the status it must get. */
  smoke: Check[]
}

interface Check {
  method: string
  path: (d: Data) => string
  token: (d: Data) => string
  body?: string
  status: number
  shape: (body: any, response: Response) => string | null
}

const TASK_FIELDS = 'id,user_id,list_id,title,description,completed,completed_at,priority,due_at,position,created_at,updated_at,version'
const isTask = (t: any) => (t !== null && typeof t === 'object' && Object.keys(t).sort().join(',') === TASK_FIELDS.split(',').sort().join(',') ? null : `not a task: ${JSON.stringify(t).slice(0, 200)}`)
const isTasks = (n: number) => (b: any) => (!Array.isArray(b) ? 'not an array' : b.length !== n ? `${b.length} tasks, not ${n}` : b.map(isTask).find((e) => e !== null) ?? null)

const get: Check = { method: 'GET', path: (d) => `/api/v1/tasks/${d.tasks[0]![3]}`, token: (d) => d.tokens[0]!, status: 200, shape: isTask }
const list20: Check = { method: 'GET', path: () => '/api/v1/tasks?limit=20', token: (d) => d.tokens[1]!, status: 200, shape: isTasks(20) }
const create: Check = {
  method: 'POST',
  path: () => '/api/v1/tasks',
  token: (d) => d.tokens[2]!,
  body: '{"title":"bench task"}',
  status: 201,
  shape: (b, r) => isTask(b) ?? (r.headers.get('location') === `/api/v1/tasks/${b.id}` ? null : `Location ${r.headers.get('location')}`),
}
const toggle: Check = { method: 'PATCH', path: (d) => `/api/v1/tasks/${d.tasks[3]![7]}/toggle`, token: (d) => d.tokens[3]!, status: 200, shape: isTask }

const scenarios: Scenario[] = [
  {
    name: 'get',
    label: 'GET /tasks/:id',
    connections,
    lua: `local u = random(#tokens)
  return wrk.format("GET", "/api/v1/tasks/" .. tasks[u][random(${INBOX + LISTED})], { Authorization = tokens[u] })`,
    smoke: [get],
  },
  {
    name: 'list20',
    label: 'GET /tasks?limit=20',
    connections,
    lua: `return wrk.format("GET", "/api/v1/tasks?limit=20", { Authorization = tokens[random(#tokens)] })`,
    smoke: [list20],
  },
  {
    name: 'create',
    label: 'POST /tasks',
    connections,
    lua: `return wrk.format("POST", "/api/v1/tasks", { Authorization = tokens[random(#tokens)], ["Content-Type"] = "application/json" }, '{"title":"bench task"}')`,
    smoke: [create],
  },
  {
    name: 'toggle',
    label: 'PATCH /tasks/:id/toggle',
    connections,
    lua: `local u = random(#tokens)
  return wrk.format("PATCH", "/api/v1/tasks/" .. tasks[u][random(${INBOX + LISTED})] .. "/toggle", { Authorization = tokens[u] })`,
    smoke: [toggle],
  },
  {
    name: 'mixed',
    label: 'mixed 70 get/10 list/10 create/10 toggle',
    connections,
    lua: `local u = random(#tokens)
  local k = random(100)
  if k <= 70 then return wrk.format("GET", "/api/v1/tasks/" .. tasks[u][random(${INBOX + LISTED})], { Authorization = tokens[u] }) end
  if k <= 80 then return wrk.format("GET", "/api/v1/tasks?limit=20", { Authorization = tokens[u] }) end
  if k <= 90 then return wrk.format("POST", "/api/v1/tasks", { Authorization = tokens[u], ["Content-Type"] = "application/json" }, '{"title":"bench task"}') end
  return wrk.format("PATCH", "/api/v1/tasks/" .. tasks[u][random(${INBOX + LISTED})] .. "/toggle", { Authorization = tokens[u] })`,
    smoke: [get, list20, create, toggle],
  },
  {
    name: 'list1000',
    label: 'GET /tasks?limit=1000 (4 conns)',
    connections: 4,
    lua: `return wrk.format("GET", "/api/v1/tasks?limit=1000", { Authorization = big })`,
    smoke: [{ method: 'GET', path: () => '/api/v1/tasks?limit=1000', token: (d) => d.big, status: 200, shape: isTasks(1000) }],
  },
  {
    name: 'move',
    label: 'POST /tasks/:id/move (to the top)',
    connections,
    lua: `local u = random(#tokens)
  return wrk.format("POST", "/api/v1/tasks/" .. listed[u][random(${LISTED})] .. "/move", { Authorization = tokens[u], ["Content-Type"] = "application/json" }, "{}")`,
    smoke: [{ method: 'POST', path: (d) => `/api/v1/tasks/${d.listed[4]![5]}/move`, token: (d) => d.tokens[4]!, body: '{}', status: 200, shape: isTask }],
  },
  {
    name: 'listpage',
    label: 'GET /tasks?list_id&sort=position&limit=20',
    connections,
    lua: `local u = random(#tokens)
  return wrk.format("GET", "/api/v1/tasks?list_id=" .. lists[u] .. "&sort=position&limit=20", { Authorization = tokens[u] })`,
    smoke: [
      {
        method: 'GET',
        path: (d) => `/api/v1/tasks?list_id=${d.lists[5]}&sort=position&limit=20`,
        token: (d) => d.tokens[5]!,
        status: 200,
        // By (position, id): two moves to the top at once may take the same key (the baseline's take no lock).
        shape: (b) => isTasks(20)(b) ?? (b.every((t: any, i: number) => i === 0 || t.position > b[i - 1].position || (t.position === b[i - 1].position && t.id > b[i - 1].id)) ? null : 'not in (position, id) order'),
      },
    ],
  },
  {
    name: 'changes',
    label: `GET /changes?since=…&limit=${CHANGES_LIMIT}`,
    connections,
    lua: `return wrk.format("GET", "/api/v1/changes?since=" .. since .. "&limit=${CHANGES_LIMIT}", { Authorization = tokens[random(#tokens)] })`,
    smoke: [
      {
        method: 'GET',
        path: (d) => `/api/v1/changes?since=${d.since}&limit=${CHANGES_LIMIT}`,
        token: (d) => d.tokens[6]!,
        status: 200,
        shape: (b) =>
          !Array.isArray(b?.changes) || b.changes.length !== CHANGES_LIMIT || b.has_more !== true || typeof b.cursor !== 'string'
            ? `not a full page of ${CHANGES_LIMIT} changes: ${JSON.stringify(b).slice(0, 200)}`
            : (b.changes.map((c: any) => (c.type === 'task' ? (c.op === 'upsert' ? isTask(c.data) : null) : null)).find((e: string | null) => e !== null) ?? null),
      },
    ],
  },
]

const chosen = process.env.BENCH_SCENARIOS ? process.env.BENCH_SCENARIOS.split(',').map((s) => s.trim()) : scenarios.map((s) => s.name)
const unknown = chosen.filter((n) => !scenarios.some((s) => s.name === n))
if (unknown.length > 0) {
  console.error(`unknown scenario(s): ${unknown.join(', ')}; known: ${scenarios.map((s) => s.name).join(', ')}`)
  process.exit(2)
}
const selected = scenarios.filter((s) => chosen.includes(s.name))

// ---- The servers' commands -------------------------------------------------------------------

const compiled = process.env.BENCH_COMPILED !== '0'
const sources: Record<ServerName, string> = {
  baseline: join(repo, 'bench/baseline/server.ts'),
  elysia: join(repo, 'bench/baseline/elysia.ts'),
  taskapi: join(taskapiDir, 'src/index.ts'),
}
const commands = Object.fromEntries(servers.map((name) => [name, [process.execPath, sources[name], ...(name === 'taskapi' ? ['serve'] : [])]])) as Record<ServerName, string[]>

/** Compiles each server as it is deployed: taskapi with `bun run build`, the others with the same flags. */
function compileServers() {
  for (const name of servers) {
    const outfile = name === 'taskapi' ? join(taskapiDir, 'dist/taskapi') : join(workDir, name)
    const args = name === 'taskapi' ? [process.execPath, 'run', 'build'] : [process.execPath, 'build', ...BUILD_FLAGS, sources[name], '--outfile', outfile]
    const build = Bun.spawnSync(args, { cwd: name === 'taskapi' ? taskapiDir : repo, stdout: 'pipe', stderr: 'pipe' })
    if (build.exitCode !== 0) throw new Error(`building ${name} failed:\n${build.stdout}\n${build.stderr}`)
    commands[name] = [outfile, ...(name === 'taskapi' ? ['serve'] : [])]
  }
}

// ---- Clean-up, also on Ctrl-C ---------------------------------------------------------------

const running = new Set<Subprocess>()
let scratch: { url: string; drop(): Promise<void> } | null = null
const workDir = mkdtempSync(join(tmpdir(), 'taskapi-compare-'))
let cleaned: Promise<void> | null = null
let interrupted = false
const cleanUp = () =>
  (cleaned ??= (async () => {
    for (const proc of running) proc.kill('SIGKILL')
    await Promise.all([...running].map((p) => p.exited))
    await scratch?.drop().catch((e) => console.error('could not drop the scratch database:', e))
    rmSync(workDir, { recursive: true, force: true })
  })())
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    interrupted = true
    console.error(`\n${signal}: stopping the servers and dropping the database`)
    void cleanUp().finally(() => process.exit(130))
  })
}

// ---- Data -----------------------------------------------------------------------------------

interface Data {
  /** Bearer header values of the users with 50 tasks. */
  tokens: string[]
  /** Each user's 50 task ids, inbox first. */
  tasks: string[][]
  /** Each user's 25 ids of tasks in their list. */
  listed: string[][]
  lists: string[]
  big: string
  /** A sync cursor before each user's first change: every user has more than 50 changes after it. */
  since: string
}

/** 1,000 users × 50 tasks (25 in a list of theirs) and one user with 1,000, written by SQL; the change log as migration 0003 fills it. */
async function seed(url: string, exp: number): Promise<Data> {
  const sql = new SQL(url, { max: 4 })
  const key = new TextEncoder().encode(SECRET)
  const token = async (sub: string) => `Bearer ${await new SignJWT({ sub }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(exp).sign(key)}`
  const base = Date.now() - 86_400_000
  const priorities = ['none', 'low', 'medium', 'high']
  const rows: Record<string, unknown>[] = []
  const listRows: Record<string, unknown>[] = []
  const data: Data = { tokens: [], tasks: [], listed: [], lists: [], big: '', since: '' }
  // n tasks of one user, newest first, keyed in that order (a new task goes on top).
  const make = (userId: string, n: number, listId: string | null, offset: number) => {
    const keys = generateNKeysBetween(null, null, n)
    return Array.from({ length: n }, (_, i) => {
      const k = offset + n - i // larger: newer
      const completed = k % 3 === 0
      const at = new Date(base + k * 1000 + (rows.length % 1000))
      rows.push({
        id: Bun.randomUUIDv7(),
        user_id: userId,
        list_id: listId,
        title: `Task ${k} of ${userId}`,
        description: k % 5 === 0 ? `Some notes about task ${k}, long enough to look like a real description.` : null,
        completed,
        completed_at: completed ? at : null,
        priority: priorities[k % 4],
        due_at: k % 4 === 0 ? new Date(base + 7 * 86_400_000 + k * 60_000) : null,
        created_at: at,
        updated_at: at,
        version: 1,
        position: keys[i],
      })
      return rows.at(-1)!.id as string
    })
  }
  for (let u = 0; u < USERS; u++) {
    const userId = `user-${String(u).padStart(4, '0')}`
    const listId = Bun.randomUUIDv7()
    listRows.push({ id: listId, user_id: userId, name: `List of ${userId}`, position: 'a0' })
    data.lists.push(listId)
    const inbox = make(userId, INBOX, null, 0)
    const listed = make(userId, LISTED, listId, INBOX)
    data.tasks.push([...inbox, ...listed])
    data.listed.push(listed)
    data.tokens.push(await token(userId))
  }
  make('user-big', BIG_TASKS, null, 0)
  data.big = await token('user-big')
  await sql`insert into lists ${sql(listRows)}`
  for (let i = 0; i < rows.length; i += 2000) await sql`insert into tasks ${sql(rows.slice(i, i + 2000))}`
  // The change log's trigger (migration 0004) has recorded every object inserted above, per user.
  await sql.close()
  data.since = Buffer.from(JSON.stringify([0, 0, Math.floor(Date.now() / 1000)])).toString('base64url')
  return data
}

function writeLua(data: Data): Map<string, string> {
  const list = (values: string[]) => `{${values.map((v) => JSON.stringify(v)).join(',')}}`
  const dataFile = join(workDir, 'data.lua')
  writeFileSync(
    dataFile,
    [
      `tokens = ${list(data.tokens)}`,
      `tasks = {${data.tasks.map(list).join(',\n')}}`,
      `listed = {${data.listed.map(list).join(',\n')}}`,
      `lists = ${list(data.lists)}`,
      `big = ${JSON.stringify(data.big)}`,
      `since = ${JSON.stringify(data.since)}`,
    ].join('\n'),
  )
  const files = new Map<string, string>()
  for (const s of selected) {
    const file = join(workDir, `${s.name}.lua`)
    // One fixed seed per thread: every server gets the same sequence of requests.
    writeFileSync(
      file,
      `dofile(${JSON.stringify(dataFile)})
local random = math.random
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("seed", threads)
end
function init(args)
  math.randomseed(16 * (seed or 1) + 7)
end
function request()
  ${s.lua}
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
`,
    )
    files.set(s.name, file)
  }
  return files
}

// ---- Servers --------------------------------------------------------------------------------

type ServerName = 'baseline' | 'elysia' | 'taskapi'

interface Running {
  name: ServerName
  proc: Subprocess
  url: string
  stderrFile: string
}

function freePort(): number {
  const probe = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() })
  const port = probe.port!
  probe.stop(true)
  return port
}

async function startServer(name: ServerName, databaseUrl: string, round: number): Promise<Running> {
  const port = freePort()
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    HOST: '127.0.0.1',
    PORT: String(port),
    DATABASE_URL: databaseUrl,
    JWT_SECRET: SECRET,
    NODE_ENV: 'production',
  }
  if (name === 'taskapi') {
    Object.assign(env, {
      LOG_LEVEL: 'info', // an access-log line per request, to stdout (here /dev/null)
      // The rate limits stay on (both budgets spent on every request), with budgets this load never exhausts.
      RATE_LIMIT_PER_IP: '1000000',
      RATE_LIMIT_PER_USER: '1000000',
      RATE_LIMIT_WINDOW_S: '10',
      ...taskapiEnv,
    })
  }
  const command = commands[name]
  const stderrFile = join(workDir, `${name}-${round}.stderr`)
  const proc = Bun.spawn(['taskset', '-c', '0', ...command], {
    cwd: name === 'taskapi' ? taskapiDir : repo,
    env,
    stdin: 'ignore',
    stdout: 'ignore',
    stderr: Bun.file(stderrFile),
  })
  running.add(proc)
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 30_000
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`${name} exited before it was ready:\n${readFileSync(stderrFile, 'utf8').slice(-4000)}`)
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${name} was not ready within 30 s:\n${readFileSync(stderrFile, 'utf8').slice(-4000)}`)
    await Bun.sleep(50)
  }
  return { name, proc, url, stderrFile }
}

async function stopServer(server: Running) {
  server.proc.kill('SIGTERM')
  const exited = await Promise.race([server.proc.exited, Bun.sleep(5000).then(() => null)])
  if (exited === null) server.proc.kill('SIGKILL')
  await server.proc.exited
  running.delete(server.proc)
}

// ---- Runs -----------------------------------------------------------------------------------

interface WrkResult {
  requests: number
  duration_us: number
  connect: number
  read: number
  write: number
  status: number
  timeout: number
  p50_us: number
  p99_us: number
  max_us: number
}

interface Measured {
  rps: number
  p50: number
  p99: number
  cpuPerRequest: number
  /** The share of its core the server was busy (its CPU time over the run's), %. */
  busy: number
  /** CPU time of all Postgres processes per request, µs. */
  pgCpuPerRequest: number
  /** The server's peak RSS before this scenario, and during it (NaN where it cannot be reset). */
  peakBefore: number
  peak: number
  errors: number
  errorText: string
}

async function smoke(server: Running, scenario: Scenario, data: Data) {
  for (const check of scenario.smoke) {
    const path = check.path(data)
    const res = await fetch(`${server.url}${path}`, {
      method: check.method,
      headers: { authorization: check.token(data), ...(check.body ? { 'content-type': 'application/json' } : {}) },
      body: check.body,
    })
    const text = await res.text()
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch {
      body = text
    }
    const wrong = res.status !== check.status ? `status ${res.status}, not ${check.status}: ${text.slice(0, 300)}` : check.shape(body, res)
    if (wrong) throw new Error(`${server.name}, ${scenario.name}: ${check.method} ${path}: ${wrong}`)
  }
}

async function wrk(server: Running, scenario: Scenario, script: string, duration: number): Promise<WrkResult> {
  const proc = Bun.spawn(
    ['taskset', '-c', '1', 'wrk', '-t1', `-c${scenario.connections}`, `-d${duration}s`, '--timeout', '5s', '--latency', '-s', script, server.url],
    { stdout: 'pipe', stderr: 'pipe' },
  )
  running.add(proc)
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  running.delete(proc)
  const line = out.split('\n').find((l) => l.startsWith('BENCH_RESULT '))
  if (proc.exitCode !== 0 || !line) throw new Error(`wrk failed (${proc.exitCode}) on ${server.name}, ${scenario.name}:\n${out}\n${err}`)
  return JSON.parse(line.slice('BENCH_RESULT '.length)) as WrkResult
}

async function measure(server: Running, scenario: Scenario, script: string, data: Data): Promise<Measured> {
  await smoke(server, scenario, data)
  if (warmup > 0) await wrk(server, scenario, script, warmup)
  // The scenario's own peak (the round's is kept by the caller before the reset).
  const peakBefore = memoryMiB(server.proc.pid, 'VmHWM')
  const peaks = resetPeak(server.proc.pid)
  const cpuBefore = cpuMicros(server.proc.pid)
  const pgCpuSince = cpuMeter('postgres')
  const r = await wrk(server, scenario, script, seconds)
  const cpu = cpuMicros(server.proc.pid) - cpuBefore
  const pgCpu = pgCpuSince()
  const peak = memoryMiB(server.proc.pid, 'VmHWM')
  const errors = r.status + r.connect + r.read + r.write + r.timeout
  const parts = Object.entries({ 'non-2xx/3xx': r.status, connect: r.connect, read: r.read, write: r.write, timeout: r.timeout }).filter(([, n]) => n > 0)
  return {
    rps: r.requests / (r.duration_us / 1e6),
    p50: r.p50_us / 1000,
    p99: r.p99_us / 1000,
    cpuPerRequest: r.requests > 0 ? cpu / r.requests : NaN,
    busy: (cpu / r.duration_us) * 100,
    pgCpuPerRequest: r.requests > 0 ? pgCpu / r.requests : NaN,
    peakBefore,
    peak: peaks ? peak : NaN,
    errors,
    errorText: parts.map(([k, n]) => `${n} ${k}`).join(', '),
  }
}

/**
 * Before any load: every server gives the same answers to the reads the scenarios send (the sync
 * cursor aside, which carries its time of issue), so the baseline does the same work.
 */
async function agree(databaseUrl: string, data: Data) {
  const reads = scenarios.flatMap((s) => s.smoke).filter((c, i, all) => c.method === 'GET' && all.indexOf(c) === i)
  const answers: Record<string, string[]> = {}
  for (const name of servers) {
    const server = await startServer(name, databaseUrl, 0)
    try {
      answers[name] = await Promise.all(
        reads.map(async (c) => {
          const res = await fetch(`${server.url}${c.path(data)}`, { headers: { authorization: c.token(data) } })
          const body = (await res.json()) as Record<string, unknown>
          if (!Array.isArray(body) && 'cursor' in body) body.cursor = '(issued at the time)'
          return `${res.status} ${JSON.stringify(body)}`
        }),
      )
    } finally {
      await stopServer(server)
    }
  }
  reads.forEach((c, i) => {
    for (const name of servers) {
      if (answers[name]![i] !== answers.baseline![i]) {
        throw new Error(`the servers disagree on GET ${c.path(data)}:\nbaseline: ${answers.baseline![i]!.slice(0, 600)}\n${name}: ${answers[name]![i]!.slice(0, 600)}`)
      }
    }
  })
  console.log(`${servers.join(', ')}: the same answers to the ${reads.length} reads`)
}

interface ServerRun {
  results: Map<string, Measured>
  rssStart: number
  rssPeak: number
}

/**
 * One round: every server started (each pinned to core 0; those not being measured sit idle),
 * then every scenario run on each in turn, in `order`, each turn on a database vacuumed of the
 * previous turn's dead rows. Running them back to back, scenario by scenario, exposes them to the
 * same state of this shared machine; a round of one server after the other (minutes apart) let its
 * neighbours' load move one server's figures and not the other's.
 */
async function runRound(order: ServerName[], databaseUrl: string, round: number, scripts: Map<string, string>, data: Data): Promise<Record<ServerName, ServerRun>> {
  const servers: Running[] = []
  try {
    for (const name of order) servers.push(await startServer(name, databaseUrl, round))
    await Bun.sleep(500)
    const runs = servers.map((server) => ({ server, results: new Map<string, Measured>(), rssStart: memoryMiB(server.proc.pid, 'VmRSS') }))
    for (const s of selected) {
      for (const { server, results } of runs) {
        await vacuum(databaseUrl)
        const m = await measure(server, s, scripts.get(s.name)!, data)
        results.set(s.name, m)
        const flag = m.errors > 0 ? `   !!! ERRORS: ${m.errorText}` : ''
        console.log(
          `  round ${round} ${server.name.padEnd(8)} ${s.name.padEnd(9)} ${fmt(m.rps, 0).padStart(7)} req/s  p50 ${m.p50.toFixed(2)} ms  p99 ${m.p99.toFixed(2)} ms  ${m.cpuPerRequest.toFixed(0)} µs CPU/req (core ${m.busy.toFixed(0)} % busy)  Postgres ${m.pgCpuPerRequest.toFixed(0)} µs/req  peak RSS ${m.peak.toFixed(0)} MiB${flag}`,
        )
      }
    }
    const got = {} as Record<ServerName, ServerRun>
    for (const { server, results, rssStart } of runs) {
      // Each scenario restarts the peak, so the round's is the highest of theirs (and what came before each).
      const peaks = [...results.values()].flatMap((m) => [m.peakBefore, m.peak].filter(Number.isFinite))
      got[server.name] = { results, rssStart, rssPeak: Math.max(memoryMiB(server.proc.pid, 'VmHWM'), ...peaks) }
    }
    return got
  } catch (error) {
    for (const server of servers) {
      const stderr = readFileSync(server.stderrFile, 'utf8')
      if (stderr) console.error(`${server.name}'s stderr (last 4 KB):\n${stderr.slice(-4000)}`)
    }
    throw error
  } finally {
    for (const server of servers) await stopServer(server)
  }
}

// ---- Tables ---------------------------------------------------------------------------------

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '–')

type Runs = Partial<Record<ServerName, ServerRun[]>>

function table(title: string, runs: Runs): string {
  const combine = (of: ServerRun[], name: string): Measured => {
    const ms = of.map((r) => r.results.get(name)!)
    return {
      rps: median(ms.map((m) => m.rps)),
      p50: median(ms.map((m) => m.p50)),
      p99: median(ms.map((m) => m.p99)),
      cpuPerRequest: median(ms.map((m) => m.cpuPerRequest)),
      busy: median(ms.map((m) => m.busy)),
      pgCpuPerRequest: median(ms.map((m) => m.pgCpuPerRequest)),
      peakBefore: Math.max(...ms.map((m) => m.peakBefore)),
      peak: Math.max(...ms.map((m) => m.peak)),
      errors: ms.reduce((n, m) => n + m.errors, 0),
      errorText: ms.map((m) => m.errorText).filter(Boolean).join('; '),
    }
  }
  const elysia = runs.elysia !== undefined
  const names = elysia ? 'baseline / Elysia / taskapi' : 'baseline / taskapi'
  const lines = [
    `### ${title}`,
    '',
    `| scenario | baseline req/s |${elysia ? ' Elysia alone req/s (% of baseline) |' : ''} taskapi req/s | % of baseline | p50 ms (${names}) | p99 ms (${names}) | p99 × baseline | CPU µs/req (${names}) | server core busy % (${names}) | Postgres CPU µs/req (${names}) | peak RSS MiB (${names}) |`,
    `| --- | ---: |${elysia ? ' ---: |' : ''} ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |`,
  ]
  for (const s of selected) {
    const all = servers.map((name) => ({ name, m: combine(runs[name]!, s.name) }))
    const b = all.find((x) => x.name === 'baseline')!.m
    const t = all.find((x) => x.name === 'taskapi')!.m
    const e = all.find((x) => x.name === 'elysia')?.m
    const share = (t.rps / b.rps) * 100
    const ratio = t.p99 / b.p99
    const errors = all.filter((x) => x.m.errors > 0).map((x) => `${x.name}: ${x.m.errorText}`).join('; ')
    const each = (f: (m: Measured) => string) => all.map((x) => f(x.m)).join(' / ')
    lines.push(
      `| ${s.label}${errors ? ` **ERRORS (${errors})**` : ''} | ${fmt(b.rps)} |${e ? ` ${fmt(e.rps)} (${fmt((e.rps / b.rps) * 100)} %) |` : ''} ${fmt(t.rps)} | ${fmt(share)} %${share >= 75 ? '' : ' ✗'} | ${each((m) => m.p50.toFixed(2))} | ${each((m) => m.p99.toFixed(2))} | ${ratio.toFixed(2)}${ratio <= 1.5 ? '' : ' ✗'} | ${each((m) => fmt(m.cpuPerRequest))} | ${each((m) => fmt(m.busy))} | ${each((m) => fmt(m.pgCpuPerRequest))} | ${each((m) => fmt(m.peak))} |`,
    )
  }
  const rssStart = (name: ServerName) => median(runs[name]!.map((r) => r.rssStart))
  const rssPeak = (name: ServerName) => Math.max(...runs[name]!.map((r) => r.rssPeak))
  lines.push(
    '',
    `| server RSS |${servers.map((n) => ` ${n === 'elysia' ? 'Elysia alone' : n} |`).join('')} goal (taskapi) |`,
    `| --- |${servers.map(() => ' ---: |').join('')} --- |`,
    `| after start |${servers.map((n) => ` ${rssStart(n).toFixed(0)} MiB${n === 'taskapi' && rssStart(n) > 60 ? ' ✗' : ''} |`).join('')} ≤ 60 MiB |`,
    `| peak (VmHWM) |${servers.map((n) => ` ${rssPeak(n).toFixed(0)} MiB${n === 'taskapi' && rssPeak(n) > 100 ? ' ✗' : ''} |`).join('')} ≤ 100 MiB |`,
  )
  return lines.join('\n')
}

async function vacuum(url: string) {
  const sql = new SQL(url, { max: 1 })
  await sql.unsafe('vacuum analyze')
  await sql.close()
}

// ---- Main -----------------------------------------------------------------------------------

const git = (args: string[]) => Bun.spawnSync(['git', ...args], { cwd: taskapiDir }).stdout.toString().trim()
let failed = false
try {
  const pgVersion = await (async () => {
    const sql = new SQL(serverUrl, { max: 1 })
    const [row] = await sql`show server_version`
    await sql.close()
    return String(row!.server_version)
  })()
  scratch = await scratchPostgres(serverUrl, 'taskapi_compare')
  const migrate = Bun.spawnSync([process.execPath, 'src/index.ts', 'migrate'], {
    cwd: taskapiDir,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DATABASE_URL: scratch.url, JWT_SECRET: SECRET, NODE_ENV: 'production' },
  })
  if (migrate.exitCode !== 0) throw new Error(`migrate failed (${migrate.exitCode}):\n${migrate.stdout}\n${migrate.stderr}`)

  if (compiled) compileServers()
  const perRun = selected.reduce((n, _) => n + seconds + warmup + 1, 0) * servers.length * rounds
  const exp = Math.floor(Date.now() / 1000) + Math.max(3600, 2 * perRun + 600)
  const seeding = performance.now()
  const data = await seed(scratch.url, exp)
  const scripts = writeLua(data)
  const header = [
    `taskapi: ${taskapiDir} at ${git(['rev-parse', '--short', 'HEAD']) || '?'}${git(['status', '--porcelain', '--', 'src', 'drizzle', 'package.json', 'bun.lock']) ? ' (with uncommitted changes to src/)' : ''}${process.env.BENCH_TASKAPI_ENV ? ` with ${process.env.BENCH_TASKAPI_ENV}` : ''}; baseline: bench/baseline/server.ts; ${compiled ? `each server compiled (bun build ${BUILD_FLAGS.join(' ')})` : 'each server run from source'}`,
    `bun ${Bun.version}; Postgres ${pgVersion}; ${availableParallelism()} cores; load average before: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    `servers on core 0 (taskset -c 0), wrk -t1 on core 1; ${connections} connections (list 1000: 4); ${seconds} s per scenario after ${warmup} s of warm-up; ${rounds} round(s), each scenario on ${servers.join(', ')} back to back, order reversed each round`,
    `data: ${USERS} users × ${INBOX + LISTED} tasks (${LISTED} in a list of theirs) + 1 user × ${BIG_TASKS}, seeded in ${((performance.now() - seeding) / 1000).toFixed(1)} s`,
  ].join('\n')
  console.log(header)

  await agree(scratch.url, data)

  const runs: Runs = Object.fromEntries(servers.map((name) => [name, []]))
  const tables: string[] = []
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 === 1 ? servers : [...servers].reverse()
    const got = await runRound(order, scratch.url, round, scripts, data)
    for (const name of servers) runs[name]!.push(got[name]!)
    tables.push(table(`Round ${round} (${order.join(' then ')})`, Object.fromEntries(servers.map((name) => [name, [got[name]!]]))))
  }
  if (rounds > 1) tables.push(table(`Combined: median of ${rounds} rounds (RSS: median after start, highest peak)`, runs))
  console.log(`\n${header}\nload average after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n\n${tables.join('\n\n')}\n`)
  console.log('✗: misses the goal (≥ 75 % of the baseline\'s req/s, p99 ≤ 1.5 × the baseline\'s, RSS ≤ 60 MiB after start and ≤ 100 MiB at peak)')
  const errors = servers.some((name) => runs[name]!.some((r) => [...r.results.values()].some((m) => m.errors > 0)))
  if (errors) {
    console.error('\n!!! Some scenarios had errors (non-2xx/3xx answers or socket errors): their figures are not comparable. See ERRORS above.')
    failed = true
  }
} catch (error) {
  // After Ctrl-C, the run fails because its processes were stopped: nothing to report.
  if (!interrupted) console.error(error instanceof Error ? (error.stack ?? error.message) : error)
  failed = true
} finally {
  await cleanUp()
}
process.exit(failed ? 1 : 0)
