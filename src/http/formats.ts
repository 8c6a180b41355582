// The generic string formats (`uuid`, `date-time`), one source for each. They live in TypeBox's
// global FormatRegistry, which dependencies also write to: @elysiajs/openapi's bundled converters
// replace `uuid` (and others) on import with checks that build a zod schema per call (~50 µs each).
// createApp calls registerFormats() after every import, so ours are the ones in force.
import { FormatRegistry } from '@sinclair/typebox'

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Whether a string is a UUID: every id this API hands out is one (v7). */
export const isId = (s: string) => uuid.test(s)

// RFC 3339 with a time zone, a real calendar date, and an instant Postgres can store: years 0001 to
// 9999 once the offset is applied (Postgres has no year 0, and toISOString() writes a year past
// 9999 as +010000, which Postgres refuses).
const firstInstant = Date.parse('0001-01-01T00:00:00.000Z')
const lastInstant = Date.parse('9999-12-31T23:59:59.999Z')
export const isStorableInstant = (ms: number) => ms >= firstInstant && ms <= lastInstant
const rfc3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$/

export function isDateTime(s: string): boolean {
  const m = rfc3339.exec(s)
  if (!m) return false
  const [, y, mo, d, h, mi, sec, , , oh = '0', om = '0'] = m
  const day = new Date(Date.UTC(+y!, +mo! - 1, +d!))
  if (day.getUTCMonth() !== +mo! - 1 || day.getUTCDate() !== +d!) return false
  if (+h! > 23 || +mi! > 59 || +sec! > 59 || +oh > 23 || +om > 59) return false
  return isStorableInstant(Date.parse(s))
}

export function registerFormats() {
  FormatRegistry.Set('date-time', isDateTime)
  FormatRegistry.Set('uuid', isId)
}
