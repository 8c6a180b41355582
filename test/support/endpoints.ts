// Every task endpoint, described once so shared suites (auth, isolation) cover all of them under
// every path family, and the documented operations; test/http/routes.test.ts checks both against
// app.routes, so a new route cannot skip its isolation and docs checks.
export interface Endpoint {
  name: string
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE'
  /** The path under a family's base, given a task id for the routes that name one. */
  path: (id: string) => string
  /** Whether it targets one task. */
  targetsTask: boolean
  body?: unknown
  /** The owner's success status. */
  ok: number
  /** Served only under /api/v1 (sync). */
  v1Only?: boolean
  /** Answers with a stream that stays open (events): suites read its status, then cancel it. */
  stream?: boolean
}

export const endpoints: Endpoint[] = [
  { name: 'list', method: 'GET', path: () => '/tasks', targetsTask: false, ok: 200 },
  { name: 'create', method: 'POST', path: () => '/tasks', targetsTask: false, body: { title: 'new task' }, ok: 201 },
  { name: 'stats', method: 'GET', path: () => '/tasks/stats', targetsTask: false, ok: 200 },
  { name: 'clear completed', method: 'DELETE', path: () => '/tasks?status=completed', targetsTask: false, ok: 200 },
  { name: 'get', method: 'GET', path: (id) => `/tasks/${id}`, targetsTask: true, ok: 200 },
  { name: 'patch', method: 'PATCH', path: (id) => `/tasks/${id}`, targetsTask: true, body: { title: 'changed' }, ok: 200 },
  { name: 'put', method: 'PUT', path: (id) => `/tasks/${id}`, targetsTask: true, body: { priority: 'high' }, ok: 200 },
  { name: 'toggle', method: 'PATCH', path: (id) => `/tasks/${id}/toggle`, targetsTask: true, ok: 200 },
  { name: 'toggle with body', method: 'PATCH', path: (id) => `/tasks/${id}/toggle`, targetsTask: true, body: { completed: true }, ok: 200 },
  { name: 'delete', method: 'DELETE', path: (id) => `/tasks/${id}`, targetsTask: true, ok: 204 },
  { name: 'changes', method: 'GET', path: () => '/changes', targetsTask: false, ok: 200, v1Only: true },
  { name: 'events', method: 'GET', path: () => '/events', targetsTask: false, ok: 200, v1Only: true, stream: true },
]

/** The endpoints a family serves. */
export const endpointsOf = (family: Family) => endpoints.filter((e) => !e.v1Only || family.route === '/api/v1')

export interface Family {
  name: string
  /** The base path for a request made by `userId`. */
  base: (userId: string) => string
  /** The base as the app's route pattern. */
  route: string
}

export const families: Family[] = [
  { name: '/api/v1', base: () => '/api/v1', route: '/api/v1' },
  { name: '/api', base: () => '/api', route: '/api' },
  { name: '/api/{user_id}', base: (userId) => `/api/${encodeURIComponent(userId)}`, route: '/api/:user_id' },
]

/** The documented operations (the canonical /api/v1 family and operations), as OpenAPI paths. */
export const documented: Record<string, string[]> = {
  '/api/v1/changes': ['get'],
  '/api/v1/events': ['get'],
  '/api/v1/tasks': ['delete', 'get', 'post'],
  '/api/v1/tasks/stats': ['get'],
  '/api/v1/tasks/{id}': ['delete', 'get', 'patch', 'put'],
  '/api/v1/tasks/{id}/toggle': ['patch'],
  '/healthz': ['get'],
  '/readyz': ['get'],
}
