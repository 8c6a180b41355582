// The previous version's recording statement, kept verbatim (from src/sync/record.ts before the
// change log moved into a trigger, drizzle/0004_sync_triggers.sql) so tests can write as an
// instance of that version does during a rolling deploy: its write and its own recording in one
// statement, on a schema where the trigger records the same rows again.
import { sql, type SQL } from 'drizzle-orm'
import type { TypedQueryBuilder } from 'drizzle-orm/query-builders/query-builder'
import type { Database } from '../../src/db/client'
import type { syncKinds } from '../../src/db/schema'


export type SyncKind = (typeof syncKinds)[number]
type Op = 'upsert' | 'delete'

type Ids = TypedQueryBuilder<any, { id: string }[]>

/**
 * More changes recorded by the same statement: another write's (or a read's) rows, given the
 * condition "the main write changed something" when it depends on it, or objects already written.
 */
export type AlsoChanged = { kind: SyncKind; op: Op } & ({ write: Ids | ((mainWrote: SQL) => Ids) } | { ids: readonly string[] })

/**
 * Runs `write` (an INSERT, UPDATE or DELETE with a RETURNING that includes the object's `id`) and
 * records a change for each row it returns: an upsert, or a tombstone when `op` is 'delete'; and
 * for each object in `also`. Returns the write's rows. When nothing changed, nothing is numbered
 * or notified.
 */
export async function recorded<Row extends { id: string }>(
  db: Database,
  userId: string,
  kind: SyncKind,
  op: Op,
  write: TypedQueryBuilder<any, Row[]>,
  also: readonly AlsoChanged[] = [],
): Promise<Row[]> {
  const w = db.$with('w').as(write)
  const mainWrote = sql`exists (select 1 from ${w})`
  const extra = also.map((a, i) => ({
    ...a,
    cte: 'write' in a ? db.$with(`w${i + 1}`).as(typeof a.write === 'function' ? a.write(mainWrote) : a.write) : undefined,
  }))
  // Kinds and ops are the code's own constants: written as literals, so every branch of the union
  // has the same column types.
  const changed = (source: SQL, k: SyncKind, o: Op) => sql`select id, ${sql.raw(`'${k}'`)} as kind, ${sql.raw(String(o === 'delete'))} as deleted from ${source}`
  const parts = [
    changed(sql`${w}`, kind, op),
    ...extra.map((a) =>
      a.cte
        ? changed(sql`${a.cte}`, a.kind, a.op)
        : changed(sql`(select unnest(string_to_array(${(a as { ids: readonly string[] }).ids.join(',')}, ','))::uuid as id) as given`, a.kind, a.op),
    ),
  ]
  const ch = db
    .$with('ch', { id: sql<string>`id`.as('id') })
    .as(sql.join(parts, sql` union all `))
  const c = db.$with('c', { n: sql<number>`n`.as('n') }).as(sql`select count(*) as n from ${ch}`)
  // Takes (or creates) the user's counter row and its lock, advanced by the number of changes.
  // RETURNING reads the row as locked, so it sees a stream registration committed just before.
  const h = db
    .$with('h', { seq: sql<number>`seq`.as('seq') })
    .as(
      sql`insert into sync_heads (user_id, seq) select ${userId}, c.n from ${c} where c.n > 0
          on conflict (user_id) do update set seq = sync_heads.seq + excluded.seq returning seq, listened_until`,
    )
  // Each object keeps one log row: its last change's number, and whether that change deleted it.
  const l = db
    .$with('l', { one: sql`1`.as('one') })
    .as(
      sql`insert into sync_log (user_id, object_id, kind, seq, deleted)
          select ${userId}, ch.id, ch.kind, h.seq - c.n + row_number() over (), ch.deleted from ${ch}, ${h}, ${c}
          on conflict (user_id, object_id) do update
          set kind = excluded.kind, seq = excluded.seq, deleted = excluded.deleted, changed_at = excluded.changed_at`,
    )
  // Delivered at commit, to every instance's listener; they re-read the log from their cursors.
  // Only while some instance has a stream of this user's open: a NOTIFY serializes the commits of
  // every notifying transaction on the server (Postgres takes one global lock for it until the
  // commit is flushed), so writes nobody is waiting for do not pay for it.
  const n = db
    .$with('n', { one: sql`1`.as('one') })
    .as(sql`select pg_notify('taskapi_sync', h.seq || ' ' || ${userId}) from ${h} where h.listened_until > now()`)
  // Data-modifying CTEs always run; the notify is a plain SELECT, so the main query refers to it.
  const ctes = [w, ...extra.flatMap((a) => (a.cte ? [a.cte] : [])), ch, c, h, l, n]
  const rows = await db.with(...ctes).select().from(w).where(sql`(select count(*) from ${n}) >= 0`)
  return rows as unknown as Row[]
}

/** The objects a re-spacing re-keyed before this write (src/db/positions.ts), recorded with it. */
export const respacedToo = (kind: SyncKind, ids: readonly string[]): AlsoChanged[] => (ids.length === 0 ? [] : [{ kind, op: 'upsert', ids }])
