// The sync hub of one instance: its open event streams, the one LISTEN connection that wakes them
// when any instance commits a change for their user (whose writes notify because the hub marks
// them as listened to), the leases that count a user's streams on every instance (streams.ts), and
// the purge of old tombstones and lapsed leases.
// A notification carries only `<seq> <user id>`: a woken stream re-reads the log from its own
// cursor, so a coalesced, late or lost notification (the listener was reconnecting) loses nothing:
// every (re)connection of the listener wakes every stream to re-read.
import { sse } from 'elysia'
import type { DatabaseHandle, Subscription } from '../db/client'
import { ApiError } from '../http/errors'
import type { Logger } from '../log'
import { encodeCursor, type SyncCursor } from './cursor'
import { currentSeq, listenFor, purgeTombstones, readFeed, type FeedOptions } from './feed'
import type { StreamEvent } from './model'
import { SYNC_CHANNEL } from './record'
import { LEASE_RENEW_MS, openLease, purgeLeases, releaseLeases, renewLeases, type Lease } from './streams'

export interface SyncOptions {
  database: DatabaseHandle
  log: Logger
  retentionDays: number
  maxStreamsPerUser: number
  /** Idle time after which a stream sends a comment line; at most 15 s. */
  heartbeatMs?: number
  /** Epoch milliseconds; injectable so tests can move time past the retention. */
  now?: () => number
}

/** What wakes a waiting stream. */
type Wake = 'change' | 'timeout' | 'closed'

/** One open stream: where it has read up to, and how to wake it. */
class Waiter {
  constructor(readonly lease: Lease) {}
  position = 0
  closed = false
  private pending = false
  private resolve: ((wake: Wake) => void) | undefined

  wake(wake: Exclude<Wake, 'timeout'>) {
    if (wake === 'closed') this.closed = true
    if (this.resolve) {
      this.resolve(this.closed ? 'closed' : wake)
      this.resolve = undefined
    } else this.pending = true
  }

  /** Called before each read, so a change committed during the read still wakes the next wait. */
  reset() {
    this.pending = false
  }

  wait(ms: number): Promise<Wake> {
    if (this.closed) return Promise.resolve('closed')
    if (this.pending) return Promise.resolve('change')
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.resolve = undefined
        resolve('timeout')
      }, Math.max(0, ms))
      this.resolve = (wake) => {
        clearTimeout(timer)
        resolve(wake)
      }
    })
  }
}

const PAGE = 500
const HEARTBEAT_MS = 10_000
// A user with a stream open here is marked as listened to for LISTENED_TTL_S, renewed every
// RENEW_MS: an instance that dies stops costing their writes a NOTIFY within minutes.
const LISTENED_TTL_S = 300
const RENEW_MS = 60_000
const keepAlive = new TextEncoder().encode(': keep-alive\n\n')

export type Sync = ReturnType<typeof createSync>

