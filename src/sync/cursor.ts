// Sync cursors, opaque to clients: base64url of "<seq>.<floor>.<issued>". `seq` is the last change
// the client holds; `floor`, while a snapshot is being paged, is the user's head when it began
// (tombstones at or below it are of objects the client never had); `issued` (epoch seconds) lets
// a cursor older than the retention be refused.
import { ApiError } from '../http/errors'

export interface SyncCursor {
  seq: number
  /** 0 once no snapshot is being paged. */
  floor: number
  /** Epoch seconds. */
  issued: number
}

export function encodeCursor({ seq, floor, issued }: SyncCursor): string {
  return Buffer.from(`${seq}.${floor}.${issued}`).toString('base64url')
}

const shape = /^(\d{1,16})\.(\d{1,16})\.(\d{1,12})$/

/** Decodes a cursor, or throws 400 INVALID_CURSOR. */
export function decodeCursor(cursor: string): SyncCursor {
  const m = /^[A-Za-z0-9_-]{1,64}$/.test(cursor) ? shape.exec(Buffer.from(cursor, 'base64url').toString('latin1')) : null
  const [seq, floor, issued] = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : []
  if (seq === undefined || floor === undefined || issued === undefined || !Number.isSafeInteger(seq) || !Number.isSafeInteger(floor)) {
    throw new ApiError('INVALID_CURSOR', 'The cursor is not valid; start again without it')
  }
  return { seq, floor, issued }
}
