// Runs at bundle time (imported `with { type: "macro" }`): reads drizzle-kit's SQL files so they are
// inlined into the program and the compiled binary needs no migration files beside it.
import { readMigrationFiles } from 'drizzle-orm/migrator'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

export function embeddedMigrations() {
  const migrationsFolder = join(import.meta.dir, '../../drizzle')
  const journal = JSON.parse(readFileSync(join(migrationsFolder, 'meta/_journal.json'), 'utf8')) as {
    entries: { tag: string }[]
  }
  // readMigrationFiles walks the journal in order, so entries and migrations line up.
  return readMigrationFiles({ migrationsFolder }).map((m, i) => ({ ...m, tag: journal.entries[i]!.tag }))
}
