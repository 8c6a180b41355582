// The change log trigger's cost on bulk statements: one user's N tasks created in one INSERT,
// completed in one UPDATE and cleared in one DELETE (as "clear completed" does), timed three ways
// in one run on one scratch database, alternated, the median of the rounds reported:
//   trigger   - this version: the deferred trigger records every row at commit;
//   previous  - the previous version's recording (its one CTE statement per write), trigger off;
//   no log    - the bare statements, trigger off (the floor).
//
//   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test bun bench/bulk-writes.ts
//   (PGlite, in memory, without BENCH_DATABASE_URL.) Options: BENCH_ROWS (1000,10000), BENCH_ROUNDS (3).
import { and, eq, sql } from 'drizzle-orm'
import { openDatabase, type DatabaseHandle } from '../src/db/client'
import { tasks } from '../src/db/schema'
import { databaseConfig, scratchPostgres } from '../test/support/databases'
import { recorded as previousRecorded } from '../test/support/previous-recorded'
import { median } from './stats'

const sizes = (process.env.BENCH_ROWS ?? '1000,10000').split(',').map(Number)
const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
const url = process.env.BENCH_DATABASE_URL

const scratch = url ? await scratchPostgres(url, 'taskapi_bench') : undefined
const handle: DatabaseHandle = await openDatabase(scratch ? databaseConfig({ DATABASE_URL: scratch.url }) : databaseConfig({ DB_DRIVER: 'pglite' }))
await handle.ensureSchema()
const { db } = handle

type Way = 'trigger' | 'previous' | 'no log'
const triggers = (on: boolean) => db.execute(sql.raw(`alter table tasks ${on ? 'enable' : 'disable'} trigger tasks_sync`))

async function once(way: Way, n: number) {
  await triggers(way === 'trigger')
  const user = `bench_${crypto.randomUUID().slice(0, 8)}`
  const rows = Array.from({ length: n }, (_, i) => ({ id: Bun.randomUUIDv7(), userId: user, title: `task ${i}` }))
  const timed = async (write: () => Promise<unknown>) => {
    const started = performance.now()
    await write()
    return performance.now() - started
  }
  const mine = eq(tasks.userId, user)
  // (A Drizzle query runs when awaited.)
  const record = <T extends { id: string }>(op: 'upsert' | 'delete', write: Parameters<typeof previousRecorded<T>>[4]): Promise<unknown> =>
    way === 'previous' ? previousRecorded(db, user, 'task', op, write) : (write as unknown as Promise<unknown>)
  // Inserted in batches of 5,000 rows (parameters), in one transaction: one commit, as one statement.
  const create = await timed(() =>
    db.transaction(async (tx) => {
      for (let i = 0; i < rows.length; i += 5000) {
        const insert = tx.insert(tasks).values(rows.slice(i, i + 5000)).returning({ id: tasks.id })
        await (way === 'previous' ? previousRecorded(tx, user, 'task', 'upsert', insert) : insert)
      }
    }),
  )
  const complete = await timed(() => record('upsert', db.update(tasks).set({ completed: true, completedAt: sql`now()` }).where(mine).returning({ id: tasks.id })))
  const clear = await timed(() => record('delete', db.delete(tasks).where(and(mine, eq(tasks.completed, true))).returning({ id: tasks.id })))
  return { create, complete, clear }
}

try {
  console.log(`driver ${url ? 'postgres' : 'pglite'}, ${rounds} rounds, ms (median)`)
  console.log('rows\tway\tcreate\tcomplete\tclear')
  for (const n of sizes) {
    const results: Record<Way, { create: number[]; complete: number[]; clear: number[] }> = {
      trigger: { create: [], complete: [], clear: [] },
      previous: { create: [], complete: [], clear: [] },
      'no log': { create: [], complete: [], clear: [] },
    }
    for (let r = 0; r < rounds; r++) {
      for (const way of ['trigger', 'previous', 'no log'] as Way[]) {
        const t = await once(way, n)
        for (const k of ['create', 'complete', 'clear'] as const) results[way][k].push(t[k])
      }
    }
    for (const way of ['trigger', 'previous', 'no log'] as Way[]) {
      const r = results[way]
      console.log(`${n}\t${way}\t${median(r.create).toFixed(0)}\t${median(r.complete).toFixed(0)}\t${median(r.clear).toFixed(0)}`)
    }
  }
} finally {
  await triggers(true)
  await handle.close()
  await scratch?.drop()
}
