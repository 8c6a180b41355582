// The route tables the shared suites iterate equal the app's own routes: a route added to the app
// without its isolation checks (test/support/endpoints.ts) or its docs check fails here.
import { expect, test } from 'bun:test'
import { createApp } from '../../src/app'
import { loadConfig } from '../../src/config'
import { nullDatabase } from '../../src/db/null'
import { createLogger } from '../../src/log'
import { documented, endpointsOf, families } from '../support/endpoints'

const app = createApp({
  config: loadConfig({ NODE_ENV: 'development', LOG_LEVEL: 'silent' }),
  database: nullDatabase(),
  verify: () => Promise.reject(new Error('no requests here')),
  log: createLogger('silent'),
})
const sorted = (xs: Iterable<string>) => [...new Set(xs)].sort()
const routes = app.routes.map((r) => ({ method: r.method, path: r.path, hidden: (r.hooks as { detail?: { hide?: boolean } }).detail?.hide === true }))

test('the isolation suite\'s endpoints, under every path family, are exactly the /api routes', () => {
  const table = families.flatMap((f) => endpointsOf(f).map((e) => `${e.method} ${f.route}${e.path(':id').split('?')[0]}`))
  const api = routes.filter((r) => r.path.startsWith('/api/')).map((r) => `${r.method} ${r.path}`)
  expect(sorted(table)).toEqual(sorted(api))
})

test('the docs test\'s operations are exactly the routes the document shows', () => {
  const table = Object.entries(documented).flatMap(([path, methods]) => methods.map((m) => `${m.toUpperCase()} ${path.replaceAll(/\{(\w+)\}/g, ':$1')}`))
  // The document shows the canonical family only, and no hidden route (the docs themselves, `/`).
  const shown = routes.filter((r) => !/^\/api\/(?!v1\/)/.test(r.path) && !r.hidden).map((r) => `${r.method} ${r.path}`)
  expect(sorted(table)).toEqual(sorted(shown))
})
