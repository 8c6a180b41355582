// Every endpoint under /api, described once so shared suites (auth, isolation) cover all of them
// under every path family that serves them, and a new endpoint cannot be forgotten (the isolation
// suite checks this table against the app's routes).
export interface Endpoint {
  name: string
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE'
  /** The path under a family's base, given the id of the object it targets (if any). */
  path: (id: string) => string
  /** The pattern as the app registers it, under the family's prefix. */
  route: string
  /** What the id in the path names. */
  target?: 'task' | 'list'
  body?: unknown
  /** The owner's success status. */
  ok: number
  /** Served only under /api/v1 (lists and moves). */
  v1Only?: boolean
}

export const endpoints: Endpoint[] = [
  { name: 'list', method: 'GET', path: () => '/tasks', route: '/tasks', ok: 200 },
  { name: 'create', method: 'POST', path: () => '/tasks', route: '/tasks', body: { title: 'new task' }, ok: 201 },
  { name: 'stats', method: 'GET', path: () => '/tasks/stats', route: '/tasks/stats', ok: 200 },
  { name: 'clear completed', method: 'DELETE', path: () => '/tasks?status=completed', route: '/tasks', ok: 200 },
  { name: 'get', method: 'GET', path: (id) => `/tasks/${id}`, route: '/tasks/:id', target: 'task', ok: 200 },
  { name: 'patch', method: 'PATCH', path: (id) => `/tasks/${id}`, route: '/tasks/:id', target: 'task', body: { title: 'changed' }, ok: 200 },
  { name: 'put', method: 'PUT', path: (id) => `/tasks/${id}`, route: '/tasks/:id', target: 'task', body: { priority: 'high' }, ok: 200 },
  { name: 'toggle', method: 'PATCH', path: (id) => `/tasks/${id}/toggle`, route: '/tasks/:id/toggle', target: 'task', ok: 200 },
  { name: 'toggle with body', method: 'PATCH', path: (id) => `/tasks/${id}/toggle`, route: '/tasks/:id/toggle', target: 'task', body: { completed: true }, ok: 200 },
  { name: 'delete', method: 'DELETE', path: (id) => `/tasks/${id}`, route: '/tasks/:id', target: 'task', ok: 204 },
  { name: 'move', method: 'POST', path: (id) => `/tasks/${id}/move`, route: '/tasks/:id/move', target: 'task', body: {}, ok: 200, v1Only: true },
  { name: 'lists', method: 'GET', path: () => '/lists', route: '/lists', ok: 200, v1Only: true },
  { name: 'create list', method: 'POST', path: () => '/lists', route: '/lists', body: { name: 'new list' }, ok: 201, v1Only: true },
  { name: 'get list', method: 'GET', path: (id) => `/lists/${id}`, route: '/lists/:id', target: 'list', ok: 200, v1Only: true },
  { name: 'rename list', method: 'PATCH', path: (id) => `/lists/${id}`, route: '/lists/:id', target: 'list', body: { name: 'renamed' }, ok: 200, v1Only: true },
  { name: 'move list', method: 'POST', path: (id) => `/lists/${id}/move`, route: '/lists/:id/move', target: 'list', body: {}, ok: 200, v1Only: true },
  { name: 'delete list', method: 'DELETE', path: (id) => `/lists/${id}`, route: '/lists/:id', target: 'list', ok: 204, v1Only: true },
]

export interface Family {
  name: string
  /** The base path for a request made by `userId`. */
  base: (userId: string) => string
  /** The app's route prefix. */
  prefix: string
}

export const families: Family[] = [
  { name: '/api/v1', base: () => '/api/v1', prefix: '/api/v1' },
  { name: '/api', base: () => '/api', prefix: '/api' },
  { name: '/api/{user_id}', base: (userId) => `/api/${encodeURIComponent(userId)}`, prefix: '/api/:user_id' },
]

/** The endpoints a family serves. */
export const endpointsOf = (family: Family) => endpoints.filter((e) => !e.v1Only || family.prefix === '/api/v1')
