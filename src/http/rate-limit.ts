// Request budgets (fixed windows): one per client address, checked before a token is verified so
// floods cannot spend the verifier, and one per user after. They live in this instance's memory,
// or, with REDIS_URL, in Redis, shared by every instance. Memory is bounded: past `maxKeys`,
// expired windows go first, then the oldest, so rotating addresses or user ids cannot grow it.
import { RedisClient } from 'bun'
import type { Logger } from '../log'
import { ApiError } from './errors'

interface Window {
  startedAt: number
  count: number
}

export interface Budget {
  allowed: boolean
  limit: number
  remaining: number
  /** Epoch milliseconds when the window restarts. */
  resetAt: number
}

export class RateLimiter {
  private readonly windows = new Map<string, Window>()

  constructor(
    readonly limit: number,
    private readonly windowMs: number,
    private readonly maxKeys = 50_000,
  ) {}

  get size() {
    return this.windows.size
  }

  take(key: string, now = Date.now()): Budget {
    let w = this.windows.get(key)
    if (!w || now - w.startedAt >= this.windowMs) {
      // Re-inserted, so the map stays ordered by window start and eviction finds the oldest first.
      this.windows.delete(key)
      this.makeRoom(now)
      w = { startedAt: now, count: 0 }
      this.windows.set(key, w)
    }
    w.count++
    return {
      allowed: w.count <= this.limit,
      limit: this.limit,
      remaining: Math.max(0, this.limit - w.count),
      resetAt: w.startedAt + this.windowMs,
    }
  }

  private makeRoom(now: number) {
    for (const [key, w] of this.windows) {
      if (this.windows.size < this.maxKeys && now - w.startedAt < this.windowMs) return
      this.windows.delete(key)
    }
  }
}

export interface RateLimits {
  /** Spends one request of the client's budget; rejects with 429 when it is spent. */
  client(address: string, headers: Record<string, string | number>): Promise<void>
  /** The same for the authenticated user. */
  user(userId: string, headers: Record<string, string | number>): Promise<void>
  /**
   * Takes one of the user's slots for requests in flight and returns its release; throws 429 when
   * all are taken. It bounds what one user's concurrent requests hold in memory and CPU at once,
   * so clients that never read their answers cannot starve other users. Per instance.
   */
  inFlight(userId: string): () => void
  close(): void
}

/** Requests one user may have in flight at once, over every connection. */
export const MAX_IN_FLIGHT_PER_USER = 8

/** What the budgets report to the metrics. */
export interface RateLimitEvents {
  rejected(scope: 'client' | 'user'): void
  storeFailed(): void
}

export interface RateLimitOptions {
  now?: () => number
  /** Budgets shared by every instance through Redis; without it, per-instance memory. */
  redis?: { url: string; keyPrefix: string }
  log?: Logger
  events?: RateLimitEvents
}

export function createRateLimits(config: { perIp: number; perUser: number; windowS: number }, options: RateLimitOptions = {}): RateLimits {
  const { now = () => Date.now(), log, events } = options
  const windowMs = config.windowS * 1000
  const redis = options.redis && (config.perIp > 0 || config.perUser > 0) ? new RedisBudgets(options.redis.url, windowMs, log, events) : null
  const check = async (scope: 'client' | 'user', limiter: RateLimiter | null, key: string, headers: Record<string, string | number>) => {
    if (!limiter) return
    const at = now()
    const budget = redis ? await redis.take(`${options.redis!.keyPrefix}rl:${scope}:${key}`, limiter, key, at) : limiter.take(key, at)
    // The user's budget is written after the client's, so an authenticated response reports it.
    headers['x-ratelimit-limit'] = String(budget.limit)
    headers['x-ratelimit-remaining'] = String(budget.remaining)
    headers['x-ratelimit-reset'] = String(Math.ceil(budget.resetAt / 1000))
    if (!budget.allowed) {
      events?.rejected(scope)
      const retryAfter = Math.max(1, Math.ceil((budget.resetAt - at) / 1000))
      throw new ApiError('RATE_LIMITED', `Too many requests; try again in ${retryAfter} s`, { headers: { 'retry-after': String(retryAfter) } })
    }
  }
  const ip = config.perIp > 0 ? new RateLimiter(config.perIp, windowMs) : null
  const user = config.perUser > 0 ? new RateLimiter(config.perUser, windowMs) : null
  const running = new Map<string, number>()
  return {
    client: (address, headers) => check('client', ip, address, headers),
    user: (userId, headers) => check('user', user, userId, headers),
    inFlight(userId) {
      const count = running.get(userId) ?? 0
      if (count >= MAX_IN_FLIGHT_PER_USER) {
        throw new ApiError('RATE_LIMITED', `Too many requests in flight (at most ${MAX_IN_FLIGHT_PER_USER}); wait for an answer first`, {
          headers: { 'retry-after': '1' },
        })
      }
      running.set(userId, count + 1)
      let released = false
      return () => {
        if (released) return
        released = true
        const left = running.get(userId)! - 1
        if (left === 0) running.delete(userId)
        else running.set(userId, left)
      }
    },
    close: () => redis?.close(),
  }
}

