// A transaction held open across steps that are not one callback: Elysia has no hook around a
// handler, so the /api base plugin begins one before the handler, commits after it and rolls back on
// error. Inside, only `tx` may be used (on PGlite, `db` would wait for this transaction for good).
import type { Database } from './client'

export interface HeldTransaction {
  readonly tx: Database
  /** Commits; rejects when the commit fails (the transaction is then rolled back). */
  commit(): Promise<void>
  /** Rolls back; never rejects. Calling it after commit does nothing. */
  rollback(): Promise<void>
}

/** Begins a transaction and resolves once it is open (rejects when it cannot begin). */
export function beginTransaction(db: Database): Promise<HeldTransaction> {
  return new Promise((opened, failed) => {
    let decide!: (commit: boolean) => void
    const decision = new Promise<boolean>((resolve) => (decide = resolve))
    const done = db.transaction(async (tx) => {
      opened({
        tx,
        commit: () => {
          decide(true)
          return done
        },
        rollback: () => {
          decide(false)
          return done.catch(() => {})
        },
      })
      // Drizzle rolls back when the callback throws; tx.rollback() is that throw.
      if (!(await decision)) tx.rollback()
    })
    // Before `opened`, this is a failure to begin; after it, `failed` is a no-op.
    done.catch(failed)
  })
}
