// The change log costs no round trip: every task write that was one statement is still one (no
// transaction), its change numbered, logged and notified by the trigger at its commit; a create reads its list's first
// key and inserts: two statements, no transaction (one only when the list must be re-spaced).
import { describe, expect, test } from 'bun:test'
import type { PGlite } from '@electric-sql/pglite'
import { appOn, json } from '../support/app'
import { newUser } from '../support/factories'

describe('task writes with the change log [pglite]', () => {
  const ctx = appOn()

  test('each costs what it did before, and each enters the feed', async () => {
    const t = ctx()
    const user = newUser()
    const task = await json(await t.request('/api/v1/tasks', { method: 'POST', as: user, json: { title: 'warm-up' } }))
    const { cursor } = await json(await t.request('/api/v1/changes', { as: user }))
    // Count what reaches the one PGlite connection: statements outside a transaction, and transactions.
    const client = (t.db.db as unknown as { $client: PGlite }).$client
    const counts = { statements: 0, transactions: 0 }
    const { query, transaction } = client
    client.query = ((...args: Parameters<PGlite['query']>) => (counts.statements++, query.apply(client, args))) as PGlite['query']
    client.transaction = ((...args: Parameters<PGlite['transaction']>) => (counts.transactions++, transaction.apply(client, args))) as PGlite['transaction']
    const measure = async (method: string, path: string, body?: unknown, status = 200) => {
      counts.statements = counts.transactions = 0
      const res = await t.request(`/api/v1${path}`, { method, as: user, json: body })
      expect(res.status < 300 ? 200 : res.status, await res.clone().text()).toBe(status)
      return { ...counts }
    }
    try {
      const one = { statements: 1, transactions: 0 }
      expect(await measure('POST', '/tasks', { title: 'created' })).toEqual({ statements: 2, transactions: 0 })
      expect(await measure('PATCH', `/tasks/${task.id}`, { title: 'patched' })).toEqual(one)
      expect(await measure('PUT', `/tasks/${task.id}`, { priority: 'high' })).toEqual(one)
      expect(await measure('PATCH', `/tasks/${task.id}/toggle`)).toEqual(one)
      expect(await measure('DELETE', '/tasks?status=completed')).toEqual(one)
      // A miss writes nothing; a second statement tells 403 from 404.
      expect(await measure('DELETE', `/tasks/${crypto.randomUUID()}`, undefined, 404)).toEqual({ statements: 2, transactions: 0 })
    } finally {
      Object.assign(client, { query, transaction })
    }
    const page = await json(await t.request(`/api/v1/changes?since=${cursor}`, { as: user }))
    expect(page.changes.map((c: { op: string; id: string }) => c.op + (c.id === task.id ? ' warm-up' : ''))).toEqual(['upsert', 'delete warm-up'])
  })
})
