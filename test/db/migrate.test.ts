// Migrations: applied on an empty database, not again on restart, each exactly once when several
// instances start together, all-or-nothing, and an out-of-order migration is refused.
import { afterAll, describe, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openDatabase, type Database } from '../../src/db/client'
import { journal, migrate, MigrationError, migrations, type Migration } from '../../src/db/migrate'
import { tasks } from '../../src/db/schema'
import { databaseConfig, drivers, hasPostgres, scratchPostgres } from '../support/databases'

const recorded = async (db: Database) => (await db.select({ createdAt: journal.createdAt }).from(journal)).map((r) => r.createdAt)
const tableExists = async (db: Database, name: string) => {
  const rows = await db.select({ n: sql<number>`count(*)`.mapWith(Number) }).from(sql`information_schema.tables`).where(sql`table_name = ${name}`)
  return rows[0]!.n === 1
}

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
