// Pins a known limit of Bun 1.4.5 (README, "Known limits"): when an HTTP/1.1 request arrives
// pipelined behind one whose handler is asynchronous, Bun closes the connection with no answer at
// all, not even to the first request, whose effects still happen. A plain Bun.serve does the same, so this
// is Bun's, not the app's. When a Bun upgrade fixes it, these tests fail: then drop the limit
// from the README and turn them around into tests that both answers arrive.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Server } from 'bun'
import { newUser, SECRET, signToken } from '../support/app'
import { parseResponses, rawHttp } from '../support/raw-http'
import { startServer, type RunningServer } from '../support/server'

const twoGets = (host: string, path: string, headers = '') =>
  `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${headers}\r\n` + `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${headers}Connection: close\r\n\r\n`

describe('pipelining on a plain Bun.serve (the reproduction)', () => {
  let server: Server<undefined>
  beforeAll(() => {
    server = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      async fetch(request) {
        await Bun.sleep(1)
        return new Response(new URL(request.url).pathname)
      },
    })
  })
  afterAll(() => server.stop(true))

  test('an async handler: two pipelined requests get no answer at all', async () => {
    const responses = parseResponses(await rawHttp(server.url.href, twoGets(server.url.host, '/x')))
    expect(Bun.version).toBe('1.4.5')
    expect(responses.map((r) => r.status)).toEqual([])
  })
})

describe('pipelining on the service', () => {
  let server: RunningServer
  beforeAll(async () => {
    server = await startServer({ DATABASE_URL: 'memory://', JWT_SECRET: SECRET, RATE_LIMIT_PER_IP: '0', RATE_LIMIT_PER_USER: '0' })
  }, 60_000)
  afterAll(() => server?.stop())

  test('a pipelined write commits, but no response arrives', async () => {
    const user = newUser()
    const token = await signToken({ sub: user })
    const host = new URL(server.url).host
    const body = '{"title":"pipelined"}'
    const post = `POST /api/v1/tasks HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`
    const responses = parseResponses(await rawHttp(server.url, post + post.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')))
    expect(responses.map((r) => r.status)).toEqual([])
    await Bun.sleep(200)
    const list = await fetch(`${server.url}/api/v1/tasks`, { headers: { authorization: `Bearer ${token}` } })
    const titles = ((await list.json()) as { title: string }[]).map((t) => t.title)
    // The first write committed though its 201 never came: a client that pipelines writes must
    // retry them with an Idempotency-Key.
    expect(titles.length).toBeGreaterThanOrEqual(1)
    expect(titles.every((t) => t === 'pipelined')).toBe(true)
  })
})
