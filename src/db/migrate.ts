// Applies the migrations drizzle-kit wrote under drizzle/, embedded at bundle time. All pending
// migrations run in one transaction that first takes an advisory lock, so instances starting at
// once apply each migration exactly once, and a failure leaves the schema as it was.
import { desc, sql } from 'drizzle-orm'
import { bigint, pgSchema, serial, text } from 'drizzle-orm/pg-core'
import type { Database } from './client'
import { embeddedMigrations } from './migrations.macro' with { type: 'macro' }

export const migrations = embeddedMigrations()

// The same table drizzle-kit's own migrator keeps, so either can take over from the other.
export const journal = pgSchema('drizzle').table('__drizzle_migrations', {
  id: serial('id').primaryKey(),
  hash: text('hash').notNull(),
  createdAt: bigint('created_at', { mode: 'number' }),
})

// An arbitrary constant shared by every taskapi instance: "taskapi migrate".
const LOCK_KEY = 0x7461736b

export class MigrationError extends Error {
  override name = 'MigrationError'
}

export type Migration = (typeof migrations)[number]

/** Applies pending migrations; returns the tags of those it applied. */
export async function migrate(db: Database, list: readonly Migration[] = migrations): Promise<string[]> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${LOCK_KEY})`)
    await tx.execute(sql`create schema if not exists drizzle`)
    await tx.execute(
      sql`create table if not exists drizzle.__drizzle_migrations (id serial primary key, hash text not null, created_at bigint)`,
    )
    const applied = await tx.select({ createdAt: journal.createdAt }).from(journal).orderBy(desc(journal.createdAt))
    const last = applied[0]?.createdAt ?? -1
    const appliedAt = new Set(applied.map((m) => m.createdAt))
    const skipped = list.filter((m) => m.folderMillis <= last && !appliedAt.has(m.folderMillis))
    if (skipped.length > 0) {
      throw new MigrationError(
        `migration(s) ${skipped.map((m) => m.tag).join(', ')} are older than the last applied one and were never applied; give them a newer timestamp`,
      )
    }
    const pending = list.filter((m) => m.folderMillis > last)
    for (const migration of pending) {
      for (const statement of migration.sql) {
        if (statement.trim()) await tx.execute(sql.raw(statement))
      }
      await tx.insert(journal).values({ hash: migration.hash, createdAt: migration.folderMillis })
    }
    return pending.map((m) => m.tag)
  })
}

export interface MigrationState {
  tag: string
  applied: boolean
}

/** Every embedded migration, applied or pending (for `migrate --status`). */
export async function migrationStatus(db: Database, list: readonly Migration[] = migrations): Promise<MigrationState[]> {
  const [exists] = await db
    .select({ n: sql<number>`count(*)`.mapWith(Number) })
    .from(sql`information_schema.tables`)
    .where(sql`table_schema = 'drizzle' and table_name = '__drizzle_migrations'`)
  const applied = exists!.n === 0 ? [] : await db.select({ createdAt: journal.createdAt }).from(journal)
  const appliedAt = new Set(applied.map((m) => m.createdAt))
  return list.map((m) => ({ tag: m.tag, applied: appliedAt.has(m.folderMillis) }))
}
