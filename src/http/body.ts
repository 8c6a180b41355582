// JSON request bodies, read in two steps so that authentication comes first: Elysia parses before
// `derive`, so parsing only captures the raw text (bounded to 64 KiB), and `decodeJson`, run after
// auth, turns it into JSON or the contract's 413, 415 or 400.
import { Elysia } from 'elysia'
import { ApiError } from './errors'

export const MAX_BODY_BYTES = 64 * 1024
/** No body this API takes nests past 3 levels; deeper is refused before anything walks it. */
export const MAX_JSON_DEPTH = 32

class RawBody {
  constructor(
    readonly text: string,
    readonly problem: ApiError | null,
  ) {}
}

const tooLarge = () => new ApiError('PAYLOAD_TOO_LARGE', `The request body must be at most ${MAX_BODY_BYTES} bytes`)
const isJson = (contentType: string) => /^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/i.test(contentType)

async function readBounded(request: Request): Promise<RawBody> {
  const declared = Number(request.headers.get('content-length') ?? 0)
  if (declared > MAX_BODY_BYTES) return new RawBody('', tooLarge())
  if (request.body === null) return new RawBody('', null)
  let bytes: Uint8Array
  if (request.headers.has('content-length') && !request.headers.has('transfer-encoding')) {
    // The length is declared and within bounds, and the server reads no more than it: read it
    // whole, natively (the stream's async iterator cost ~10 % of a small POST's CPU).
    bytes = await request.bytes()
  } else {
    // Chunked: no length to trust, so count while reading and stop past the bound.
    const chunks: Uint8Array[] = []
    let size = 0
    for await (const chunk of request.body) {
      size += chunk.byteLength
      if (size > MAX_BODY_BYTES) return new RawBody('', tooLarge())
      chunks.push(chunk)
    }
    bytes = Buffer.concat(chunks)
  }
  if (bytes.byteLength === 0) return new RawBody('', null)
  const contentType = request.headers.get('content-type') ?? ''
  if (!isJson(contentType)) {
    return new RawBody('', new ApiError('UNSUPPORTED_MEDIA_TYPE', 'The request body must be JSON (Content-Type: application/json)'))
  }
  try {
    return new RawBody(new TextDecoder('utf-8', { fatal: true }).decode(bytes), null)
  } catch {
    return new RawBody('', new ApiError('INVALID_JSON', 'The request body is not valid UTF-8'))
  }
}

/** Captures every request body raw; nothing is refused yet. */
export const rawBody = new Elysia({ name: 'raw-body' }).onParse({ as: 'global' }, ({ request }) => readBounded(request)).as('global')

/** Turns the captured body into JSON (undefined when there was none), or throws the reason it is not. */
export function decodeJson(context: { body: unknown }) {
  const raw = context.body
  if (!(raw instanceof RawBody)) return
  if (raw.problem) throw raw.problem
  if (raw.text === '') {
    context.body = undefined
    return
  }
  if (nestedTooDeep(raw.text)) throw new ApiError('INVALID_JSON', `The request body is nested deeper than ${MAX_JSON_DEPTH} levels`)
  let parsed: unknown
  try {
    parsed = JSON.parse(raw.text)
  } catch {
    throw new ApiError('INVALID_JSON', 'The request body is not valid JSON')
  }
  // Every body this API takes is an object; Elysia skips validating an optional body that is not
  // one, so a stray array or string is refused here.
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ApiError('VALIDATION_ERROR', 'The request body must be a JSON object', { errors: [{ field: '', message: 'must be a JSON object' }] })
  }
  context.body = parsed
}

// One pass over the text (brackets inside strings are not nesting), so refusing 64 KiB of any
// shape costs microseconds. Without it, a deep body is walked recursively by the parser, the
// schema check and the error builder: 32,000 levels cost ~0.4 s of event loop per request, and
// 5,000 levels overflowed the stack inside Elysia's error mapping.
function nestedTooDeep(text: string): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++ // backslash: skip the escaped character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_JSON_DEPTH) return true
    } else if (c === 0x5d || c === 0x7d) depth--
  }
  return false
}
