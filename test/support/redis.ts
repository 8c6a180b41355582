// The machine's Redis for tests (TEST_REDIS_URL, by default 127.0.0.1:6379): each suite gets a
// random key prefix of its own and deletes its keys after; a relay in front of it can be stopped to
// play Redis going away, and a silent listener plays a Redis that never answers.
import { RedisClient, type TCPSocketListener } from 'bun'
import { startTcpProxy, type TcpProxy } from './tcp-proxy'

export const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

export interface TestRedis {
  /** What the service gets: a relay in front of the test Redis. */
  url: string
  relay: TcpProxy
  keyPrefix: string
  /** A direct client, for looking at the keys. */
  client: RedisClient
  close(): Promise<void>
}

export async function testRedis(): Promise<TestRedis> {
  const target = new URL(redisUrl)
  const relay = startTcpProxy({ host: target.hostname, port: Number(target.port || 6379) })
  const keyPrefix = `taskapi-test:${crypto.randomUUID()}:`
  const client = new RedisClient(redisUrl)
  await client.connect()
  return {
    url: `redis://127.0.0.1:${relay.port}`,
    relay,
    keyPrefix,
    client,
    async close() {
      relay.stop()
      const keys = (await client.send('KEYS', [`${keyPrefix}*`])) as string[]
      if (keys.length > 0) await client.send('DEL', keys)
      client.close()
    },
  }
}

/** A port that accepts connections and never answers: a Redis too slow to wait for. */
export function silentRedis(): { url: string; stop(): void } {
  const listener: TCPSocketListener = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  return { url: `redis://127.0.0.1:${listener.port}`, stop: () => listener.stop(true) }
}
