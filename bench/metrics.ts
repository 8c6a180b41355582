// What metrics and Redis-shared budgets cost a request, in process (app.handle, no socket), each
// variant against the plain app in the same run, rounds interleaved so the machine's noise falls on
// all of them alike. Two requests: GET /healthz (no auth, no database) and an authenticated
// GET /api/v1/tasks/not-an-id (token check and both budgets, then a 404 with no database call).
//
//   flock /tmp/taskapi-heavy.lock bun bench/metrics.ts
//
// Options (environment): BENCH_ROUNDS (9), BENCH_REQUESTS (5000 per round), BENCH_REDIS_URL
// (redis://127.0.0.1:6379).
import { RedisClient } from 'bun'
import { createApp } from '../src/app'
import { createVerifier } from '../src/auth/verify'
import { loadConfig } from '../src/config'
import { openDatabase } from '../src/db/client'
import { createMetrics } from '../src/http/metrics'
import { createLogger } from '../src/log'
import { signToken } from '../test/support/app'
import { median } from './stats'

const rounds = Number(process.env.BENCH_ROUNDS ?? 9)
const perRound = Number(process.env.BENCH_REQUESTS ?? 5000)
const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'
const keyPrefix = `taskapi-bench:${crypto.randomUUID()}:`

// No route here reaches the database: a handle on a closed port that never connects.
const database = await openDatabase({ driver: 'postgres', url: 'postgres://bench@127.0.0.1:1/none', pool: { max: 1, connectTimeoutS: 1, statementTimeoutMs: 0 } })
const base = { JWT_SECRET: 'bench-secret-bench-secret-bench-secret', LOG_LEVEL: 'silent', RATE_LIMIT_PER_IP: '1000000', RATE_LIMIT_PER_USER: '1000000' }
const build = async (env: Record<string, string>, withMetrics: boolean) => {
  const config = loadConfig({ ...base, ...env })
  return createApp({ config, database, verify: await createVerifier(config.jwt), log: createLogger('silent'), metrics: withMetrics ? createMetrics() : undefined })
}
const variants = {
  plain: await build({}, false),
  metrics: await build({}, true),
  redis: await build({ REDIS_URL: redisUrl, REDIS_KEY_PREFIX: keyPrefix }, false),
}
const token = await signToken({ sub: 'bench-user' }, { secret: base.JWT_SECRET })
const requests = {
  healthz: () => new Request('http://localhost/healthz'),
  'authenticated 404': () => new Request('http://localhost/api/v1/tasks/not-an-id', { headers: { authorization: `Bearer ${token}` } }),
}

async function time(app: (typeof variants)['plain'], make: () => Request): Promise<number> {
  const started = performance.now()
  for (let i = 0; i < perRound; i++) await (await app.handle(make())).arrayBuffer()
  return ((performance.now() - started) * 1000) / perRound // µs per request
}

for (const [name, make] of Object.entries(requests)) {
  const samples: Record<string, number[]> = { plain: [], metrics: [], redis: [] }
  for (const app of Object.values(variants)) await time(app, make) // warm-up
  const order = Object.entries(variants)
  for (let r = 0; r < rounds; r++) {
    // Each round starts with another variant, so none always runs first (or last).
    for (let v = 0; v < order.length; v++) {
      const [variant, app] = order[(r + v) % order.length]!
      samples[variant]!.push(await time(app, make))
    }
  }
  const plain = median(samples.plain!)
  console.log(`${name}: µs per request, median of ${rounds} rounds of ${perRound}`)
  for (const [variant, xs] of Object.entries(samples)) {
    const m = median(xs)
    console.log(`  ${variant.padEnd(8)} ${m.toFixed(2).padStart(8)}  (${m - plain >= 0 ? '+' : ''}${(m - plain).toFixed(2)} vs plain)`)
  }
}

// The recording alone, without the request around it: a counter and a histogram per request.
{
  const metrics = createMetrics()
  const calls = 200_000
  const started = performance.now()
  for (let i = 0; i < calls; i++) metrics.request('GET', '/api/v1/tasks/:id', 200, 0.0004)
  console.log(`recording one request (counter + histogram): ${(((performance.now() - started) * 1e6) / calls).toFixed(0)} ns`)
}

const cleanup = new RedisClient(redisUrl)
const keys = (await cleanup.send('KEYS', [`${keyPrefix}*`])) as string[]
if (keys.length > 0) await cleanup.send('DEL', keys)
cleanup.close()
await database.close()
process.exit(0)
