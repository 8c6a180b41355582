// Footprint of the embedded database in the compiled binary: for a first start on an empty
// DATA_DIR and for reopening it, the time from launch to the first 200 on /healthz and on /readyz
// (the database open and migrated), the resident memory at that moment and its peak so far; then
// the load benchmark (bench/load.ts) against the binary on a data folder, with its memory.
// BENCH_BASELINE names a second binary (such as one built from main) measured the same way in the
// same run, its reopens alternating with the first's, so the two are compared on the same machine
// under the same conditions.
//
//   bun run build && flock /tmp/taskapi-heavy.lock bun bench/embedded.ts
//   BENCH_BASELINE=/tmp/taskapi-main flock /tmp/taskapi-heavy.lock bun bench/embedded.ts
//
// Options (environment): BENCH_BINARY (dist/taskapi), BENCH_BASELINE, BENCH_REOPENS (5),
// BENCH_LOAD (1; 0 skips the load runs), and bench/load.ts's BENCH_SECONDS and BENCH_CONCURRENCY.
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { memoryMiB } from './proc'
import { median } from './stats'

const root = join(import.meta.dir, '..')
const binaries = [process.env.BENCH_BINARY ?? 'dist/taskapi', process.env.BENCH_BASELINE].filter((b): b is string => !!b).map((b) => resolve(root, b))
const reopens = Number(process.env.BENCH_REOPENS ?? 5)
const withLoad = process.env.BENCH_LOAD !== '0'
const SECRET = 'bench-secret-bench-secret-bench-secret'
const GIVE_UP_MS = 120_000

for (const binary of binaries) {
  if (!existsSync(binary)) {
    console.error(`${binary} is missing: run \`bun run build\` first`)
    process.exit(1)
  }
}

const memory = (pid: number) => ({ rss: memoryMiB(pid, 'VmRSS'), peak: memoryMiB(pid, 'VmHWM') })

async function freePort(): Promise<number> {
  const probe = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() })
  const port = probe.port!
  await probe.stop(true)
  return port
}

interface Start {
  healthyMs: number
  readyMs: number
  rssMiB: number
  peakMiB: number
}

/** Launches `binary serve` on `dataDir`, polls /healthz then /readyz, reads its memory at ready, stops it. */
async function start(binary: string, dataDir: string): Promise<Start> {
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', JWT_SECRET: SECRET, NODE_ENV: 'production', HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', DATA_DIR: dataDir }
  const launched = performance.now()
  const proc = Bun.spawn([binary, 'serve'], { env, stdout: 'ignore', stderr: 'pipe' })
  const until = async (path: string) => {
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`${binary} exited ${proc.exitCode}: ${await new Response(proc.stderr).text()}`)
      if (performance.now() - launched > GIVE_UP_MS) {
        proc.kill('SIGKILL')
        throw new Error(`no 200 from ${path} within ${GIVE_UP_MS} ms`)
      }
      try {
        const res = await fetch(base + path)
        await res.arrayBuffer()
        if (res.status === 200) return performance.now() - launched
      } catch {
        // not listening yet
      }
      await Bun.sleep(2)
    }
  }
  const healthyMs = await until('/healthz')
  const readyMs = await until('/readyz')
  const { rss, peak } = memory(proc.pid)
  proc.kill('SIGTERM')
  if ((await proc.exited) !== 0) throw new Error(`${binary} did not stop cleanly on SIGTERM`)
  return { healthyMs, readyMs, rssMiB: rss, peakMiB: peak }
}

const row = (what: string, s: Start) => ({
  start: what,
  'launch → /healthz ms': Math.round(s.healthyMs),
  'launch → /readyz ms': Math.round(s.readyMs),
  'RSS at ready MiB': Math.round(s.rssMiB),
  'peak RSS MiB': Math.round(s.peakMiB),
})

console.log(`machine: ${cpus().length} cores, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; bun ${Bun.version}`)
// With two binaries, the reopens alternate between them (the order flipping each round), so both
// meet the same moments of a shared machine: a binary's reopen moves by ~200 ms from one minute
// to the next here, more than most changes being measured.
const runs = binaries.map((binary) => ({ binary, folder: mkdtempSync(join(tmpdir(), 'taskapi-embedded-')), first: undefined as Start | undefined, again: [] as Start[] }))
try {
  for (const run of runs) run.first = await start(run.binary, join(run.folder, 'data'))
  for (let i = 0; i < reopens; i++) {
    for (const run of i % 2 === 0 ? runs : [...runs].reverse()) run.again.push(await start(run.binary, join(run.folder, 'data')))
  }
  for (const { binary, folder, first, again } of runs) {
    const reopened: Start = {
      healthyMs: median(again.map((s) => s.healthyMs)),
      readyMs: median(again.map((s) => s.readyMs)),
      rssMiB: Math.max(...again.map((s) => s.rssMiB)),
      peakMiB: Math.max(...again.map((s) => s.peakMiB)),
    }
    console.log(`\n${binary}`)
    console.table([row('first, empty DATA_DIR', first!), row(`reopen (median time, max memory of ${reopens})`, reopened)])
    console.log(`reopen → /readyz, each: ${again.map((s) => Math.round(s.readyMs)).join(', ')} ms`)
    if (withLoad) {
      const load = Bun.spawn(['bun', join(import.meta.dir, 'load.ts')], {
        env: { ...process.env, BENCH_BINARY: binary, BENCH_DATA_DIR: join(folder, 'load') },
        stdout: 'inherit',
        stderr: 'inherit',
      })
      if ((await load.exited) !== 0) process.exitCode = 1
    }
  }
} finally {
  for (const { folder } of runs) rmSync(folder, { recursive: true, force: true })
}
