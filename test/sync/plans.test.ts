// The change log's statements on a log of some size (50,000 objects over 500 users, one in 500 a
// tombstone, and one user with 20,000): a page of a long log is one range read of (user_id, seq),
// never a sort of the whole log, and the purge finds tombstones through their partial index,
// never scanning live objects.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { feedQuery } from '../../src/sync/feed'
import { drivers, hasPostgres, type TestDatabase } from '../support/databases'

describe.if(hasPostgres)('change log plans [postgres]', () => {
  let database: TestDatabase
  const explain = async (query: { toSQL(): { sql: string; params: unknown[] } } | ReturnType<typeof sql>) => {
    const { db } = database.handle
    const built = 'toSQL' in query ? query.toSQL() : null
    const statement = built ? sql.raw(`explain ${inline(built.sql, built.params)}`) : sql`explain ${query}`
    return JSON.stringify(await db.execute(statement))
  }
  beforeAll(async () => {
    database = await drivers.find((d) => d.name === 'postgres')!.create()
    const { db } = database.handle
    await db.execute(sql`insert into sync_log (user_id, object_id, kind, seq, deleted, changed_at)
      select 'u' || (g % 500), gen_random_uuid(), 'task', g, g % 500 = 0, now() - interval '40 days' from generate_series(1, 50000) g`)
    await db.execute(sql`insert into sync_log (user_id, object_id, kind, seq, deleted)
      select 'big', gen_random_uuid(), 'task', g, g % 10 = 0 from generate_series(1, 20000) g`)
    await db.execute(sql`insert into sync_heads (user_id, seq) select 'u' || g, 50000 from generate_series(0, 499) g union all select 'big', 20000`)
    await db.execute(sql`analyze`)
  }, 60_000)
  afterAll(() => database?.drop(), 60_000)

  test('a page of a long log is one index range read, with key lookups of the objects', async () => {
    for (const [after, floor] of [[0, null], [100, 0], [100, 15_000], [19_000, 0]] as const) {
      const plan = await explain(feedQuery(database.handle.db, 'big', after, floor, 500))
      expect(plan).toContain('Index Scan using sync_log_user_seq_idx on sync_log')
      expect(plan).not.toContain('Seq Scan on sync_log')
      expect(plan).not.toContain('Bitmap Heap Scan on sync_log')
    }
  })

  test('the purge finds old tombstones through their partial index', async () => {
    const plan = await explain(sql`select user_id, object_id from sync_log where deleted and changed_at < now() - interval '30 days' limit 5000 for update skip locked`)
    expect(plan).toContain('sync_log_tombstones_idx')
    expect(plan).not.toContain('Seq Scan')
  })
})

/** Drizzle's $n placeholders filled in, for EXPLAIN (values are numbers and plain strings here). */
function inline(text: string, params: unknown[]) {
  return text.replace(/\$(\d+)/g, (_, n) => {
    const v = params[Number(n) - 1]
    return typeof v === 'number' || typeof v === 'boolean' ? String(v) : `'${String(v).replaceAll("'", "''")}'`
  })
}
