// The raw baseline's handlers (./server.ts) served through Elysia instead of Bun.serve alone: the
// middle rung of bench/compare.ts, between the raw server and taskapi. The same SQL, the same hand-
// checked HS256 and the same answers; Elysia adds only its routing, its request context and its
// handling of what a handler returns: no hooks, no schemas, no body parsing (`parse: 'none'`; the
// handlers read their bodies themselves). What it costs next to the raw server is the framework's
// share of taskapi's cost, which the stack (Elysia, chosen by the user) fixes.
//
//   DATABASE_URL=postgres://… JWT_SECRET=… PORT=3002 bun bench/baseline/elysia.ts
import { Elysia } from 'elysia'
import { internalError, listenOn, notFound, routes, stopOnSignal } from './server'

type Handler = (request: Request & { params: Record<string, string> }) => Response | Promise<Response>

const app = new Elysia().onError(({ error }) => internalError(error))
for (const [path, methods] of Object.entries(routes)) {
  for (const [method, handler] of Object.entries(methods as Record<string, Handler>)) {
    // On Bun, Elysia hands a route's handler Bun's own request, `params` included.
    app.route(method, path, ({ request }) => handler(request as Request & { params: Record<string, string> }), { parse: 'none' })
  }
}
app.all('*', notFound).listen(listenOn)
console.log(JSON.stringify({ message: 'server.started', url: app.server!.url.href }))
stopOnSignal(app.server!)
