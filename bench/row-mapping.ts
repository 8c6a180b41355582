// What turning a page of rows into response objects costs: statement()'s mapper (src/db/statement.ts,
// a function made once per statement) against Drizzle's own mapResultRow, the way every query
// without it maps rows, on the same rows in the same run, each followed by the JSON.stringify the
// response does. The rows are a task page as the driver hands them over (array mode), read once
// from an embedded database.
//
//   bun bench/row-mapping.ts
//
// Options (environment): BENCH_ROUNDS (5), BENCH_ITERATIONS (pages per round and size; 20000).
import { PGlite } from '@electric-sql/pglite'
import { asc, eq, sql } from 'drizzle-orm'
import type { SelectedFieldsOrdered } from 'drizzle-orm/pg-core'
import * as drizzleUtils from 'drizzle-orm/utils'
import { fromPglite } from '../src/db/client'
import { migrate } from '../src/db/migrate'
import { tasks } from '../src/db/schema'
import { flatMapper } from '../src/db/statement'
import { taskColumns } from '../src/tasks/model'
import { median } from './stats'

const rounds = Number(process.env.BENCH_ROUNDS ?? 5)
const iterations = Number(process.env.BENCH_ITERATIONS ?? 20000)
const USER = 'bench-user'

const pg = await PGlite.create()
const { db } = fromPglite(pg)
await migrate(db)
await db.execute(sql`
  insert into tasks (id, user_id, title, description, position, due_at)
  select gen_random_uuid(), ${USER}, 'Task number ' || i, case when i % 2 = 0 then 'Some notes' end, 'a' || lpad(i::text, 5, '0'),
         case when i % 3 = 0 then now() + (i || ' hours')::interval end
  from generate_series(1, 1000) as i`)

// Drizzle's own mapping, which its declarations leave out.
const { mapResultRow, orderSelectedFields } = drizzleUtils as unknown as {
  mapResultRow(fields: SelectedFieldsOrdered, row: unknown[], joinsNotNullableMap: undefined): unknown
  orderSelectedFields(fields: object): SelectedFieldsOrdered
}
const fields = orderSelectedFields(taskColumns)
const ours = flatMapper(fields, undefined)!
const drizzles = (rows: unknown[][]) => rows.map((row) => mapResultRow(fields, row, undefined))

async function page(size: number): Promise<unknown[][]> {
  const query = db.select(taskColumns).from(tasks).where(eq(tasks.userId, USER)).orderBy(asc(tasks.position)).limit(size).toSQL()
  return (await pg.query<unknown[]>(query.sql, query.params, { rowMode: 'array' })).rows
}
const pages = { 21: await page(21), 1000: await page(1000) }
await pg.close()

// Both mappers must agree before either is timed.
for (const rows of Object.values(pages)) {
  if (JSON.stringify(ours(rows)) !== JSON.stringify(drizzles(rows))) throw new Error('the two mappers disagree')
}

function time(map: (rows: unknown[][]) => unknown[], rows: unknown[][], n: number): number {
  let length = 0
  const start = performance.now()
  for (let i = 0; i < n; i++) length += JSON.stringify(map(rows)).length
  const us = ((performance.now() - start) * 1000) / n
  if (length === 0) throw new Error('nothing mapped')
  return us
}

console.log(`bun ${Bun.version}; ${rounds} rounds of ${iterations} pages (1,000-row pages: a fiftieth of that); µs per page, map + JSON.stringify, median of rounds`)
const results: Record<string, { drizzle: number[]; statement: number[] }> = {}
for (let round = 0; round < rounds; round++) {
  for (const [size, rows] of Object.entries(pages)) {
    const n = size === '1000' ? Math.max(1, Math.floor(iterations / 50)) : iterations
    const r = (results[size] ??= { drizzle: [], statement: [] })
    // Alternating which goes first, so neither always runs on a warmer heap.
    const order = round % 2 === 0 ? (['drizzle', 'statement'] as const) : (['statement', 'drizzle'] as const)
    for (const which of order) r[which].push(time(which === 'drizzle' ? drizzles : ours, rows, n))
  }
}
console.table(
  Object.entries(results).map(([size, r]) => ({
    rows: Number(size),
    "Drizzle's mapResultRow µs": +median(r.drizzle).toFixed(1),
    "statement()'s mapper µs": +median(r.statement).toFixed(1),
    'saved per page µs': +(median(r.drizzle) - median(r.statement)).toFixed(1),
  })),
)
