import { test, expect } from 'bun:test'
import { createTestApp } from './support/app'
import { drivers } from './support/databases'
test('x', async () => {
  const db = await drivers[0]!.create()
  const t = await createTestApp(db)
  const res = await t.request('/api/v1/tasks', { as: 'bob' })
  console.log(res.status, JSON.stringify(t.logs))
  await Bun.sleep(0)
  console.log(JSON.stringify(t.logs))
  await new Promise((r) => setImmediate(r))
  console.log(JSON.stringify(t.logs))
  const r2 = await t.request('/api/v1/tasks/01936b2e-7c4f-7a10-9d8e-4a3b2c1d0e5f', { as: 'bob' , headers: {'x-request-id': 'abc-123._X'}})
  await Bun.sleep(10)
  console.log(r2.status, JSON.stringify(t.logs.slice(-2)))
  const r3 = await t.request('/api/v1/tasks', { method: 'POST', headers: {authorization: 'Bearer x.y.z'}, json: {} })
  await Bun.sleep(10)
  console.log(r3.status, [...r3.headers], await r3.text(), JSON.stringify(t.logs.slice(-2)))
  const r4 = await t.request('/nope')
  await Bun.sleep(10)
  console.log(r4.status, JSON.stringify(t.logs.slice(-2)))
  await db.drop()
}, 60000)
