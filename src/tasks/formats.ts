// The string formats our schemas use, checked by code rather than by typebox's length keywords.
// Registered in TypeBox's global FormatRegistry, which dependencies also write to:
// @elysiajs/openapi's bundled converters replace `uuid` (and others) on import with checks that
// build a zod schema per call (~50 µs each). registerFormats() is called again when the app is
// built, after every import, so ours are the ones in force.
import { FormatRegistry } from '@sinclair/typebox'

// Lengths count Unicode code points, as Postgres's char_length does (typebox's maxLength counts
// UTF-16 units, so 200 emoji would fail it). Text must be well-formed and free of NUL, which
// Postgres cannot store.
const codePoints = (s: string) => {
  let n = 0
  for (const _ of s) n++
  return n
}
const storable = (s: string) => s.isWellFormed() && !s.includes('\u0000')
const textOf = (min: number, max: number) => (s: string) => storable(s) && codePoints(s) >= min && codePoints(s) <= max

// RFC 3339 with a time zone, a real calendar date, and an instant JavaScript can represent.
const rfc3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$/

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export function registerFormats() {
  FormatRegistry.Set('task-title', (s) => textOf(1, 200)(s.trim()))
  FormatRegistry.Set('task-description', textOf(0, 2000))
  FormatRegistry.Set('list-name', (s) => textOf(1, 100)(s.trim()))
  FormatRegistry.Set('search-text', textOf(0, 200))
  FormatRegistry.Set('page-size', (s) => /^[1-9]\d{0,3}$/.test(s) && Number(s) <= 1000)
  FormatRegistry.Set('date-time', (s) => {
    const m = rfc3339.exec(s)
    if (!m) return false
    const [, y, mo, d, h, mi, sec, , , oh = '0', om = '0'] = m
    const day = new Date(Date.UTC(+y!, +mo! - 1, +d!))
    if (day.getUTCMonth() !== +mo! - 1 || day.getUTCDate() !== +d!) return false
    if (+h! > 23 || +mi! > 59 || +sec! > 59 || +oh > 23 || +om > 59) return false
    return !Number.isNaN(Date.parse(s))
  })
  FormatRegistry.Set('uuid', (s) => uuid.test(s))
  FormatRegistry.Set('list-filter', (s) => s === 'none' || uuid.test(s))
}
