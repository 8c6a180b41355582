// What an unmatched request gets: 404 when no route has its path, 405 with Allow when the path
// exists under other methods, and 204 with Allow for OPTIONS on a known path (CORS preflights never
// get here). A plugin function: it reads the routes of the app it is installed on, once, at the
// first unmatched request, when every route is there.
import type { AnyElysia } from 'elysia'
import { ApiError, sendProblem } from './errors'

type Route = { method: string; path: string }

export const routing = <const App extends AnyElysia>(app: App): App => {
  let table: ReturnType<typeof routeTable> | undefined
  app.onError({ as: 'global' }, ({ code, request, set, path, status }) => {
    if (code !== 'NOT_FOUND') return
    table ??= routeTable(app.routes)
    const allowed = allowedMethods(table, path)
    if (request.method === 'OPTIONS' && allowed.length > 0) {
      set.headers['allow'] = allowed.join(', ')
      return status(204, undefined)
    }
    if (allowed.length === 0 || allowed.includes(request.method)) return sendProblem(set, request, new ApiError('NOT_FOUND', 'No route matches this path'))
    return sendProblem(set, request, new ApiError('METHOD_NOT_ALLOWED', `${request.method} is not allowed here`, { headers: { allow: allowed.join(', ') } }))
  })
  return app
}

// Known paths and their methods, to tell "no such route" (404) from "wrong method" (405).
function routeTable(routes: readonly Route[]) {
  const byPath = new Map<string, Set<string>>()
  for (const r of routes) {
    const methods = byPath.get(r.path) ?? new Set()
    methods.add(r.method)
    if (r.method === 'GET') methods.add('HEAD')
    byPath.set(r.path, methods)
  }
  return [...byPath].map(([path, methods]) => ({
    pattern: new RegExp('^' + path.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/:[^/]+/g, '[^/]+') + '/?$'),
    methods,
  }))
}

/** The methods a path answers to, OPTIONS included; empty when no route matches it. */
function allowedMethods(table: ReturnType<typeof routeTable>, path: string): string[] {
  const allowed = new Set<string>()
  for (const r of table) if (r.pattern.test(path)) for (const m of r.methods) allowed.add(m)
  if (allowed.size > 0) allowed.add('OPTIONS')
  return [...allowed].sort()
}
