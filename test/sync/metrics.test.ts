// The open event streams, as a Prometheus gauge: counted while a stream is open, not after.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createMetrics } from '../../src/http/metrics'
import { createTestApp, type TestApp } from '../support/app'
import { drivers, type TestDatabase } from '../support/databases'
import { newUser } from '../support/factories'
import { readSse } from '../support/sse'

describe('metrics: open event streams [pglite]', () => {
  let database: TestDatabase
  let t: TestApp
  beforeAll(async () => {
    database = await drivers[0]!.create()
    t = await createTestApp(database)
  }, 60_000)
  afterAll(async () => {
    await t?.sync.close()
    await database?.drop()
  })

  test('taskapi_event_streams_open follows the streams', async () => {
    const metrics = createMetrics({ streams: () => t.sync.openStreams })
    const gauge = async () => /^taskapi_event_streams_open (\d+)$/m.exec(await metrics.registry.metrics())?.[1]
    expect(await gauge()).toBe('0')
    const controller = new AbortController()
    const res = await t.app.handle(
      new Request('http://localhost/api/v1/events', { headers: { authorization: `Bearer ${await t.token(newUser())}` }, signal: controller.signal }),
    )
    expect(await readSse(res).next()).toMatchObject({ event: 'ready' })
    expect(await gauge()).toBe('1')
    controller.abort()
    await Bun.sleep(50)
    expect(await gauge()).toBe('0')
  })
})
