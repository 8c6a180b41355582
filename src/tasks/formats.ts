// The string formats of task fields, checked by code rather than by typebox's length keywords.
// Lengths count Unicode code points, as Postgres's char_length does (typebox's maxLength counts
// UTF-16 units, so 200 emoji would fail it). Text must be well-formed and free of NUL, which
// Postgres cannot store. The generic formats (uuid, date-time) are in src/http/formats.ts.
import { FormatRegistry } from '@sinclair/typebox'
import { isId } from '../http/formats'

const codePoints = (s: string) => {
  let n = 0
  for (const _ of s) n++
  return n
}
const storable = (s: string) => s.isWellFormed() && !s.includes('\u0000')
const textOf = (min: number, max: number) => (s: string) => storable(s) && codePoints(s) >= min && codePoints(s) <= max

FormatRegistry.Set('task-title', (s) => textOf(1, 200)(s.trim()))
FormatRegistry.Set('task-description', textOf(0, 2000))
FormatRegistry.Set('list-name', (s) => textOf(1, 100)(s.trim()))
FormatRegistry.Set('list-filter', (s) => s === 'none' || isId(s))
FormatRegistry.Set('search-text', textOf(0, 200))
FormatRegistry.Set('page-size', (s) => /^[1-9]\d{0,3}$/.test(s) && Number(s) <= 1000)
