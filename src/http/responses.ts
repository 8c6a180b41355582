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
 * once every route is there and before the first request compiles one. Enumerable, because Elysia
 * compiles a copy of a schema that is not an object (a list's array); the OpenAPI document leaves
 * it out (`withoutMarks`), so it does not change.
 */
export function unvalidatedResponses<const App extends AnyElysia>(app: App): App {
  for (const route of app.routes) {
    const response = (route.hooks as { response?: unknown } | undefined)?.response
    if (response === undefined || response === null || typeof response !== 'object') continue
    const schemas = Symbol.for('TypeBox.Kind') in response ? [response] : Object.values(response)
    for (const schema of schemas) if (schema !== null && typeof schema === 'object') (schema as { noValidate?: boolean }).noValidate = true
  }
  return app
}

/** A JSON.stringify replacer that drops the mark, for documents made from these schemas. */
export const withoutMarks = (key: string, value: unknown) => (key === 'noValidate' ? undefined : value)
