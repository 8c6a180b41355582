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

/**
 * A Redis that completes the handshake (HELLO, answered with a minimal RESP3 map) and then never
 * answers a command: a server too slow to wait for. `received()` is every byte it was sent.
 */
export function silentRedis(): { url: string; received(): string; stop(): void } {
  let received = ''
  const listener: TCPSocketListener = Bun.listen({
    hostname: '127.0.0.1',
    port: 0,
    socket: {
      data(socket, chunk) {
        const text = new TextDecoder().decode(chunk)
        received += text
        if (text.includes('HELLO')) socket.write('%1\r\n+server\r\n+redis\r\n')
      },
    },
  })
  return { url: `redis://127.0.0.1:${listener.port}`, received: () => received, stop: () => listener.stop(true) }
}
