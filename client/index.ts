// taskapi-client: a thin layer over Eden's treaty for the canonical /api/v1 routes. It adds what
// every frontend would otherwise write itself: the bearer header (from a string or a function that
// may refresh it), timestamps kept as the strings the types say, a network failure reported as one
// (Eden reports it as an HTTP 503 with an empty body), and a walk over `Link` pages.
import { treaty, type Treaty } from '@elysiajs/eden'
import type { App } from './app'

export type { App }

/** A token, or a function giving the current one (Better Auth's `/api/auth/token` refreshes it). */
export type TokenSource = string | (() => string | null | undefined | Promise<string | null | undefined>)

export interface ClientOptions {
  /** Sent as `Authorization: Bearer <token>` on every request; a function is called per request. */
  token?: TokenSource
  /** Passed to every `fetch` (for example `signal`, `credentials`, `cache`). */
  fetch?: Treaty.Config['fetch']
  /** Another fetch implementation (a test double, or one with retries). */
  fetcher?: typeof fetch
  /** Runs before each request; its result is merged into the request (headers included). */
  onRequest?: Treaty.Config['onRequest']
  /** Runs on each response; a non-null result replaces the parsed body. */
  onResponse?: Treaty.Config['onResponse']
}

/**
 * The request never got an answer: the service is unreachable, the connection dropped, or the
 * browser refused the response because the service's CORS_ORIGINS does not name this page's
 * origin (the browser's console says which). Not an HTTP status: the service may be fine.
 */
export class NetworkError extends Error {
  override name = 'NetworkError'
  constructor(
    readonly url: string,
    cause: unknown,
  ) {
    super(`No response from ${url}: the service is unreachable, or CORS_ORIGINS does not allow this page's origin`, { cause })
  }
}

export type Client = Treaty.Create<App>['api']['v1']

/**
 * A typed client for taskapi at `baseUrl` (such as `http://localhost:3000`). Calls return Eden's
 * `{ data, error, response }`, with `error` typed from the route's statuses; a request that got
 * no response rejects with a NetworkError instead. Per-call headers pass through
 * (`{ headers: { 'x-request-id': id } }`).
 */
export function createClient(baseUrl: string, options: ClientOptions = {}): Client {
  const { token, ...rest } = options
  const base = baseUrl.replace(/\/+$/, '')
  const root = treaty<App>(base, {
    ...rest,
    // Timestamps stay RFC 3339 strings, as the types say (Eden turns them into Dates otherwise).
    parseDate: false,
    headers: async () => {
      const value = typeof token === 'function' ? await token() : token
      return value ? { authorization: `Bearer ${value}` } : {}
    },
  })
  return reportNetworkErrors(root, base).api.v1
}

// Eden answers a fetch that threw with { status: 503, error: { value: <the thrown error> },
// response: undefined }; no response from the service ever looks like that, so it is rewritten
// into a rejection. Eden's client is a proxy of paths; this wraps each step of it.
function reportNetworkErrors<T>(target: T, base: string): T {
  return new Proxy(target as object, {
    get(object, key) {
      const value = Reflect.get(object, key) as unknown
      return typeof key === 'string' && typeof value === 'function' ? reportNetworkErrors(value, base) : value
    },
    apply(fn, self, args) {
      const result = Reflect.apply(fn as (...a: unknown[]) => unknown, self, args) as unknown
      if (!(result instanceof Promise)) return typeof result === 'function' ? reportNetworkErrors(result, base) : result
      return result.then((r: { status: number; response?: Response; error?: { value?: unknown } | null }) => {
        if (r.status === 503 && r.response === undefined && r.error) throw new NetworkError(base, r.error.value)
        return r
      })
    },
  }) as T
}

/** The `cursor` of the next page from a response's `Link: <…?cursor=…>; rel="next"`, if any. */
export function nextCursor(response: Response | undefined): string | undefined {
  const link = response?.headers.get('link')
  const next = link?.match(/<([^>]*)>\s*;\s*rel="?next"?/)
  return next ? (new URL(next[1]!, 'http://link.invalid').searchParams.get('cursor') ?? undefined) : undefined
}

/**
 * Walks a listing page by page, following `Link` headers: `fetchPage` is called with no cursor,
 * then with each next page's. Yields every response (check `error` on each); stops after the last
 * page or the first error.
 *
 *   for await (const page of pages((cursor) => api.tasks.get({ query: { status: 'pending', cursor } })))
 *     if (page.data) show(page.data)
 */
export async function* pages<Page extends { error: unknown; response?: Response }>(
  fetchPage: (cursor: string | undefined) => Promise<Page>,
): AsyncGenerator<Page, void, undefined> {
  let cursor: string | undefined
  do {
    const page = await fetchPage(cursor)
    yield page
    if (page.error) return
    cursor = nextCursor(page.response)
  } while (cursor !== undefined)
}
