// Every task endpoint, described once so shared suites (auth, isolation) cover all of them under
// every path family, and a new endpoint cannot be forgotten.
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
]

export interface Family {
  name: string
  /** The base path for a request made by `userId`. */
  base: (userId: string) => string
}

export const families: Family[] = [
  { name: '/api/v1', base: () => '/api/v1' },
  { name: '/api', base: () => '/api' },
  { name: '/api/{user_id}', base: (userId) => `/api/${encodeURIComponent(userId)}` },
]
