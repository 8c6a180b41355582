// A WebSocket-to-TCP relay standing in for Neon's proxy: Neon's serverless driver speaks the raw
// Postgres protocol inside a WebSocket, so this lets it reach the local test Postgres. It relays
// only to the one address it is given, and can be stopped and restarted on the same port to play
// a database that goes away and comes back.
import type { Server, Socket } from 'bun'
import { flush } from './backlog'

interface Relay {
  upstream?: Socket<Relay>
  /** Bytes not yet taken by the upstream socket (before it connected, or under backpressure). */
  backlog: Uint8Array[]
}

export interface WsProxy {
  /** The value for NEON_WS_PROXY. */
  readonly address: string
  readonly port: number
  stop(): Promise<void>
  start(): void
}

export function startWsProxy(target: { host: string; port: number }, port = 0): WsProxy {
  let server: Server<Relay> | undefined
  const allowed = `${target.host}:${target.port}`

  const start = (listenPort: number) =>
    Bun.serve<Relay>({
      port: listenPort,
      hostname: '127.0.0.1',
      fetch(req, srv) {
        const url = new URL(req.url)
        if (url.pathname !== '/v1' || url.searchParams.get('address') !== allowed) return new Response('forbidden', { status: 403 })
        return srv.upgrade(req, { data: { backlog: [] } }) ? undefined : new Response('upgrade failed', { status: 400 })
      },
      websocket: {
        async open(ws) {
          try {
            ws.data.upstream = await Bun.connect<Relay>({
              hostname: target.host,
              port: target.port,
              data: ws.data,
              socket: {
                data: (_, chunk) => void ws.sendBinary(chunk),
                drain: (socket) => flush(socket.data.backlog, socket),
                close: () => ws.close(),
                error: () => ws.close(),
              },
            })
            flush(ws.data.backlog, ws.data.upstream)
          } catch {
            ws.close()
          }
        },
        message(ws, message) {
          ws.data.backlog.push(typeof message === 'string' ? new TextEncoder().encode(message) : new Uint8Array(message))
          flush(ws.data.backlog, ws.data.upstream)
        },
        close(ws) {
          ws.data.upstream?.end()
        },
      },
    })

  server = start(port)
  const boundPort = server.port!
  return {
    address: `127.0.0.1:${boundPort}/v1`,
    port: boundPort,
    async stop() {
      // Closing the listener and every relayed connection: to the driver, the database is gone.
      await server?.stop(true)
      server = undefined
    },
    start() {
      server ??= start(boundPort)
    },
  }
}
