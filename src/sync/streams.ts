// The per-user cap on open event streams, across instances: each open stream holds a lease row in
// the database every instance shares (sync_streams). Opening takes one (one statement, the
// function in drizzle/0005_sync_streams.sql, which serializes a user's opens and counts under that
// lock); the hub renews its leases on a timer and deletes each when its stream closes; a lease
// whose instance died lapses after LEASE_TTL_S and is reused. Ordinary requests never touch it.
import { lt, sql } from 'drizzle-orm'
import type { Database } from '../db/client'
import { syncStreams } from '../db/schema'

/** How long a lease lives without renewal: a dead instance's streams stop counting after this. */
export const LEASE_TTL_S = 60
/** How often an instance renews its leases (well within the TTL, so one failed renewal is harmless). */
export const LEASE_RENEW_MS = 20_000

export interface Lease {
  userId: string
  streamId: string
}

/** Takes a lease for a new stream; false when the user already has `cap` live ones. */
export async function openLease(db: Database, { userId, streamId }: Lease, cap: number): Promise<boolean> {
  const [row] = await db
    .select({ ok: sql<boolean>`sync_open_stream(${userId}, ${streamId}::uuid, ${cap}::int, ${LEASE_TTL_S}::int)`.mapWith(Boolean) })
    .from(sql`(select 1) as one`)
  return row!.ok
}

const keys = (leases: readonly Lease[]) => sql`(${syncStreams.userId}, ${syncStreams.streamId}) in (${sql.join(
  leases.map((l) => sql`(${l.userId}, ${l.streamId}::uuid)`),
  sql`, `,
)})`

/** Extends leases by the TTL from now (the database's clock). */
export async function renewLeases(db: Database, leases: readonly Lease[]): Promise<void> {
  if (leases.length === 0) return
  await db
    .update(syncStreams)
    .set({ expiresAt: sql`now() + make_interval(secs => ${LEASE_TTL_S})` })
    .where(keys(leases))
}

/** Frees leases at once (their streams closed). */
export async function releaseLeases(db: Database, leases: readonly Lease[]): Promise<void> {
  if (leases.length === 0) return
  await db.delete(syncStreams).where(keys(leases))
}

/** Deletes every lapsed lease (of users who have not opened a stream since). */
export async function purgeLeases(db: Database): Promise<void> {
  await db.delete(syncStreams).where(lt(syncStreams.expiresAt, sql`now()`))
}
