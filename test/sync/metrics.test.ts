// The open event streams, as a Prometheus gauge: counted while a stream is open, not after.
import { describe, expect, test } from 'bun:test'
import { createMetrics } from '../../src/http/metrics'
import { appOn } from '../support/app'
import { newUser } from '../support/factories'
import { readSse } from '../support/sse'

describe('metrics: open event streams [pglite]', () => {
  const ctx = appOn()

  test('taskapi_event_streams_open follows the streams', async () => {
    const t = ctx()
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
