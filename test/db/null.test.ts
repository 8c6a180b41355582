// The database of commands that need none: nothing opens, every query fails at once, close is free.
import { expect, test } from 'bun:test'
import { tasks } from '../../src/db/schema'
import { nullDatabase } from '../../src/db/null'

test('nullDatabase refuses every query and schema check, and closes', async () => {
  const database = nullDatabase()
  expect(database.driver).toBe('none')
  // Drizzle wraps the refusal in its query error.
  const failed = await database.db.select().from(tasks).then(() => null, (error: Error) => error)
  expect((failed?.cause as Error | undefined)?.message).toBe('this command has no database')
  await expect(database.ensureSchema()).rejects.toThrow('this command has no database')
  await expect(database.checkReady(100)).rejects.toThrow('this command has no database')
  await database.close()
})
