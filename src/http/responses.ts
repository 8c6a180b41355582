// Response schemas document the API (OpenAPI) and type the handlers and Eden's client; they are not
// checked again at run time. Every answer is built by the service itself: objects from typed rows
// (toTask, toList…), whose shapes the compiler checks against these schemas (Elysia types each
// handler's return by its route's `response`), and problem bodies from one function (problem()).
// Checking them per request bought nothing a test does not, and cost up to a fifth of a list's CPU
// (the `date-time` format re-parsing every timestamp the server had just formatted). Requests stay
// fully validated: this touches only `response`.
import type { AnyElysia } from 'elysia'

/**
 * Marks every response schema of `app`'s routes as not to be validated (Elysia's `noValidate`),
 * once every route is there and before the first request compiles one. Non-enumerable, so the
 * OpenAPI document, which is built from the same objects, does not change.
 */
export function unvalidatedResponses<const App extends AnyElysia>(app: App): App {
  for (const route of app.routes) {
    const response = (route.hooks as { response?: unknown } | undefined)?.response
    if (response === undefined || response === null || typeof response !== 'object') continue
    const schemas = isSchema(response) ? [response] : Object.values(response)
    for (const schema of schemas) {
      if (schema !== null && typeof schema === 'object') Object.defineProperty(schema, 'noValidate', { value: true, enumerable: false, configurable: true })
    }
  }
  return app
}

const isSchema = (value: object) => Symbol.for('TypeBox.Kind') in value
