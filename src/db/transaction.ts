// A transaction opened in one step of a request and finished in a later one. Drizzle only offers
// `db.transaction(callback)`; a request's lifecycle hooks (open before the handler, commit once
// the response is known) need the two ends apart, so the callback waits for the decision.
import type { Database } from './client'

export interface OpenTransaction {
  /** Runs statements inside the transaction; hand it to everything the request writes. */
  readonly tx: Database
  /** Commits; rejects (and nothing is kept) when the commit fails. */
  commit(): Promise<void>
  /** Rolls back; never rejects (a transaction whose connection died is rolled back already). */
  rollback(): Promise<void>
}

const rollbackSignal = new Error('rollback requested')

/**
 * Opens a transaction. On PGlite (one connection) every other query waits until it finishes, so
 * the caller must finish it on every path and run nothing on `db` meanwhile.
 */
export async function openTransaction(db: Database): Promise<OpenTransaction> {
  let decide!: (commit: boolean) => void
  const decision = new Promise<boolean>((resolve) => (decide = resolve))
  let opened!: (tx: Database) => void
  const ready = new Promise<Database>((resolve) => (opened = resolve))
  const done = db.transaction(async (tx) => {
    opened(tx)
    if (!(await decision)) throw rollbackSignal
  })
  // BEGIN failing (the database is away) rejects `done` before the callback ever runs.
  const tx = await Promise.race([ready, done.then(() => Promise.reject(new Error('the transaction ended before it opened')))])
  let finished: Promise<void> | undefined
  return {
    tx,
    commit: () => (finished ??= (decide(true), done)),
    rollback: () => (finished ??= (decide(false), done.catch(() => {}))),
  }
}
