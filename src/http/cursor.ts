// Opaque page cursors, shared by every paged endpoint (task listing now, the change feed later):
// base64url of a JSON array of values. Each endpoint says which arrays it accepts; anything else,
// including text that is not base64url JSON at all, is INVALID_CURSOR. The next page is a `Link`.
import { ApiError } from './errors'
import { pathOf } from './request'

export function encodeCursor(values: readonly unknown[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url')
}

/** Decodes a cursor and hands its values to `accept`, which returns what it stands for, or null. */
export function decodeCursor<T>(cursor: string, accept: (values: readonly unknown[]) => T | null): T {
  let accepted: T | null = null
  try {
    const decoded: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
    if (Array.isArray(decoded)) accepted = accept(decoded)
  } catch {
    // not base64url JSON: refused below
  }
  if (accepted === null) throw new ApiError('INVALID_CURSOR', 'The cursor is not valid for this listing; start again without it')
  return accepted
}

/**
 * The `Link` header for the page after this request's, at `cursor`: a path with its query, no scheme
 * or host. Behind a TLS proxy the request URL says http:// and an internal host, while a relative
 * reference resolves against the address the client used.
 */
export function nextLink(request: Request, cursor: string): string {
  // The query as URL would split it off (after the first `?`, up to a `#`), without parsing the
  // whole URL on every page.
  const hash = request.url.indexOf('#')
  const url = hash === -1 ? request.url : request.url.slice(0, hash)
  const start = url.indexOf('?')
  const query = new URLSearchParams(start === -1 ? '' : url.slice(start + 1))
  query.set('cursor', cursor)
  return `<${pathOf(request)}?${query}>; rel="next"`
}
