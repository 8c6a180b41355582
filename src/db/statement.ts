// Statements whose SQL text is built once. Drizzle builds a query's text anew on every call (the
// builder, `sql` objects, name escaping: about half the CPU of a one-row read), and its own
// `.prepare()` ties the result to one session, when a handler's `db` is either the shared handle or
// a transaction. So a statement is built once, against a session that only records what the
// builder would have prepared (text, parameters with `sql.placeholder`s, the fields rows map to),
// and each run hands that to the session of the `db` it is given: the shared handle's or a
// transaction's, on any of the three drivers. A run binds values and nothing else; the driver's
// own query path is unchanged (Bun.SQL keeps a server-side prepared statement per text, the
// metrics hook on PgPreparedQuery.queryWithCache and the deadlines around Bun.SQL's client still
// apply).
//
// Rows (fields at the top level or one level down, as a joined table's) are mapped by a function
// made once per statement from its keys and decoders, not Drizzle's general mapResultRow (which
// re-derives each field's decoder, walks its path and works out which joined objects are null, for
// every value).
import { Column, entityKind, getTableName, is, sql, SQL } from 'drizzle-orm'
import { PgDatabase, PgDialect, PgSession, type PgPreparedQuery, type PreparedQueryConfig, type SelectedFieldsOrdered } from 'drizzle-orm/pg-core'
import type { Database } from './client'

type Prepare = PgSession['prepareQuery']
type Recorded = { args: Parameters<Prepare>; joinsNotNullableMap?: Record<string, boolean> }

// What a builder's prepare() returns when built against the recording session.
class RecordedQuery {
  joinsNotNullableMap?: Record<string, boolean>
  constructor(readonly args: Parameters<Prepare>) {}
  setToken() {
    return this
  }
}

class RecordingSession extends PgSession {
  static override readonly [entityKind]: string = 'TaskapiRecordingSession'
  override prepareQuery<T extends PreparedQueryConfig>(...args: Parameters<Prepare>): PgPreparedQuery<T> {
    return new RecordedQuery(args) as unknown as PgPreparedQuery<T>
  }
  override transaction(): Promise<never> {
    throw new Error('a statement is built, not run, here')
  }
}

const dialect = new PgDialect()
/** A handle that only builds: a statement's `build` gets it. Running a query on it fails. */
const builder = new PgDatabase(dialect, new RecordingSession(dialect), undefined) as unknown as Database

type Buildable<R> = PromiseLike<R> & { prepare(name?: string): unknown }
type Values = Record<string, unknown>

export interface Statement<R> {
  /** Runs the statement on `db` (the shared handle or a transaction) with the placeholders' values. */
  run(db: Database, values?: Values): Promise<R>
}

/**
 * Builds the query `build` returns once, on first use (values it binds per run written as
 * `sql.placeholder('name')`); its result type is the builder's.
 */
export function statement<R>(build: (db: Database) => Buildable<R>): Statement<R> {
  // Built on first use, not at import: the service listens before its first query.
  let recorded: Recorded | undefined
  // One prepared query per session: the shared handle's lives as long as the statement, a
  // transaction's goes with its session.
  const bySession = new WeakMap<PgSession, PgPreparedQuery<PreparedQueryConfig>>()
  return {
    run(db, values = {}) {
      const session = db._.session as PgSession
      let query = bySession.get(session)
      if (query === undefined) {
        recorded ??= record(build)
        query = session.prepareQuery(...recorded.args)
        if (recorded.joinsNotNullableMap) (query as unknown as Recorded).joinsNotNullableMap = recorded.joinsNotNullableMap
        bySession.set(session, query)
      }
      return query.execute(values) as Promise<R>
    },
  }
}

function record(build: (db: Database) => Buildable<unknown>): Recorded {
  const built = build(builder).prepare() as RecordedQuery
  if (!(built instanceof RecordedQuery)) throw new Error('statement(): build must return a query of the handle it is given')
  const args = [...built.args] as Parameters<Prepare>
  const fields = args[1]
  // isResponseInArrayMode and customResultMapper are the 4th and 5th arguments.
  if (fields !== undefined && args[4] === undefined) {
    const mapper = flatMapper(fields, built.joinsNotNullableMap)
    if (mapper) args[4] = mapper as Parameters<Prepare>[4]
  }
  return { args, joinsNotNullableMap: built.joinsNotNullableMap }
}

