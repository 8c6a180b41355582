// One check of an error answer: its status, the problem content type and body, and the request id.
import { expect } from 'bun:test'
import { json } from './app'

export async function expectProblem(res: Response, status: number, errorCode: string) {
  expect(res.status, await res.clone().text()).toBe(status)
  expect(res.headers.get('content-type')).toBe('application/problem+json')
  const body = await json(res)
  expect(body).toMatchObject({ status, status_code: status, error_code: errorCode })
  expect(body.request_id).toBe(res.headers.get('x-request-id'))
  return body
}
