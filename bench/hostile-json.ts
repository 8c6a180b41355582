// How much CPU it costs to refuse 64 KiB of hostile JSON, shape by shape, through the whole app in
// process (auth, body decoding, schema, error body). The bound: at most 5 ms each.
//   bun bench/hostile-json.ts [rounds=50]
import { PGlite } from '@electric-sql/pglite'
import { SignJWT } from 'jose'
import { createApp } from '../src/app'
import { createVerifier } from '../src/auth/verify'
import { loadConfig } from '../src/config'
import { fromPglite } from '../src/db/client'
import { createLogger } from '../src/log'

const rounds = Number(process.argv[2] ?? 50)
const KiB64 = 64 * 1024
const fill = (head: string, unit: string, tail: string) => head + unit.repeat(Math.floor((KiB64 - head.length - tail.length) / unit.length)) + tail

const shapes: Record<string, string> = {
  'arrays 32,000 deep': '['.repeat(32_000) + ']'.repeat(32_000),
  'title nested 5,000 deep': `{"title":${'['.repeat(5_000)}${']'.repeat(5_000)}}`,
  'objects 31 deep, then wide': `{"title":${'{"a":'.repeat(30)}[${'1,'.repeat(10_000)}1]${'}'.repeat(30)}}`,
  'wide array in title': fill('{"title":[', '1,', '1]}'),
  'array of small objects': fill('{"title":[', '{"a":1},', '{}]}'),
  'thousands of unknown keys': fill('{"title":"x"', ',"k":1', '}') .replace(/"k"/g, () => `"k${Math.random().toString(36).slice(2, 6)}"`).slice(0, KiB64 - 1) + '}',
  'duplicate keys': fill('{', '"title":1,', '"title":2}'),
  'escapes and lone surrogates': fill('{"title":"', '\\ud800\\u0000', '"}'),
  'long title string': fill('{"title":"', 'x', '"}'),
  'deep __proto__': `{"__proto__":${'{"__proto__":'.repeat(30)}1${'}'.repeat(30)}}`,
}

const config = loadConfig({ JWT_SECRET: 'bench-secret-that-is-long-enough-to-use', LOG_LEVEL: 'silent', RATE_LIMIT_PER_IP: '0', RATE_LIMIT_PER_USER: '0' })
const pg = await PGlite.create()
const database = fromPglite(pg)
await database.ensureSchema()
const app = createApp({ config, database, verify: await createVerifier(config.jwt), log: createLogger('silent') })
const token = await new SignJWT({ sub: 'bench' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(config.jwt.secret!)

const send = (body: string) =>
  app.handle(new Request('http://localhost/api/v1/tasks', { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body }))

// Baseline in the same run: a tiny valid-JSON body the schema refuses.
const all = { 'baseline: {"title":1}': '{"title":1}', ...shapes }
console.log(`${'shape'.padEnd(34)} ${'bytes'.padStart(6)} status  p50 ms  max ms  (CPU ms per request, ${rounds} rounds)`)
for (const [name, body] of Object.entries(all)) {
  const times: number[] = []
  let status = 0
  for (let i = 0; i < rounds + 5; i++) {
    const before = process.cpuUsage()
    const res = await send(body)
    await res.arrayBuffer()
    const used = process.cpuUsage(before)
    status = res.status
    if (i >= 5) times.push((used.user + used.system) / 1000)
  }
  times.sort((a, b) => a - b)
  console.log(`${name.padEnd(34)} ${String(Buffer.byteLength(body)).padStart(6)} ${String(status).padStart(6)} ${times[times.length >> 1]!.toFixed(2).padStart(7)} ${times.at(-1)!.toFixed(2).padStart(7)}`)
}
await pg.close()
