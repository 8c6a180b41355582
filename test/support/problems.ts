// The contract's problem body, asserted one way everywhere: exact keys, status, code, title,
// a detail, and the request id of the response's X-Request-Id.
import { expect } from 'bun:test'
import { json } from './app'

export const problemKeys = ['detail', 'error_code', 'request_id', 'status', 'status_code', 'title']

// The contract's titles, written here rather than read from src/, so a change there is caught.
const titles: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  410: 'Gone',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
}
export const saneId = /^[A-Za-z0-9._-]{1,128}$/

/** Asserts the contract's problem body and headers; returns the body. */
export async function expectProblem(res: Response, status: number, code: string) {
  const text = await res.clone().text()
  expect(res.status, text).toBe(status)
  expect(res.headers.get('content-type'), text).toBe('application/problem+json')
  const body = await json(res)
  const keys = code === 'VALIDATION_ERROR' ? [...problemKeys, 'errors'].sort() : problemKeys
  expect(Object.keys(body).sort(), text).toEqual(keys)
  expect(body, text).toMatchObject({ status, status_code: status, error_code: code, title: titles[status] })
  expect(typeof body.detail === 'string' && body.detail.length > 0, text).toBe(true)
  const requestId = res.headers.get('x-request-id')
  expect(requestId, text).toMatch(saneId)
  expect(body.request_id, text).toBe(requestId!)
  if (code === 'VALIDATION_ERROR') {
    expect(body.errors.length, text).toBeGreaterThan(0)
    for (const e of body.errors) expect(Object.keys(e).sort()).toEqual(['field', 'message'])
  }
  return body
}

/** Expects a 400 VALIDATION_ERROR naming exactly `field` with `message`; returns the body. */
export async function expectFieldError(res: Response, field: string, message: string) {
  const body = await expectProblem(res, 400, 'VALIDATION_ERROR')
  expect(body.errors).toEqual([{ field, message }])
  return body
}
