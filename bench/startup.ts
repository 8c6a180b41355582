// Start-up benchmark of the compiled binary: the time from launching `taskapi serve` to the first
// 200 on /healthz, over N runs, plus the binary's size. The service listens before it opens its
// database, so this is the time to listen; bench/embedded.ts measures the time to ready. The first
// run starts on an empty data directory, the others reopen it.
//
//   bun run build && bun bench/startup.ts
//   BENCH_RUNS=50 BENCH_BINARY=dist/taskapi-linux-x64 bun bench/startup.ts
//   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test bun bench/startup.ts   # Bun.SQL
//
// With BENCH_DATABASE_URL the binary migrates that database on its first start.
import { cpus, loadavg, tmpdir } from 'node:os'
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { median } from './stats'

const root = join(import.meta.dir, '..')
const binary = resolve(root, process.env.BENCH_BINARY ?? 'dist/taskapi')
const runs = Number(process.env.BENCH_RUNS ?? 20)
const databaseUrl = process.env.BENCH_DATABASE_URL
const SECRET = 'bench-secret-bench-secret-bench-secret'
const GIVE_UP_MS = 60_000

if (!existsSync(binary)) {
  console.error(`${binary} is missing: run \`bun run build\` first`)
  process.exit(1)
}

const folder = mkdtempSync(join(tmpdir(), 'taskapi-startup-'))
const dataDir = join(folder, 'data')
const env: Record<string, string> = {
  PATH: process.env.PATH ?? '',
  HOME: process.env.HOME ?? '/tmp',
  JWT_SECRET: SECRET,
  NODE_ENV: 'production',
  HOST: '127.0.0.1',
  LOG_LEVEL: 'warn',
  ...(databaseUrl ? { DATABASE_URL: databaseUrl } : { DATA_DIR: dataDir }),
}

async function freePort(): Promise<number> {
  const probe = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() })
  const port = probe.port!
  await probe.stop(true)
  return port
}

/** Launches the binary, polls /healthz until a 200, stops it with SIGTERM; returns the milliseconds to the 200. */
async function launchToHealthy(): Promise<number> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}/healthz`
  const started = performance.now()
  const proc = Bun.spawn([binary, 'serve'], { cwd: folder, env: { ...env, PORT: String(port) }, stdout: 'ignore', stderr: 'pipe' })
  let elapsed: number | undefined
  while (elapsed === undefined) {
    if (proc.exitCode !== null) throw new Error(`taskapi exited ${proc.exitCode}: ${await new Response(proc.stderr).text()}`)
    if (performance.now() - started > GIVE_UP_MS) {
      proc.kill('SIGKILL')
      throw new Error(`no 200 from ${url} within ${GIVE_UP_MS} ms`)
    }
    try {
      const res = await fetch(url)
      await res.arrayBuffer()
      if (res.status === 200) elapsed = performance.now() - started
    } catch {
      await Bun.sleep(1) // not listening yet
    }
  }
  proc.kill('SIGTERM')
  const code = await proc.exited
  if (code !== 0) throw new Error(`taskapi exited ${code} on SIGTERM`)
  return elapsed
}

const ms = (n: number) => `${n.toFixed(1)} ms`
try {
  const size = statSync(binary).size
  console.log(`binary      ${binary}: ${size} bytes (${(size / 1e6).toFixed(1)} MB, ${(size / 2 ** 20).toFixed(1)} MiB)`)
  console.log(`machine     ${cpus().length} cores, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)

  let database: string
  if (databaseUrl) {
    database = `DATABASE_URL=${databaseUrl.replace(/\/\/[^@/]*@/, '//…@')}`
    console.log(`first start (applies migrations if needed): ${ms(await launchToHealthy())}`)
  } else {
    database = 'embedded PGlite, existing DATA_DIR (initialised and migrated before the runs)'
    console.log(`first start on an empty DATA_DIR (the embedded template, or initdb from source): ${ms(await launchToHealthy())}`)
  }

  const times: number[] = []
  for (let i = 0; i < runs; i++) times.push(await launchToHealthy())
  times.sort((a, b) => a - b)
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!
  console.log(`database    ${database}`)
  console.log(`launch → first 200 on /healthz over ${runs} runs: median ${ms(median(times))}, min ${ms(times[0]!)}, p90 ${ms(at(0.9))}, max ${ms(times.at(-1)!)}`)
} finally {
  rmSync(folder, { recursive: true, force: true })
}
