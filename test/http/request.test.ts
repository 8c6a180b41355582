// The request's path without a URL parse per request: the same path `new URL` gives, for the URLs
// Bun hands a handler (absolute and normalized with a Host, a bare path without one).
import { expect, test } from 'bun:test'
import { pathOf, urlOf } from '../../src/http/request'

const urls = [
  'http://h/',
  'http://h',
  'http://127.0.0.1:3000/api/v1/tasks',
  'http://127.0.0.1:3000/api/v1/tasks/',
  'http://h/api/v1/tasks?limit=20&sort=-created_at',
  'http://h/api/v1/tasks/01936f5e-7c3a-7b1e-9d4f-2a6b8c0d1e2f/toggle?x=1#frag',
  'http://h/x#f?not-a-query',
  'http://h//double',
  'http://h/a%2Fb/%C3%BC',
  'https://user@h:8443/api/?',
  // No Host (HTTP/1.0): Bun gives the target as sent, parsed as before.
  '/api/v1/tasks?limit=1',
  '/api/../x',
  '//double',
]

test('pathOf is the pathname of the request URL', () => {
  for (const url of urls) {
    const request = { url } as Request
    expect(pathOf(request), url).toBe(urlOf(request).pathname)
  }
})
