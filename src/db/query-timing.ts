// Query latency for the metrics. Every statement Drizzle runs, on all three drivers and inside
// transactions too, passes through PgPreparedQuery.queryWithCache: the one place that sees each
// query start and end whatever the driver. Drizzle has no timing hook (its logger is called before
// a query runs) and Bun.SQL exposes none, so this wraps that method once, and only when something
// observes it (METRICS_PORT set): without metrics, queries run through Drizzle untouched.
import { PgPreparedQuery } from 'drizzle-orm/pg-core'

type Observer = (seconds: number) => void
const observers = new Set<Observer>()
let installed = false

/** Calls `observer` with each query's duration in seconds, failed ones included. */
export function observeQueries(observer: Observer): void {
  observers.add(observer)
  if (installed) return
  installed = true
  const proto = PgPreparedQuery.prototype as unknown as { queryWithCache: (...args: unknown[]) => Promise<unknown> }
  const run = proto.queryWithCache
  proto.queryWithCache = async function (this: unknown, ...args: unknown[]) {
    const startedAt = performance.now()
    try {
      return await run.apply(this, args)
    } finally {
      const seconds = (performance.now() - startedAt) / 1000
      for (const observe of observers) observe(seconds)
    }
  }
}
