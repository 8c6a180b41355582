// Migrations: applied on an empty database, not again on restart, each exactly once when several
// instances start together, all-or-nothing, and an out-of-order migration is refused.
import { afterAll, describe, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openDatabase, type Database } from '../../src/db/client'
import { journal, migrate, MigrationError, migrations, type Migration } from '../../src/db/migrate'
import { generateNKeysBetween } from 'fractional-indexing'
import { keyBetween } from '../../src/db/positions'
import { tasks } from '../../src/db/schema'
import { createTask } from '../../src/tasks/queries'
import { databaseConfig, drivers, hasPostgres, scratchPostgres } from '../support/databases'

const recorded = async (db: Database) => (await db.select({ createdAt: journal.createdAt }).from(journal)).map((r) => r.createdAt)
const tableExists = async (db: Database, name: string) => {
  const rows = await db.select({ n: sql<number>`count(*)`.mapWith(Number) }).from(sql`information_schema.tables`).where(sql`table_name = ${name}`)
  return rows[0]!.n === 1
}

// db.execute answers in each driver's own shape: an array (Bun.SQL) or { rows } (PGlite, Neon).
const rowsOf = <T>(result: unknown): T[] => (Array.isArray(result) ? result : (result as { rows: T[] }).rows)

/**
 * The plan Postgres picks with sequential and bitmap scans priced out (tables in tests are too small
 * for an index to win on cost): whether an index can serve the query, in its order, alone.
 */
const planOf = (db: Database, query: string) =>
  db.transaction(async (tx) => {
    await tx.execute(sql`set local enable_seqscan = off`)
    await tx.execute(sql`set local enable_bitmapscan = off`)
    return rowsOf<Record<string, string>>(await tx.execute(sql.raw(`explain ${query}`)))
      .map((row) => Object.values(row)[0])
      .join('\n')
  })

const last = migrations[migrations.length - 1]!
const later = (tag: string, statements: string[], offsetMs: number): Migration => ({
  sql: statements,
  bps: true,
  folderMillis: last.folderMillis + offsetMs,
  hash: tag,
  tag,
})

