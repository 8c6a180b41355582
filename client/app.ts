// The App type a frontend's Eden client is given: the canonical /api/v1 routes and the health
// checks, each with the statuses the service really sends. `bun run build:client` emits this file
// as one self-contained declaration (app.d.ts) that needs only `elysia`: the route tree is inferred
// from a value below, so the declaration spells it out instead of importing the server's source.
import type { Elysia } from 'elysia'
import type { App as Server } from '../src/app'

// Elysia adds a 422 { type: 'validation' } answer to every route with a schema; this service
// answers validation failures with its own 400 problem body, so a 422 never comes.
type Honest<Route> = {
  [K in keyof Route]: Route[K] extends { response: Record<number, unknown> }
    ? { [P in keyof Route[K]]: P extends 'response' ? Omit<Route[K][P], 422> : Route[K][P] }
    : Honest<Route[K]>
}

// Never evaluated at run time: these initializers only carry the inferred types into the emitted
// declaration. The older /api/tasks and /api/:user_id/tasks families serve old clients and are left
// out; new code uses /api/v1.
const server = undefined as unknown as Server['~Routes']
const v1 = server.api.v1
const healthz = server.healthz
const readyz = server.readyz

type Canonical = Honest<{ api: { v1: typeof v1 }; healthz: typeof healthz; readyz: typeof readyz }>

export type App = Elysia<'', any, any, any, Canonical>
