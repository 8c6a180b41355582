// Per-instance, in-memory request budgets (fixed windows): one per client address, checked before
// a token is verified so floods cannot spend the verifier, and one per user after. Memory is
// bounded: past `maxKeys`, expired windows go first, then the oldest, so rotating addresses or
// user ids cannot grow it.
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
  /** Spends one request of the client's budget; throws 429 when it is spent. */
  client(address: string, headers: Record<string, string | number>): void
  /** The same for the authenticated user. */
  user(userId: string, headers: Record<string, string | number>): void
  /**
   * Takes one of the user's slots for requests in flight and returns its release; throws 429 when
   * all are taken. It bounds what one user's concurrent requests hold in memory and CPU at once,
   * so clients that never read their answers cannot starve other users.
   */
  inFlight(userId: string): () => void
}

/** Requests one user may have in flight at once, over every connection. */
export const MAX_IN_FLIGHT_PER_USER = 8

export function createRateLimits(config: { perIp: number; perUser: number; windowS: number }, now = () => Date.now()): RateLimits {
  const windowMs = config.windowS * 1000
  const check = (limiter: RateLimiter | null, key: string, headers: Record<string, string | number>) => {
    if (!limiter) return
    const budget = limiter.take(key, now())
    // The user's budget is written after the client's, so an authenticated response reports it.
    headers['x-ratelimit-limit'] = String(budget.limit)
    headers['x-ratelimit-remaining'] = String(budget.remaining)
    headers['x-ratelimit-reset'] = String(Math.ceil(budget.resetAt / 1000))
    if (!budget.allowed) {
      const retryAfter = Math.max(1, Math.ceil((budget.resetAt - now()) / 1000))
      throw new ApiError('RATE_LIMITED', `Too many requests; try again in ${retryAfter} s`, { headers: { 'retry-after': String(retryAfter) } })
    }
  }
  const ip = config.perIp > 0 ? new RateLimiter(config.perIp, windowMs) : null
  const user = config.perUser > 0 ? new RateLimiter(config.perUser, windowMs) : null
  const running = new Map<string, number>()
  return {
    client: (address, headers) => check(ip, address, headers),
    user: (userId, headers) => check(user, userId, headers),
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
  }
}