for (const driver of drivers) {
  describe(`migrations [${driver.name}]`, () => {
    test('an empty database gets every migration, and nothing is re-applied on the next start', async () => {
      const database = await driver.create({ migrated: false })
      try {
        const { db } = database.handle
        expect(await migrate(db)).toEqual(migrations.map((m) => m.tag))
        expect(await tableExists(db, 'tasks')).toBe(true)
        expect(await migrate(db)).toEqual([])
        expect(await recorded(db)).toEqual(migrations.map((m) => m.folderMillis))
      } finally {
        await database.drop()
      }
    })

    test('version-1 data is carried over: every task in no list, positions in version 1\'s default order (newest first)', async () => {
      const database = await driver.create({ migrated: false })
      try {
        const { db } = database.handle
        const v1 = migrations.findIndex((m) => m.tag === '0001_lists')
        expect(await migrate(db, migrations.slice(0, v1))).toEqual(['0000_init'])
        // 4,000 tasks for one user (past the two- and three-character keys), created in pairs with
        // equal created_at (ties are ordered by id); three for another, one completed.
        await db.execute(sql`
          insert into tasks (id, user_id, title, created_at, updated_at)
          select gen_random_uuid(), 'many', 'task ' || i, timestamptz '2026-01-01T00:00:00Z' + (i / 2) * interval '1 second', now()
          from generate_series(1, 4000) as i`)
        await db.execute(sql`
          insert into tasks (id, user_id, title, completed, completed_at, priority, created_at) values
            (${Bun.randomUUIDv7()}, 'few', 'one', false, null, 'high', '2026-02-01T00:00:00Z'),
            (${Bun.randomUUIDv7()}, 'few', 'two', true, now(), 'none', '2026-02-02T00:00:00Z'),
            (${Bun.randomUUIDv7()}, 'few', 'three', false, null, 'low', '2026-02-03T00:00:00Z')`)
        const snapshot = async () => rowsOf(await db.execute(sql`select id, title, completed, priority, version, created_at::text from tasks order by id`))
        const before = await snapshot()

        expect(await migrate(db)).toEqual(migrations.slice(v1).map((m) => m.tag))

        for (const user of ['many', 'few']) {
          const v1Order = await db.select({ id: tasks.id }).from(tasks).where(sql`user_id = ${user}`).orderBy(sql`created_at desc, id desc`)
          const rows = await db.select().from(tasks).where(sql`user_id = ${user}`).orderBy(tasks.position, tasks.id)
          expect(rows.map((r) => r.id)).toEqual(v1Order.map((r) => r.id))
          expect(rows.every((r) => r.listId === null)).toBe(true)
          // Keys the key library reads, strictly ascending, short, each pair with room between.
          for (const [i, row] of rows.entries()) {
            expect(row.position.length).toBeLessThanOrEqual(5)
            if (i > 0) expect(keyBetween(rows[i - 1]!.position, row.position), `${rows[i - 1]!.position} ${row.position}`).not.toBeNull()
          }
        }
        // Exactly the key library's first 4,000 integer keys.
        const many = await db.select({ position: tasks.position }).from(tasks).where(sql`user_id = 'many'`).orderBy(tasks.position)
        expect(many.map((r) => r.position)).toEqual(generateNKeysBetween(null, null, 4000))
        expect([many[61]!.position, many[62]!.position, many[3905]!.position, many[3906]!.position]).toEqual(['az', 'b00', 'bzz', 'c000'])
        // Nothing else changed.
        expect(await snapshot()).toEqual(before)

        // A version-1 instance still running during a rolling deploy can insert (without a position).
        await db.execute(sql`insert into tasks (id, user_id, title) values (${Bun.randomUUIDv7()}, 'few', 'from an old instance')`)
        // This version puts a new task on top.
        const fresh = await createTask(db, 'many', { title: 'new' })
        const top = await db.select({ id: tasks.id }).from(tasks).where(sql`user_id = 'many'`).orderBy(tasks.position, tasks.id).limit(1)
        expect(top[0]!.id).toBe(fresh.id)
      } finally {
        await database.drop()
      }
    }, 60_000)

    test('one list\'s tasks in order, and a user\'s lists in order, are index scans with no sort', async () => {
      const database = await driver.create()
      try {
        const { db } = database.handle
        for (const query of [
          `select * from tasks where user_id = 'u' and list_id = '${Bun.randomUUIDv7()}' order by position, id limit 50`,
          `select * from tasks where user_id = 'u' and list_id is null order by position desc, id desc limit 50`,
          `select * from tasks where user_id = 'u' and list_id is null and (position, id) > ('a0', '${Bun.randomUUIDv7()}') order by position, id limit 50`,
          `select position from tasks where user_id = 'u' and list_id = '${Bun.randomUUIDv7()}' and (position, id) < ('a0', '${Bun.randomUUIDv7()}') and id <> '${Bun.randomUUIDv7()}' order by position desc, id desc limit 1`,
          `select * from lists where user_id = 'u' order by position, id`,
        ]) {
          const plan = await planOf(db, query)
          expect(plan, plan).toMatch(/Index (Only )?Scan( Backward)? using (tasks_user_list_position_idx|tasks_user_inbox_position_idx|lists_user_position_idx)/)
          expect(plan, plan).not.toContain('Sort')
        }
      } finally {
        await database.drop()
      }
    })

    test('a failing migration leaves the schema and data as they were', async () => {
      const database = await driver.create()
      try {
        const { db } = database.handle
        await db.insert(tasks).values({ id: Bun.randomUUIDv7(), userId: 'u', title: 'kept' })
        const broken = later('9000_broken', ['create table half_done (a int)', 'delete from tasks', 'select 1/0'], 1000)
        await expect(migrate(db, [...migrations, broken])).rejects.toThrow()
        expect(await tableExists(db, 'half_done')).toBe(false)
        expect((await db.select().from(tasks)).map((t) => t.title)).toEqual(['kept'])
        expect(await recorded(db)).toEqual(migrations.map((m) => m.folderMillis))
      } finally {
        await database.drop()
      }
    })

    test('a migration older than one already applied is reported, not skipped', async () => {
      const database = await driver.create()
      try {
        const { db } = database.handle
        const newer = later('9002_newer', ['create table newer_one (a int)'], 2000)
        const older = later('9001_older', ['create table older_one (a int)'], 1000)
        expect(await migrate(db, [...migrations, newer])).toEqual(['9002_newer'])
        const error = await migrate(db, [...migrations, older, newer]).catch((e: unknown) => e)
        expect(error).toBeInstanceOf(MigrationError)
        expect((error as Error).message).toContain('9001_older')
        expect(await tableExists(db, 'older_one')).toBe(false)
      } finally {
        await database.drop()
      }
    })
  })
}

describe('migrations [pglite on disk]', () => {
  const dir = mkdtempSync(join(tmpdir(), 'taskapi-migrate-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  test('a restart on the same data directory applies nothing and keeps the data', async () => {
    const first = await openDatabase({ driver: 'pglite', dataDir: dir })
    expect(await migrate(first.db)).toEqual(migrations.map((m) => m.tag))
    await first.db.insert(tasks).values({ id: Bun.randomUUIDv7(), userId: 'u', title: 'persisted' })
    await first.close()

    const second = await openDatabase({ driver: 'pglite', dataDir: dir })
    try {
      expect(await migrate(second.db)).toEqual([])
      expect((await second.db.select().from(tasks)).map((t) => t.title)).toEqual(['persisted'])
    } finally {
      await second.close()
    }
  }, 60_000)
})

describe.if(hasPostgres)('migrations [postgres, five instances at once]', () => {
  test('every migrator succeeds and each migration, data included, is applied exactly once', async () => {
    const scratch = await scratchPostgres()
    const handles = await Promise.all(Array.from({ length: 5 }, () => openDatabase(databaseConfig({ DATABASE_URL: scratch.url }))))
    try {
      const results = await Promise.all(handles.map((h) => migrate(h.db)))
      expect(results.flat()).toEqual(migrations.map((m) => m.tag))
      expect(await recorded(handles[0]!.db)).toEqual(migrations.map((m) => m.folderMillis))

      const seed = later('9003_seed', [`insert into tasks (id, user_id, title) values ('${Bun.randomUUIDv7()}', 'seeded', 'from a migration')`], 3000)
      const again = await Promise.all(handles.map((h) => migrate(h.db, [...migrations, seed])))
      expect(again.flat()).toEqual(['9003_seed'])
      expect((await handles[0]!.db.select().from(tasks)).map((t) => t.title)).toEqual(['from a migration'])
    } finally {
      await Promise.all(handles.map((h) => h.close()))
      await scratch.drop()
    }
  }, 60_000)
})
