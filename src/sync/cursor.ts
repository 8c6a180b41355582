// Sync cursors, on the one cursor module (opaque base64url of a JSON array): [seq, floor, issued].
// `seq` is the last change the client holds; `floor`, while a snapshot is being paged, is the
// user's head when it began (tombstones at or below it are of objects the client never had);
// `issued` (epoch seconds) lets a cursor older than the retention be refused.
import { decodeCursor as decode, encodeCursor as encode } from '../http/cursor'

export interface SyncCursor {
  seq: number
  /** 0 once no snapshot is being paged. */
  floor: number
  /** Epoch seconds. */
  issued: number
}

export const encodeCursor = ({ seq, floor, issued }: SyncCursor): string => encode([seq, floor, issued])

const count = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0

/** Decodes a cursor, or throws 400 INVALID_CURSOR. */
export const decodeCursor = (cursor: string): SyncCursor =>
  decode(cursor, (values) => {
    const [seq, floor, issued] = values
    return values.length === 3 && count(seq) && count(floor) && count(issued) ? { seq, floor, issued } : null
  })
