// A WebSocket-to-TCP relay standing in for Neon's proxy: Neon's serverless driver speaks the raw
// Postgres protocol inside a WebSocket, so this lets it reach the local test Postgres. It relays
// only to the one address it is given, and can be stopped and restarted on the same port to play
// a database that goes away and comes back, or frozen (sockets open, nothing moves) to play one
// that hangs.
import type { Server, Socket } from 'bun'
import { flush } from './backlog'

interface Relay {
  upstream?: Socket<Relay>
  /** Bytes not yet taken by the upstream socket (before it connected, or under backpressure). */
  backlog: Uint8Array[]
  /** Bytes from upstream held while the relay is frozen. */
  held: Uint8Array[]
  ws?: { sendBinary(data: Uint8Array): number }
}

export interface WsProxy {
  /** The value for NEON_WS_PROXY. */
  readonly address: string
  readonly port: number
  stop(): Promise<void>
  start(): void
  /** Keeps every socket open (and accepts new ones) but relays no byte until `thaw`. */
  freeze(): void
  thaw(): void
}

export function startWsProxy(target: { host: string; port: number }, port = 0): WsProxy {
  let server: Server<Relay> | undefined
  let frozen = false
  const relays = new Set<Relay>()
  const toClient = (relay: Relay) => {
    while (!frozen && relay.ws && relay.held.length > 0) relay.ws.sendBinary(relay.held.shift()!)
  }
  const allowed = `${target.host}:${target.port}`

  const start = (listenPort: number) =>
    Bun.serve<Relay>({
      port: listenPort,
      hostname: '127.0.0.1',
      fetch(req, srv) {
        const url = new URL(req.url)
        if (url.pathname !== '/v1' || url.searchParams.get('address') !== allowed) return new Response('forbidden', { status: 403 })
        return srv.upgrade(req, { data: { backlog: [], held: [] } }) ? undefined : new Response('upgrade failed', { status: 400 })
      },
      websocket: {
        async open(ws) {
          ws.data.ws = ws
          relays.add(ws.data)
          try {
            ws.data.upstream = await Bun.connect<Relay>({
              hostname: target.host,
              port: target.port,
              data: ws.data,
              socket: {
                data: (_, chunk) => {
                  ws.data.held.push(new Uint8Array(chunk))
                  toClient(ws.data)
                },
                drain: (socket) => void (frozen || flush(socket.data.backlog, socket)),
                close: () => ws.close(),
                error: () => ws.close(),
              },
            })
            if (!frozen) flush(ws.data.backlog, ws.data.upstream)
          } catch {
            ws.close()
          }
        },
        message(ws, message) {
          ws.data.backlog.push(typeof message === 'string' ? new TextEncoder().encode(message) : new Uint8Array(message))
          if (!frozen) flush(ws.data.backlog, ws.data.upstream)
        },
        close(ws) {
          relays.delete(ws.data)
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
    freeze() {
      frozen = true
    },
    thaw() {
      frozen = false
      for (const relay of relays) {
        flush(relay.backlog, relay.upstream)
        toClient(relay)
      }
    },
  }
}
