// What a move's shape costs the client before any framework (issue 16): Bun.SQL alone, the same
// read-then-write of one row three ways, 50 at a time over a pool of 10, CPU time of this process
// per operation and operations per second:
// - `plain`: the raw baseline's move (bench/baseline/server.ts): a read, then an update; two
//   statements, no transaction, no lock;
// - `begin`: what taskapi's move does on Bun.SQL: `sql.begin`, the per-user lock and the read sent
//   together, then the update, then COMMIT (four round trips);
// - `pipelined`: the same transaction on a reserved connection with BEGIN sent with the lock and the
//   read, and COMMIT with the update (two round trips): what a hand-made transaction could save.
//
//   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test flock /tmp/taskapi-heavy.lock taskset -c 0 bun bench/transaction-cost.ts
//
// Options (environment): BENCH_OPERATIONS (6000 per measured run), BENCH_ROUNDS (3). Makes and
// drops its own scratch database.
import { SQL } from 'bun'
import { scratchPostgres } from '../test/support/databases'
import { median } from './stats'

const operations = Number(process.env.BENCH_OPERATIONS ?? 6000)
const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
const CONCURRENCY = 50
const ROWS = 1000
if (!process.env.BENCH_DATABASE_URL) throw new Error('BENCH_DATABASE_URL is not set')

const scratch = await scratchPostgres(process.env.BENCH_DATABASE_URL, 'taskapi_txcost')
const sql = new SQL(scratch.url, { max: 10 })
try {
  await sql`create table rows (id int primary key, v int not null)`
  await sql`insert into rows select i, 0 from generate_series(1, ${ROWS}) i`

  const ways: Record<string, (id: number) => Promise<void>> = {
    async plain(id) {
      const [row] = await sql`select v from rows where id = ${id}`
      await sql`update rows set v = ${row.v + 1} where id = ${id}`
    },
    async begin(id) {
      await sql.begin(async (tx) => {
        const [, [row]] = await Promise.all([tx`select pg_advisory_xact_lock(${id})`, tx`select v from rows where id = ${id}`])
        await tx`update rows set v = ${row.v + 1} where id = ${id}`
      })
    },
    async pipelined(id) {
      const c = await sql.reserve()
      try {
        const [, , [row]] = await Promise.all([c`begin`, c`select pg_advisory_xact_lock(${id})`, c`select v from rows where id = ${id}`])
        await Promise.all([c`update rows set v = ${row.v + 1} where id = ${id}`, c`commit`])
      } catch (error) {
        await c`rollback`.catch(() => {})
        throw error
      } finally {
        c.release()
      }
    },
  }

  const run = async (way: (id: number) => Promise<void>) => {
    let next = 0
    const worker = async () => {
      while (next < operations) await way(1 + (next++ % ROWS))
    }
    const cpu = process.cpuUsage()
    const started = performance.now()
    await Promise.all(Array.from({ length: CONCURRENCY }, worker))
    const used = process.cpuUsage(cpu)
    return { cpu: (used.user + used.system) / operations, rate: operations / ((performance.now() - started) / 1000) }
  }

  const results: Record<string, { cpu: number[]; rate: number[] }> = {}
  for (let round = 1; round <= rounds; round++) {
    for (const [name, way] of Object.entries(ways)) {
      await run(way) // warm-up
      const r = await run(way)
      ;(results[name] ??= { cpu: [], rate: [] }).cpu.push(r.cpu)
      results[name]!.rate.push(r.rate)
      console.log(`round ${round} ${name.padEnd(9)} ${r.cpu.toFixed(0).padStart(4)} µs CPU/operation ${r.rate.toFixed(0).padStart(6)} operations/s`)
    }
  }
  console.log(`\nmedians of ${rounds} rounds, ${operations} operations each, ${CONCURRENCY} at a time, pool of 10; Bun ${Bun.version}`)
  console.log('| way | CPU µs per operation | operations/s |\n| --- | ---: | ---: |')
  for (const [name, r] of Object.entries(results)) console.log(`| ${name} | ${median(r.cpu).toFixed(0)} | ${median(r.rate).toFixed(0)} |`)
} finally {
  await sql.close()
  await scratch.drop()
}
