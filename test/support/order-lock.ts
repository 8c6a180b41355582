// Holds a user's ordering lock on a connection of its own, as a move running in another instance
// would, to test what a move that waits for that lock reads once it gets it.
import { SQL } from 'bun'
import { sql } from 'drizzle-orm'
import { ORDER_LOCK_CLASS } from '../../src/db/positions'
import type { TestApp } from './app'

/**
 * Takes `user`'s ordering lock on another connection to the app's database (a server driver's),
 * starts `request`, waits until it is blocked on that lock, then runs `meanwhile` in the lock's
 * transaction and commits, letting `request` go on. Returns what `request` resolved to.
 */
export async function whileOrderLocked<T>(t: TestApp, user: string, request: () => Promise<T>, meanwhile: (tx: SQL) => Promise<unknown>): Promise<T> {
  const [row] = await t.db.db.select({ name: sql<string>`current_database()` }).from(sql`(select 1) as one`)
  const other = new SQL(process.env.TEST_DATABASE_URL!.replace(/\/[^/]*$/, `/${row!.name}`), { max: 1 })
  try {
    let pending: Promise<T> | undefined
    await other.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(${ORDER_LOCK_CLASS}::int, hashtext(${user}))`
      pending = request()
      pending.catch(() => {}) // awaited below
      // pg_locks reads shared memory, not this transaction's snapshot: polling here sees the wait.
      for (let waited = 0; ; waited += 10) {
        const [{ waiting }] = await tx`select count(*)::int as waiting from pg_locks where locktype = 'advisory' and not granted
          and database = (select oid from pg_database where datname = current_database()) and classid = ${ORDER_LOCK_CLASS}`
        if (waiting > 0) break
        if (waited > 10_000) throw new Error('the request never waited for the ordering lock')
        await Bun.sleep(10)
      }
      await meanwhile(tx)
    })
    return await pending!
  } finally {
    await other.close()
  }
}
