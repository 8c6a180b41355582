// A page holds at most PAGE_BUDGET_BYTES of JSON: a page of large tasks ends early, and its Link
// continues right after its last task, so walking the pages still yields every task once.
import { expect, test } from 'bun:test'
import { PAGE_BUDGET_BYTES } from '../../src/tasks/queries'
import { describeEachDriver, json, newUser } from '../support/app'

describeEachDriver('page byte budget', (ctx) => {
  test('a page of maximal tasks stops at the budget, and the Link walks on to every task', async () => {
    const t = ctx()
    const user = newUser()
    const count = 70
    const made = new Set<string>()
    for (let i = 0; i < count; i++) {
      const res = await t.request('/api/v1/tasks', {
        method: 'POST',
        as: user,
        json: { title: `${String(i).padStart(3, '0')}${'😀'.repeat(197)}`, description: '😀'.repeat(2000) },
      })
      expect(res.status, await res.clone().text()).toBe(201)
      made.add((await json(res)).id)
    }
    const seen: string[] = []
    const sizes: number[] = []
    let next: string | null = '/api/v1/tasks?limit=1000&sort=title'
    while (next) {
      const res = await t.request(next, { as: user })
      const text = await res.clone().text()
      expect(res.status, text).toBe(200)
      sizes.push(Buffer.byteLength(text))
      seen.push(...(await json<{ id: string }[]>(res)).map((task) => task.id))
      const link = res.headers.get('link')
      next = link === null ? null : new URL(/^<([^>]+)>; rel="next"$/.exec(link)![1]!, 'http://localhost').href.replace('http://localhost', '')
    }
    expect(sizes.length).toBeGreaterThan(1)
    for (const size of sizes) expect(size).toBeLessThanOrEqual(PAGE_BUDGET_BYTES)
    expect(sizes[0]!).toBeGreaterThan(PAGE_BUDGET_BYTES * 0.9)
    expect(seen).toHaveLength(count)
    expect(new Set(seen)).toEqual(made)
  }, 60_000)
})
