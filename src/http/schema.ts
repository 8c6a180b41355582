// Small typebox helpers shared by every feature's schemas.
import type { TLiteral } from '@sinclair/typebox'
import { t } from 'elysia'

/**
 * One literal schema per value, typed as a tuple so `t.Union(literals(xs))` is the union of the
 * values: Elysia types a union over a plain array as `undefined`. A union of literals, not
 * t.UnionEnum: Elysia fills an absent optional UnionEnum in with its first value.
 */
export const literals = <const T extends readonly string[]>(values: T) => values.map((v) => t.Literal(v)) as Literals<T>

export type Literals<T extends readonly string[]> = { -readonly [K in keyof T]: TLiteral<T[K] & string> }