// One atomic round trip: count the request, start the window on the first one, and say when it
// ends. A key whose expiry was lost (PTTL -1) gets one again, so a budget can never stick.
const TAKE = `local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) ttl = tonumber(ARGV[1]) end
return {n, ttl}`

/** How long a request waits for Redis before it is served on this instance's own budget. */
export const REDIS_TIMEOUT_MS = 50
const WARN_EVERY_MS = 60_000
/** After a failure, checks skip Redis for this long, and the connection is re-opened at most this often. */
const RETRY_AFTER_FAILURE_MS = 1000

/**
 * Budgets in Redis, shared by every instance. When Redis is slow or away, a check gives up after
 * REDIS_TIMEOUT_MS and fails open onto this instance's in-memory budget (what runs without Redis),
 * so an outage never makes a 500 or a hang, and never lifts the limits altogether. After a failure
 * the next second's checks go straight to memory, so a Redis that hangs costs one request in a
 * second the 50 ms wait, not every request. Commands are never queued while disconnected (a queue
 * would grow without bound during an outage); requests re-open the connection at most once a second.
 */
class RedisBudgets {
  private readonly client: RedisClient
  private connecting: Promise<void> | null = null
  private lastConnectAt = 0
  private skipUntil = 0
  private lastWarnAt = -Infinity
  private failuresSinceWarn = 0

  constructor(
    url: string,
    private readonly windowMs: number,
    private readonly log?: Logger,
    private readonly events?: RateLimitEvents,
  ) {
    this.client = new RedisClient(url, { enableOfflineQueue: false, autoReconnect: false, connectionTimeout: 2000 })
    this.connect()
  }

  async take(redisKey: string, fallback: RateLimiter, key: string, now: number): Promise<Budget> {
    if (Date.now() < this.skipUntil) {
      this.failed(new Error('Redis failed within the last second'))
      return fallback.take(key, now)
    }
    let timer: Timer | undefined
    try {
      const answer = await Promise.race([
        this.send(redisKey),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${REDIS_TIMEOUT_MS} ms`)), REDIS_TIMEOUT_MS)
        }),
      ])
      const [count, ttl] = answer as [number, number]
      return { allowed: count <= fallback.limit, limit: fallback.limit, remaining: Math.max(0, fallback.limit - count), resetAt: now + ttl }
    } catch (error) {
      this.skipUntil = Date.now() + RETRY_AFTER_FAILURE_MS
      this.failed(error)
      return fallback.take(key, now)
    } finally {
      clearTimeout(timer)
    }
  }

  close() {
    this.client.close()
  }

  private send(redisKey: string): Promise<unknown> {
    if (!this.client.connected) {
      this.connect()
      if (!this.connecting) return Promise.reject(new Error('Redis is not connected'))
      return this.connecting.then(() => this.client.send('EVAL', [TAKE, '1', redisKey, String(this.windowMs)]))
    }
    return this.client.send('EVAL', [TAKE, '1', redisKey, String(this.windowMs)])
  }

  private connect() {
    if (this.connecting || this.client.connected || Date.now() - this.lastConnectAt < RETRY_AFTER_FAILURE_MS) return
    this.lastConnectAt = Date.now()
    const attempt = this.client.connect().finally(() => {
      this.connecting = null
    })
    // A failed attempt is reported by the requests that waited for it.
    attempt.catch(() => {})
    this.connecting = attempt
  }

  private failed(error: unknown) {
    this.events?.storeFailed()
    this.failuresSinceWarn++
    const now = Date.now()
    if (now - this.lastWarnAt < WARN_EVERY_MS) return
    this.log?.warn('rate_limit.redis_unavailable', {
      detail: 'serving on this instance\'s own budgets until Redis answers again',
      error: error instanceof Error ? error.message : String(error),
      failures: this.failuresSinceWarn,
    })
    this.lastWarnAt = now
    this.failuresSinceWarn = 0
  }
}
