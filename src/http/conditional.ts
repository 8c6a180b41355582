// Conditional requests (RFC 9110 §13) for routes that opt in with `{ conditional: mode }`:
// - every response body gets an ETag: strong `"<version>"` for one versioned object (no query,
//   the version is in the body), weak `W/"<hash>"` of the body for anything else (collections);
// - a GET whose If-None-Match matches (weak comparison, lists and `*`) is a 304 with no body;
// - If-Match is parsed into `ifMatch`, the versions a write may apply to, for the write's own
//   WHERE clause (so check and write are one atomic statement; see `preconditionFailed`).
import { ElysiaCustomStatusResponse, t } from 'elysia'
import { ApiError } from './errors'

/** The strong ETag of a versioned object. */
export const versionTag = (version: number) => `"${version}"`

const bodyTag = (body: string) => `W/"${Bun.hash.xxHash64(body).toString(36)}"`

interface EntityTag {
  weak: boolean
  opaque: string
}

// entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, in a comma-separated list.
const entityTag = /\s*(W\/)?"([\x21\x23-\x7E\x80-\xFF]*)"\s*(?:,|$)/y

/** `*`, or the list's tags; members that do not parse are dropped (they can match nothing). */
function parseTags(header: string): '*' | EntityTag[] {
  if (header.trim() === '*') return '*'
  const tags: EntityTag[] = []
  entityTag.lastIndex = 0
  let match: RegExpExecArray | null
  while (entityTag.lastIndex < header.length && (match = entityTag.exec(header)) !== null) {
    tags.push({ weak: match[1] !== undefined, opaque: match[2]! })
  }
  return tags
}

/** Weak comparison (If-None-Match): the opaque parts are equal, weak or not. */
function noneMatch(header: string, current: string): boolean {
  const tags = parseTags(header)
  if (tags === '*') return true
  const opaque = current.replace(/^W\//, '').slice(1, -1)
  return tags.some((t) => t.opaque === opaque)
}

const MAX_VERSION = 2 ** 31 - 1

/**
 * The versions a write may apply to, from If-Match under strong comparison: `null` when any
 * existing object will do (no header, or `*`); otherwise the versions named by strong tags, which
 * may be none at all (weak or malformed tags never match strongly).
 */
export function expectedVersions(header: string | null): readonly number[] | null {
  if (header === null) return null
  const tags = parseTags(header)
  if (tags === '*') return null
  return tags.filter((t) => !t.weak && /^[1-9][0-9]{0,9}$/.test(t.opaque) && Number(t.opaque) <= MAX_VERSION).map((t) => Number(t.opaque))
}

/** The 412 for an object that exists but whose version the write's If-Match did not name. */
export const preconditionFailed = (version: number) =>
  new ApiError('PRECONDITION_FAILED', 'The object has changed since the version named in If-Match; fetch it again', {
    headers: { etag: versionTag(version) },
  })

const isVersioned = (value: object): value is { version: number } =>
  !Array.isArray(value) && typeof (value as { version?: unknown }).version === 'number'

/** Sets the response's ETag; on a read, answers 304 instead when If-None-Match matches it. */
function tagResponse({ request, responseValue, set }: { request: Request; responseValue: unknown; set: { headers: Record<string, unknown>; status?: unknown } }) {
  const custom = responseValue instanceof ElysiaCustomStatusResponse
  const value = custom ? responseValue.response : responseValue
  if (value === null || typeof value !== 'object' || value instanceof Response) return
  // The hashed text is the body sent: serialized once, not again by Elysia.
  const text = isVersioned(value) ? undefined : JSON.stringify(value)
  const tag = text === undefined ? versionTag((value as { version: number }).version) : bodyTag(text)
  set.headers.etag = tag
  const ifNoneMatch = request.headers.get('if-none-match')
  if ((request.method === 'GET' || request.method === 'HEAD') && ifNoneMatch !== null && noneMatch(ifNoneMatch, tag)) {
    const { 'content-type': _, ...headers } = set.headers as Record<string, string>
    // `as never`: a 304 adds no body type to the route's responses (nor to Eden's).
    return new Response(null, { status: 304, headers }) as never
  }
  if (text !== undefined) {
    if (custom) set.status = responseValue.code
    // What Response.json would have said.
    set.headers['content-type'] ??= 'application/json;charset=utf-8'
    return text as never
  }
}

// Declared so the OpenAPI document and Eden's client know them; their values are read above.
const ReadHeaders = t.Object({
  'if-none-match': t.Optional(t.String({ description: '304 when one of these ETags (weak comparison), or `*`, matches' })),
})
const WriteHeaders = t.Object({
  'if-match': t.Optional(t.String({ description: 'Apply the write only if the current ETag is one of these (strong comparison), or `*` for any' })),
})

/**
 * The `conditional` route option (src/http/api.ts): `'read'` (a GET: ETag, If-None-Match), `'write'`
 * (ETag of the result, If-Match as `ifMatch` for the write's WHERE) or `'create'` (ETag of the new
 * object only).
 */
export const conditional = (mode: 'read' | 'write' | 'create') => ({
  ...(mode === 'read' && { headers: ReadHeaders }),
  ...(mode === 'write' && { headers: WriteHeaders }),
  resolve: ({ request }: { request: Request }) => ({ ifMatch: mode === 'write' ? expectedVersions(request.headers.get('if-match')) : null }),
  afterHandle: tagResponse,
})
