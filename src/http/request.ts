// Who a request is, for every hook that runs on it (errors and the access log included, which run
// even when no route matched): its id (the client's X-Request-Id when sane, else a new one), when
// it started, and the user once authenticated.
import { Elysia } from 'elysia'

interface RequestMeta {
  id: string
  startedAt: number
  userId?: string
  /** Run once, as soon as the response is ready (or failed). */
  finished?: () => void
}

// Keyed by the Request object, so nothing outlives the request.
const meta = new WeakMap<Request, RequestMeta>()

const saneRequestId = /^[A-Za-z0-9._-]{1,128}$/

// An HTTP/1.0 request may name no Host; Bun then gives `request.url` as a bare path. Such a URL is
// resolved against a placeholder origin, which nothing writes out (Link and Location are paths).
const noHost = 'http://no-host.invalid'

/** The request's URL, also when the client sent no Host. */
export const urlOf = (request: Request) => new URL(request.url, noHost)

/**
 * The request's path, as `urlOf(request).pathname` gives it, without parsing a URL on every
 * request: with a Host, Bun's `request.url` is already normalized (dot segments resolved,
 * percent-encoded), so the path is the text from the first `/` after the authority up to `?` or
 * `#`. A bare path (no Host) is parsed as before.
 */
export function pathOf(request: Request): string {
  const url = request.url
  if (url.charCodeAt(0) === 0x2f) return urlOf(request).pathname
  const start = url.indexOf('/', url.indexOf('//') + 2)
  if (start === -1) return '/'
  let end = start + 1
  while (end < url.length && url.charCodeAt(end) !== 0x3f && url.charCodeAt(end) !== 0x23) end++
  return url.slice(start, end)
}

/** The `Location` of an object created by a POST to this request's collection path: a path. */
export const locationOf = (request: Request, id: string) => `${pathOf(request).replace(/\/$/, '')}/${id}`

/** The id a new request gets: the client's X-Request-Id when sane, else a new one. */
export function newRequestId(request: Request): string {
  const given = request.headers.get('x-request-id')
  return given !== null && saneRequestId.test(given) ? given : crypto.randomUUID()
}

export function requestIdOf(request: Request): string {
  return meta.get(request)?.id ?? 'unknown'
}

export function requestMeta(request: Request): Readonly<RequestMeta> | undefined {
  return meta.get(request)
}

/** Runs `fn` once the handler has answered `request` or failed. */
export function whenFinished(request: Request, fn: () => void) {
  const m = meta.get(request)
  if (m) m.finished = fn
  else fn()
}

// After the handler or on failure, with the response hook as a backstop: Elysia runs that one on
// a later turn of the event loop (setImmediate), too late for in-process callers.
const finish = (request: Request) => {
  const m = meta.get(request)
  const fn = m?.finished
  if (fn) {
    m.finished = undefined
    fn()
  }
}

/** Records the authenticated user so the access log can name it. */
export function noteUser(request: Request, userId: string) {
  const m = meta.get(request)
  if (m) m.userId = userId
}

export const requestId = new Elysia({ name: 'request-id' })
  .onRequest(({ request, set }) => {
    const id = newRequestId(request)
    meta.set(request, { id, startedAt: performance.now() })
    set.headers['x-request-id'] = id
  })
  .onAfterHandle(({ request }) => finish(request))
  .onError(({ request }) => finish(request))
  .onAfterResponse(({ request }) => finish(request))
  .as('global')
