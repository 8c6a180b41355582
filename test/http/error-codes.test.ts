// Every error response in the OpenAPI document names the error_code values it can carry, each one
// from the code table with that response's status; Eden's error types narrow to those codes.
import { treaty } from '@elysiajs/eden'
import { expect, test } from 'bun:test'
import { ApiError, type ErrorCode } from '../../src/http/errors'
import { describeEachDriver, json, newUser } from '../support/app'

type Schema = { const?: string; enum?: string[] }
const codesOf = (s: Schema) => s.enum ?? (s.const === undefined ? [] : [s.const])

describeEachDriver('error codes', (ctx) => {
  test('each documented error response lists its codes, all with that status', async () => {
    const doc = await json(await ctx().request('/docs/json'))
    let responses = 0
    for (const [path, operations] of Object.entries<Record<string, { responses: Record<string, any> }>>(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        for (const [status, response] of Object.entries(operation.responses)) {
          if (Number(status) < 400) continue
          const where = `${method} ${path} ${status}`
          const codes = codesOf(response.content['application/problem+json'].schema.properties.error_code)
          expect(codes.length, where).toBeGreaterThan(0)
          for (const code of codes) expect(new ApiError(code as ErrorCode, '').status, `${where} ${code}`).toBe(Number(status))
          responses++
        }
      }
    }
    expect(responses).toBeGreaterThan(40)
  })

  test('the codes are the route\'s own: a task\'s 404 is TASK_NOT_FOUND, the list\'s 400 includes INVALID_CURSOR', async () => {
    const doc = await json(await ctx().request('/docs/json'))
    const codes = (path: string, method: string, status: number) =>
      codesOf(doc.paths[path][method].responses[status].content['application/problem+json'].schema.properties.error_code)
    expect(codes('/api/v1/tasks/{id}', 'get', 404)).toEqual(['TASK_NOT_FOUND'])
    expect(codes('/api/v1/tasks/{id}', 'get', 403)).toEqual(['FORBIDDEN'])
    expect(codes('/api/v1/tasks', 'get', 400)).toEqual(['VALIDATION_ERROR', 'INVALID_JSON', 'INVALID_CURSOR'])
    expect(codes('/api/v1/tasks', 'post', 400)).toEqual(['VALIDATION_ERROR', 'INVALID_JSON'])
    expect(codes('/readyz', 'get', 503)).toEqual(['SERVICE_UNAVAILABLE'])
  })

  test('Eden narrows an error to its status\'s codes', async () => {
    const t = ctx()
    const api = treaty(t.app, { headers: { authorization: `Bearer ${await t.token(newUser())}` } }).api.v1
    const gone = await api.tasks({ id: Bun.randomUUIDv7() }).get()
    expect(gone.error?.status).toBe(404)
    if (gone.error?.status === 404) {
      // A type error if the 404's error_code were anything but TASK_NOT_FOUND.
      const code: 'TASK_NOT_FOUND' = gone.error.value.error_code
      expect(code).toBe('TASK_NOT_FOUND')
    }
  })
})