export function createSync({ database, log, retentionDays, maxStreamsPerUser, heartbeatMs = HEARTBEAT_MS, now = Date.now }: SyncOptions) {
  const feed: FeedOptions = { now, retentionMs: retentionDays * 86_400_000 }
  const streams = new Map<string, Set<Waiter>>()
  let listening: Promise<Subscription> | undefined
  let closed = false

  const everyStream = () => [...streams.values()].flatMap((set) => [...set])

  const onNotify = (payload: string) => {
    const space = payload.indexOf(' ')
    const seq = Number(payload.slice(0, space))
    for (const waiter of streams.get(payload.slice(space + 1)) ?? []) if (seq > waiter.position) waiter.wake('change')
  }
  /** Logs a failed background statement by its event name and the error's class, never its message. */
  const warn = (event: string) => (error: unknown) => log.warn(event, { error: (error as Error)?.name })
  /** Renews the marks of every user with a stream open here. */
  const renew = () =>
    listenFor(database.db, [...streams.keys()], LISTENED_TTL_S).catch(warn('sync.renew_failed'))
  let renewing: Timer | undefined
  // Every lease of this instance's streams, renewed together: one statement per instance per
  // LEASE_RENEW_MS, rather than one per stream per heartbeat.
  const renewAll = () => renewLeases(database.db, everyStream().map((w) => w.lease)).catch(warn('sync.lease_renew_failed'))
  let leasing: Timer | undefined
  const onListen = () => {
    log.info('sync.listening')
    // After an outage the marks may have lapsed: renew them before the streams re-read, so a write
    // committed after a stream's read is sure to notify.
    void renew().then(() => {
      for (const waiter of everyStream()) waiter.wake('change')
    })
  }
  /** Starts the listener on the first stream; a failed start is retried by the next stream. */
  const listen = () =>
    (listening ??= database.listen(SYNC_CHANNEL, onNotify, onListen).then(
      (subscription) => {
        renewing ??= setInterval(() => void renew(), RENEW_MS)
        renewing.unref()
        return subscription
      },
      (error: unknown) => {
        listening = undefined
        throw error
      },
    ))

  async function* events(userId: string, since: SyncCursor | null, expiresAt: number, signal: AbortSignal): AsyncGenerator<StreamEvent> {
    if (closed) throw new ApiError('SERVICE_UNAVAILABLE', 'The service is shutting down')
    // The cap counts the user's streams on every instance (src/sync/streams.ts).
    const lease = { userId, streamId: crypto.randomUUID() }
    if (!(await openLease(database.db, lease, maxStreamsPerUser))) {
      throw new ApiError('RATE_LIMITED', `At most ${maxStreamsPerUser} event streams may be open at once`, { headers: { 'retry-after': '30' } })
    }
    leasing ??= setInterval(() => void renewAll(), LEASE_RENEW_MS)
    leasing.unref()
    const mine = streams.get(userId) ?? new Set()
    const waiter = new Waiter(lease)
    mine.add(waiter)
    streams.set(userId, mine)
    const abort = () => waiter.wake('closed')
    signal.addEventListener('abort', abort)
    if (signal.aborted) abort() // during the lease's round trip
    let started = false
    try {
      // Listening, and marked as listened to, before the first read: a change committed after
      // that read is then sure to wake us.
      await listen()
      await listenFor(database.db, [userId], LISTENED_TTL_S)
      let cursor = since ?? { seq: await currentSeq(database.db, userId), floor: 0, issued: Math.floor(now() / 1000) }
      if (!since) {
        const id = encodeCursor(cursor)
        started = true
        yield sse({ event: 'ready', id, data: { cursor: id } }) as StreamEvent
      }
      let read = true
      for (;;) {
        if (read) {
          waiter.position = cursor.seq
          waiter.reset()
          try {
            const page = await readFeed(database.db, userId, cursor, PAGE, feed)
            for (const { seq, change } of page.changes) {
              started = true
              yield sse({ event: 'change', id: encodeCursor({ seq, floor: 0, issued: page.next.issued }), data: change }) as StreamEvent
            }
            cursor = page.next
            if (page.hasMore) continue
            read = false
          } catch (error) {
            // Before anything was sent the client gets a proper error response (410, 400, 503);
            // after, a database outage is waited out and the read retried (on the listener's
            // return, or at the next heartbeat); any other error ends the stream, and the client
            // resumes from its Last-Event-ID.
            if (!started) throw error
            log.warn('sync.stream_read_failed', { user_id: userId, error: error instanceof ApiError ? error.code : (error as Error)?.name })
            if (error instanceof ApiError) return
          }
        }
        const left = expiresAt - Date.now()
        if (left <= 0) return
        const wake = await waiter.wait(Math.min(heartbeatMs, left))
        if (wake === 'closed' || Date.now() >= expiresAt) return
        if (wake === 'change') read = true
        else {
          started = true
          yield keepAlive as unknown as StreamEvent
        }
      }
    } finally {
      signal.removeEventListener('abort', abort)
      // Freed before the stream counts as closed here, so a new stream may open at once (at
      // shutdown, `close` frees every lease in one statement instead).
      if (!closed) {
        await releaseLeases(database.db, [lease]).catch(warn('sync.lease_release_failed'))
      }
      mine.delete(waiter)
      if (mine.size === 0 && streams.get(userId) === mine) streams.delete(userId)
    }
  }

  return {
    feed,
    events,
    /** Streams open on this instance. */
    get openStreams() {
      return everyStream().length
    },
    /** Deletes tombstones older than the retention; run periodically by every instance. */
    purge: async () => {
      await purgeLeases(database.db)
      return purgeTombstones(database.db, new Date(now() - feed.retentionMs))
    },
    /** Ends every stream at once (graceful shutdown must not wait for them) and stops listening. */
    async close() {
      closed = true
      clearInterval(renewing)
      clearInterval(leasing)
      const open = everyStream()
      for (const waiter of open) waiter.wake('closed')
      await releaseLeases(database.db, open.map((w) => w.lease)).catch(warn('sync.lease_release_failed'))
      const subscription = await listening?.catch(() => undefined)
      listening = undefined
      await subscription?.close()
    },
  }
}
