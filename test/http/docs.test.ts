// Operations endpoints: liveness, readiness (and its 503), the offline docs page and its assets,
// and the OpenAPI document of the canonical routes.
import { describe, expect, test } from 'bun:test'
import { createTestApp, describeEachDriver, json } from '../support/app'
import { documented } from '../support/endpoints'

const jsonType = /^application\/json(; ?charset=utf-8)?$/i
const httpMethods = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']

const taskOperations = Object.entries(documented)
  .filter(([path]) => path.startsWith('/api/v1/'))
  .flatMap(([path, methods]) => methods.map((method) => [path, method] as const))

type Doc = {
  openapi: string
  paths: Record<string, Record<string, any>>
  components?: { securitySchemes?: Record<string, any>; schemas?: Record<string, any> }
  security?: Record<string, string[]>[]
}

/** Follows a local `$ref` ("#/components/schemas/X") until a schema object. */
function resolve(doc: Doc, schema: any): any {
  for (let depth = 0; schema?.$ref && depth < 10; depth++) {
    const path = String(schema.$ref).replace(/^#\//, '').split('/')
    schema = path.reduce((node: any, key) => node?.[key], doc)
  }
  return schema
}

/** The local URLs an HTML page loads (src and href attributes). */
const loadedUrls = (html: string) => [...html.matchAll(/\b(?:src|href)\s*=\s*["']([^"']+)["']/gi)].map((m) => m[1]!)

describeEachDriver('operations and docs', (ctx, driver) => {
  describe('health', () => {
    test('GET /healthz is 200 {"status":"ok"}', async () => {
      const res = await ctx().request('/healthz')
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(jsonType)
      expect(await res.text()).toBe('{"status":"ok"}')
    })

    test('GET /readyz is 200 {"status":"ready"} while the database answers', async () => {
      const res = await ctx().request('/readyz')
      expect(res.status, await res.clone().text()).toBe(200)
      expect(res.headers.get('content-type')).toMatch(jsonType)
      expect(await json(res)).toEqual({ status: 'ready' })
    })

    test('GET /readyz is a 503 SERVICE_UNAVAILABLE problem with Retry-After once the database is closed; /healthz stays 200', async () => {
      const database = await driver.create()
      const handle = database.handle as { close(): Promise<void> }
      const close = handle.close.bind(handle)
      try {
        const t = await createTestApp(database)
        expect((await t.request('/readyz')).status).toBe(200)
        await close()
        handle.close = async () => {} // closed already; drop() must still remove the database
        const started = performance.now()
        const res = await t.request('/readyz')
        const elapsed = performance.now() - started
        const text = await res.clone().text()
        expect(res.status, text).toBe(503)
        expect(res.headers.get('content-type')).toBe('application/problem+json')
        expect(res.headers.get('retry-after')).toMatch(/^[1-9]\d*$/)
        const body = await json(res)
        expect(Object.keys(body).sort()).toEqual(['detail', 'error_code', 'request_id', 'status', 'status_code', 'title'])
        expect(body).toMatchObject({ status: 503, status_code: 503, error_code: 'SERVICE_UNAVAILABLE', title: 'Service Unavailable' })
        expect(body.request_id).toBe(res.headers.get('x-request-id')!)
        expect(elapsed).toBeLessThan(3000)
        const live = await t.request('/healthz')
        expect(live.status).toBe(200)
        expect(await json(live)).toEqual({ status: 'ok' })
      } finally {
        await database.drop()
      }
    })
  })

  describe('GET /docs', () => {
    test('is an HTML page that loads only local assets', async () => {
      const res = await ctx().request('/docs')
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^text\/html(;|$)/)
      const html = await res.text()
      expect(html).toContain('/docs/assets/swagger-ui-bundle.js')
      expect(html).toContain('/docs/assets/swagger-ui.css')
      expect(html).not.toMatch(/https?:\/\/[^"'\s]*(unpkg|jsdelivr|cdnjs|googleapis|gstatic|cloudflare)/i)
      expect(html).not.toMatch(/\b(?:src|href)\s*=\s*["'](?:https?:)?\/\//i)
      const urls = loadedUrls(html)
      expect(urls.sort()).toEqual(['/docs/assets/swagger-ui-bundle.js', '/docs/assets/swagger-ui.css'])
    })

    test('points Swagger UI at /docs/json', async () => {
      const html = await (await ctx().request('/docs')).text()
      const match = /"url"\s*:\s*"([^"]+)"/.exec(html)
      expect(match, html).not.toBeNull()
      expect(new URL(match![1]!, 'http://localhost/docs').pathname).toBe('/docs/json')
    })

    test('every app built in the process serves it, again and again (tests and tools build several)', async () => {
      const database = { handle: ctx().db, drop: async () => {} }
      for (let app = 0; app < 2; app++) {
        const t = await createTestApp(database)
        for (let call = 0; call < 2; call++) {
          const res = await t.request('/docs').catch((error: unknown) => new Response(String(error), { status: 599 }))
          expect(res.status, `app ${app}, call ${call}: ${await res.clone().text()}`).toBe(200)
          expect(await res.text()).toContain('/docs/assets/swagger-ui-bundle.js')
        }
      }
    })

    test('every asset the page loads is served, with the right type and real content', async () => {
      const t = ctx()
      const expected: Record<string, { type: RegExp; minBytes: number; marker: string }> = {
        '/docs/assets/swagger-ui-bundle.js': { type: /^(text|application)\/javascript(;|$)/, minBytes: 100_000, marker: 'SwaggerUIBundle' },
        '/docs/assets/swagger-ui.css': { type: /^text\/css(;|$)/, minBytes: 10_000, marker: '.swagger-ui' },
      }
      const html = await (await t.request('/docs')).text()
      for (const url of loadedUrls(html)) {
        const want = expected[url]
        expect(want, url).toBeDefined()
        const res = await t.request(url)
        expect(res.status, url).toBe(200)
        expect(res.headers.get('content-type'), url).toMatch(want!.type)
        const body = await res.text()
        expect(body.length, url).toBeGreaterThan(want!.minBytes)
        expect(body, url).toContain(want!.marker)
      }
    })
  })

  describe('GET /docs/json', () => {
    const load = async () => {
      const res = await ctx().request('/docs/json')
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(jsonType)
      return json<Doc>(res)
    }

    test('is an OpenAPI 3 document of exactly the canonical routes and their methods', async () => {
      const doc = await load()
      expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/)
      const paths = Object.fromEntries(
        Object.entries(doc.paths).map(([path, item]) => [path, Object.keys(item).filter((k) => httpMethods.includes(k)).sort()]),
      )
      expect(paths).toEqual(documented)
    })

    test('holds only OpenAPI keywords: not the mark that spares responses their run-time check', async () => {
      const res = await ctx().request('/docs/json')
      expect(await res.text()).not.toContain('noValidate')
    })

    test('leaves out the older clients\' paths and the docs themselves', async () => {
      const doc = await load()
      for (const path of Object.keys(doc.paths)) {
        expect(path.startsWith('/api/tasks'), path).toBe(false)
        expect(path.startsWith('/api/{user_id}'), path).toBe(false)
        expect(path.startsWith('/api/:'), path).toBe(false)
        expect(path.startsWith('/docs'), path).toBe(false)
      }
    })

    test('declares a bearer scheme and applies it to every task operation, not to health checks', async () => {
      const doc = await load()
      const schemes = Object.entries(doc.components?.securitySchemes ?? {}).filter(
        ([, s]) => s.type === 'http' && String(s.scheme).toLowerCase() === 'bearer',
      )
      expect(schemes).toHaveLength(1)
      const [name] = schemes[0]!
      for (const [path, method] of taskOperations) {
        const op = doc.paths[path]![method]
        const security = op.security ?? doc.security
        expect(security, `${method} ${path}`).toContainEqual({ [name]: [] })
      }
      for (const path of ['/healthz', '/readyz']) {
        const op = doc.paths[path]!.get
        const security = op.security ?? doc.security ?? []
        expect(security, path).toEqual([])
      }
    })

    test('documents the id path parameter', async () => {
      const doc = await load()
      for (const [path, method] of taskOperations.filter(([p]) => p.includes('{id}'))) {
        const params = doc.paths[path]![method].parameters ?? []
        expect(params, `${method} ${path}`).toContainEqual(expect.objectContaining({ name: 'id', in: 'path', required: true }))
      }
    })

    test('has JSON request body schemas for create, update and toggle', async () => {
      const doc = await load()
      const bodyOf = (path: string, method: string) => {
        const body = resolve(doc, doc.paths[path]![method].requestBody)
        expect(body, `${method} ${path}`).toBeDefined()
        expect(Object.keys(body.content ?? {}), `${method} ${path}: ${JSON.stringify(body)}`).toEqual(['application/json'])
        return resolve(doc, body.content['application/json'].schema)
      }
      const create = bodyOf('/api/v1/tasks', 'post')
      expect(create.type).toBe('object')
      for (const field of ['title', 'description', 'completed', 'priority', 'due_at']) expect(Object.keys(create.properties)).toContain(field)
      expect(create.required).toContain('title')
      for (const method of ['patch', 'put']) {
        const update = bodyOf('/api/v1/tasks/{id}', method)
        expect(update.type).toBe('object')
        for (const field of ['title', 'description', 'completed', 'priority', 'due_at']) expect(Object.keys(update.properties)).toContain(field)
        expect(update.required ?? []).not.toContain('title')
      }
      const toggle = bodyOf('/api/v1/tasks/{id}/toggle', 'patch')
      expect(Object.keys(toggle.properties ?? {})).toContain('completed')
    })

    test('documents the list and move request bodies with examples, and the list_id filter', async () => {
      const doc = await load()
      const bodyOf = (path: string, method: string) => resolve(doc, doc.paths[path]![method].requestBody.content['application/json'].schema)
      for (const [path, method, fields] of [
        ['/api/v1/lists', 'post', ['name']],
        ['/api/v1/lists/{id}', 'patch', ['name']],
        ['/api/v1/lists/{id}/move', 'post', ['after', 'before']],
        ['/api/v1/tasks/{id}/move', 'post', ['after', 'before', 'list_id']],
      ] as const) {
        const body = bodyOf(path, method)
        for (const field of fields) expect(Object.keys(body.properties), `${method} ${path}`).toContain(field)
        expect(body.examples?.length, `${method} ${path}`).toBeGreaterThan(0)
        expect(body.description ?? doc.paths[path]![method].description ?? '', `${method} ${path}`).not.toBe('')
      }
      expect(Object.keys(bodyOf('/api/v1/tasks', 'post').properties)).toContain('list_id')
      for (const method of ['get', 'delete']) {
        const params = doc.paths['/api/v1/tasks']![method].parameters
        expect(params).toContainEqual(expect.objectContaining({ name: 'list_id', in: 'query', schema: expect.objectContaining({ description: expect.stringContaining('none') }) }))
      }
      const sort = doc.paths['/api/v1/tasks']!.get.parameters.find((p: { name: string }) => p.name === 'sort').schema
      expect(JSON.stringify(sort)).toContain('"-position"')
    })

    test('documents the success responses', async () => {
      const doc = await load()
      const success: [string, string, string][] = [
        ['/api/v1/tasks', 'get', '200'],
        ['/api/v1/tasks', 'post', '201'],
        ['/api/v1/tasks', 'delete', '200'],
        ['/api/v1/tasks/stats', 'get', '200'],
        ['/api/v1/tasks/{id}', 'get', '200'],
        ['/api/v1/tasks/{id}', 'patch', '200'],
        ['/api/v1/tasks/{id}', 'put', '200'],
        ['/api/v1/tasks/{id}', 'delete', '204'],
        ['/api/v1/tasks/{id}/toggle', 'patch', '200'],
        ['/api/v1/tasks/{id}/move', 'post', '200'],
        ['/api/v1/lists', 'get', '200'],
        ['/api/v1/lists', 'post', '201'],
        ['/api/v1/lists/{id}', 'get', '200'],
        ['/api/v1/lists/{id}', 'patch', '200'],
        ['/api/v1/lists/{id}', 'delete', '204'],
        ['/api/v1/lists/{id}/move', 'post', '200'],
      ]
      for (const [path, method, status] of success) {
        expect(Object.keys(doc.paths[path]![method].responses), `${method} ${path}`).toContain(status)
      }
      const task = resolve(doc, doc.paths['/api/v1/tasks/{id}']!.get.responses['200'].content['application/json'].schema)
      expect(Object.keys(task.properties).sort()).toEqual(
        ['completed', 'completed_at', 'created_at', 'description', 'due_at', 'id', 'list_id', 'position', 'priority', 'title', 'updated_at', 'user_id', 'version'],
      )
      const list = resolve(doc, doc.paths['/api/v1/lists/{id}']!.get.responses['200'].content['application/json'].schema)
      expect(Object.keys(list.properties).sort()).toEqual(['created_at', 'id', 'name', 'position', 'updated_at', 'version'])
    })

    test('documents the error responses of every task operation', async () => {
      const doc = await load()
      for (const [path, method] of taskOperations) {
        const responses = Object.keys(doc.paths[path]![method].responses)
        const expected = ['400', '401']
        if (path.includes('{id}')) expected.push('403', '404')
        if (['post', 'patch', 'put'].includes(method)) expected.push('413', '415')
        for (const status of expected) expect(responses, `${method} ${path}`).toContain(status)
      }
    })

    test('documents errors as application/problem+json with the problem fields', async () => {
      const doc = await load()
      for (const [path, method] of taskOperations) {
        for (const [status, response] of Object.entries<any>(doc.paths[path]![method].responses)) {
          if (Number(status) < 400) continue
          const where = `${method} ${path} ${status}`
          const content = resolve(doc, response).content ?? {}
          expect(Object.keys(content), where).toEqual(['application/problem+json'])
          const schema = resolve(doc, content['application/problem+json'].schema)
          for (const field of ['title', 'status', 'detail', 'error_code', 'status_code', 'request_id']) {
            expect(schema.required, where).toContain(field)
          }
        }
      }
    })
  })
})
