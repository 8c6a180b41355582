// Every /api endpoint, described once so shared suites (auth, isolation) cover all of them under
// every path family that serves them, and the documented operations; test/http/routes.test.ts
// checks both against app.routes, so a new route cannot skip its isolation and docs checks.
export interface Endpoint {
  name: string
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE'
  /** The path under a family's base, given the id of the object it targets (if any). */
  path: (id: string) => string
  /** What the id in the path names. */
  target?: 'task' | 'list'
  body?: unknown
  /** The owner's success status. */
  ok: number
  /** Served only under /api/v1 (lists, moves and sync). */
  v1Only?: boolean
  /** Answers with a stream that stays open (events): suites read its status, then cancel it. */
  stream?: boolean
}

export const endpoints: Endpoint[] = [
  { name: 'list', method: 'GET', path: () => '/tasks', ok: 200 },
  { name: 'create', method: 'POST', path: () => '/tasks', body: { title: 'new task' }, ok: 201 },
  { name: 'stats', method: 'GET', path: () => '/tasks/stats', ok: 200 },
  { name: 'clear completed', method: 'DELETE', path: () => '/tasks?status=completed', ok: 200 },
  { name: 'get', method: 'GET', path: (id) => `/tasks/${id}`, target: 'task', ok: 200 },
  { name: 'patch', method: 'PATCH', path: (id) => `/tasks/${id}`, target: 'task', body: { title: 'changed' }, ok: 200 },
  { name: 'put', method: 'PUT', path: (id) => `/tasks/${id}`, target: 'task', body: { priority: 'high' }, ok: 200 },
  { name: 'toggle', method: 'PATCH', path: (id) => `/tasks/${id}/toggle`, target: 'task', ok: 200 },
  { name: 'toggle with body', method: 'PATCH', path: (id) => `/tasks/${id}/toggle`, target: 'task', body: { completed: true }, ok: 200 },
  { name: 'delete', method: 'DELETE', path: (id) => `/tasks/${id}`, target: 'task', ok: 204 },
  { name: 'move', method: 'POST', path: (id) => `/tasks/${id}/move`, target: 'task', body: {}, ok: 200, v1Only: true },
  { name: 'lists', method: 'GET', path: () => '/lists', ok: 200, v1Only: true },
  { name: 'create list', method: 'POST', path: () => '/lists', body: { name: 'new list' }, ok: 201, v1Only: true },
  { name: 'get list', method: 'GET', path: (id) => `/lists/${id}`, target: 'list', ok: 200, v1Only: true },
  { name: 'rename list', method: 'PATCH', path: (id) => `/lists/${id}`, target: 'list', body: { name: 'renamed' }, ok: 200, v1Only: true },
  { name: 'move list', method: 'POST', path: (id) => `/lists/${id}/move`, target: 'list', body: {}, ok: 200, v1Only: true },
  { name: 'delete list', method: 'DELETE', path: (id) => `/lists/${id}`, target: 'list', ok: 204, v1Only: true },
  { name: 'changes', method: 'GET', path: () => '/changes', ok: 200, v1Only: true },
  { name: 'events', method: 'GET', path: () => '/events', ok: 200, v1Only: true, stream: true },
]

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

/** The endpoints a family serves. */
export const endpointsOf = (family: Family) => endpoints.filter((e) => !e.v1Only || family.route === '/api/v1')

/** The documented operations (the canonical /api/v1 family and operations), as OpenAPI paths. */
export const documented: Record<string, string[]> = {
  '/api/v1/changes': ['get'],
  '/api/v1/events': ['get'],
  '/api/v1/tasks': ['delete', 'get', 'post'],
  '/api/v1/tasks/stats': ['get'],
  '/api/v1/tasks/{id}': ['delete', 'get', 'patch', 'put'],
  '/api/v1/tasks/{id}/toggle': ['patch'],
  '/api/v1/tasks/{id}/move': ['post'],
  '/api/v1/lists': ['get', 'post'],
  '/api/v1/lists/{id}': ['delete', 'get', 'patch'],
  '/api/v1/lists/{id}/move': ['post'],
  '/healthz': ['get'],
  '/readyz': ['get'],
}