type Decoder = { mapFromDriverValue(value: unknown): unknown }
type Decoded = { decoder: Decoder }

/**
 * Maps array rows to objects by fixed keys, when every field is a top-level key or one level down
 * (a joined table's columns as `task: {...}`). A nested object is null when Drizzle's mapResultRow
 * would make it null: its first column is null, all its columns are of one table, and that table
 * is nullable in the joins (a left join that found no row). (Exported for bench/row-mapping.ts.)
 */
export function flatMapper(fields: SelectedFieldsOrdered, joinsNotNullableMap: Record<string, boolean> | undefined) {
  // (`__proto__` would set a literal's prototype, not a key.)
  if (fields.some((f) => f.path.length > 2 || f.path.includes('__proto__'))) return undefined
  const decoders: Decoder[] = []
  for (const { field } of fields) {
    if (is(field, Column)) decoders.push(field)
    // `decoder` is internal to Drizzle (mapWith sets it); mapResultRow reads it the same way.
    else if (is(field, SQL)) decoders.push((field as unknown as Decoded).decoder)
    else if (is(field, SQL.Aliased)) decoders.push((field.sql as unknown as Decoded).decoder)
    else return undefined // a subquery as a field: Drizzle's own mapping
  }
  // Top-level fields: [index, key]; nested objects: their key, fields and the column that nulls them.
  const top: [number, string][] = []
  const nested = new Map<string, { fields: [number, string][]; nullIf: number; table: string | false }>()
  fields.forEach(({ path, field }, i) => {
    if (path.length === 1) return void top.push([i, path[0]!])
    let group = nested.get(path[0]!)
    if (group === undefined) nested.set(path[0]!, (group = { fields: [], nullIf: -1, table: false }))
    group.fields.push([i, path[1]!])
    if (is(field, Column)) {
      const table = getTableName(field.table)
      if (group.nullIf === -1) [group.nullIf, group.table] = [i, table]
      else if (group.table !== table) group.table = false
    }
  })
  const groups = [...nested].map(([key, g]) => ({
    key,
    fields: g.fields,
    nullIf: g.nullIf !== -1 && g.table !== false && joinsNotNullableMap !== undefined && !joinsNotNullableMap[g.table] ? g.nullIf : -1,
  }))
  // Each row becomes an object literal of one fixed shape, which is quicker to build and to
  // JSON.stringify than keys assigned one by one (bench/row-mapping.ts). The keys are the query's
  // own field names, quoted by JSON.stringify; the decoders are passed in, never written as source.
  const read = (i: number) => (asIs(decoders[i]!) ? `row[${i}]` : `row[${i}] === null ? null : d[${i}].mapFromDriverValue(row[${i}])`)
  const entries = (list: [number, string][]) => list.map(([i, key]) => `${JSON.stringify(key)}: ${read(i)}`)
  const object = [
    ...entries(top),
    ...groups.map((g) => `${JSON.stringify(g.key)}: ${g.nullIf === -1 ? '' : `row[${g.nullIf}] === null ? null : `}{ ${entries(g.fields).join(', ')} }`),
  ].join(', ')
  return new Function('d', `return (rows) => { const out = new Array(rows.length); for (let r = 0; r < rows.length; r++) { const row = rows[r]; out[r] = { ${object} } } return out }`)(decoders) as (
    rows: unknown[][],
  ) => Record<string, unknown>[]
}

// Drizzle's decoders that return the value as it is (a column's default, and a `sql` field's
// without mapWith): a row's value for these is read as it is.
const unchanged = [Column.prototype.mapFromDriverValue, (sql`` as unknown as Decoded).decoder.mapFromDriverValue]
const asIs = (decoder: Decoder) => unchanged.includes(decoder.mapFromDriverValue)
