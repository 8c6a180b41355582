// A TCP relay in front of the test Postgres that can be stopped and started on the same port, to
// play a database that is away at start-up and comes back, or frozen (connections open, nothing
// moves) to play one that hangs.
import type { Socket, TCPSocketListener } from 'bun'
import { flush } from './backlog'

interface Pair {
  peer?: Socket<Pair>
  backlog: Uint8Array[]
  sockets: Set<Socket<Pair>>
}

export interface TcpProxy {
  readonly port: number
  start(): void
  /** Stops listening and cuts every relayed connection. */
  stop(): void
  /** Keeps every connection open (and accepts new ones) but relays no byte until `thaw`. */
  freeze(): void
  thaw(): void
  /**
   * Client flights so far: runs of bytes a client sent with no reply from upstream in between, so
   * statements sent together count once (a round trip each, on one connection).
   */
  readonly flights: number
}

export function startTcpProxy(target: { host: string; port: number }, { listening = true } = {}): TcpProxy {
  const open = new Set<Socket<Pair>>()
  let frozen = false
  let flights = 0
  let replied = true
  const relay = (backlog: Uint8Array[], socket: Socket<Pair> | undefined) => {
    if (!frozen) flush(backlog, socket)
  }
  // Reserve a port by listening once; a stopped proxy comes back on the same one.
  let listener: TCPSocketListener<Pair> | undefined
  const listen = (port: number) =>
    Bun.listen<Pair>({
      hostname: '127.0.0.1',
      port,
      socket: {
        async open(client) {
          const toClient: Pair = { backlog: [], sockets: open, peer: client }
          client.data = { backlog: [], sockets: open }
          open.add(client)
          try {
            const upstream = await Bun.connect<Pair>({
              hostname: target.host,
              port: target.port,
              data: toClient,
              socket: {
                data: (s, chunk) => {
                  replied = true
                  s.data.backlog.push(new Uint8Array(chunk))
                  relay(s.data.backlog, s.data.peer)
                },
                // upstream can take more: flush what the client sent
                drain: () => relay(client.data.backlog, client.data.peer),
                close: () => {
                  client.end()
                },
                error: () => {
                  client.end()
                },
              },
            })
            open.add(upstream)
            client.data.peer = upstream
            relay(client.data.backlog, upstream)
          } catch {
            client.end()
          }
        },
        data: (s, chunk) => {
          if (replied) flights++
          replied = false
          s.data.backlog.push(new Uint8Array(chunk))
          relay(s.data.backlog, s.data.peer)
        },
        // the client can take more: flush what upstream sent
        drain: (s) => {
          if (s.data.peer) relay(s.data.peer.data.backlog, s)
        },
        close: (s) => {
          open.delete(s)
          s.data.peer?.end()
        },
      },
    })
  listener = listen(0)
  const port = listener.port
  if (!listening) {
    listener.stop(true)
    listener = undefined
  }
  return {
    port,
    start() {
      listener ??= listen(port)
    },
    stop() {
      listener?.stop(true)
      listener = undefined
      for (const s of open) s.end()
      open.clear()
    },
    freeze() {
      frozen = true
    },
    thaw() {
      frozen = false
      for (const s of open) flush(s.data.backlog, s.data.peer)
    },
    get flights() {
      return flights
    },
  }
}
