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
}

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
  return {
    client: (address, headers) => check(ip, address, headers),
    user: (userId, headers) => check(user, userId, headers),
  }
}
