// The sync settings: defaults, the direct URL for LISTEN, and bad values named.
import { describe, expect, test } from 'bun:test'
import { ConfigError, loadConfig } from '../../src/config'

const SECRET = 'x'.repeat(40)

describe('sync configuration', () => {
  test('defaults: 30 days of retention, 10 streams per user, LISTEN on DATABASE_URL', () => {
    const config = loadConfig({ JWT_SECRET: SECRET, DATABASE_URL: 'postgres://db.internal/tasks' })
    expect(config.sync).toEqual({ retentionDays: 30, maxStreamsPerUser: 10 })
    expect(config.database).toMatchObject({ directUrl: undefined })
  })

  test('DATABASE_DIRECT_URL is where a Postgres or Neon instance listens', () => {
    for (const url of ['postgres://db.internal/tasks', 'postgres://ep-x-pooler.eu.aws.neon.tech/tasks']) {
      const config = loadConfig({ JWT_SECRET: SECRET, DATABASE_URL: url, DATABASE_DIRECT_URL: 'postgresql://direct.internal/tasks' })
      expect(config.database).toMatchObject({ url, directUrl: 'postgresql://direct.internal/tasks' })
    }
  })

  test('bad values are each named', () => {
    const error = (() => {
      try {
        loadConfig({ JWT_SECRET: SECRET, SYNC_RETENTION_DAYS: '0', EVENTS_MAX_STREAMS_PER_USER: 'many', DATABASE_DIRECT_URL: 'mysql://x' })
      } catch (e) {
        return e
      }
    })() as ConfigError
    expect(error).toBeInstanceOf(ConfigError)
    expect(error.problems).toEqual(
      expect.arrayContaining([
        'SYNC_RETENTION_DAYS: must be an integer number of days from 1 to 3650',
        'EVENTS_MAX_STREAMS_PER_USER: must be an integer from 1 to 1000',
        'DATABASE_DIRECT_URL: must be a postgres:// or postgresql:// URL of the same database without a pooler (for migrations)',
      ]),
    )
  })
})
