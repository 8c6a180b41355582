// Interactive API docs at /docs and the OpenAPI document at /docs/json. Swagger UI's files are
// embedded and served by the service itself, so the page works with no internet access (and from
// the compiled binary).
import { openapi } from '@elysiajs/openapi'
import { Elysia } from 'elysia'
import bundle from 'swagger-ui-dist/swagger-ui-bundle.js' with { type: 'file' }
import stylesheet from 'swagger-ui-dist/swagger-ui.css' with { type: 'file' }
import pkg from '../../package.json'
import { withoutMarks } from './responses'

// A check mark, so the browser tab of /docs (and of the API) shows something.
const favicon =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#1f6feb"/><path d="M8 17l5 5 11-12" fill="none" stroke="#fff" stroke-width="4" stroke-linecap="round" stroke-linejoin="round"/></svg>'

// How a newcomer gets a token, on the page itself (Swagger UI renders it as Markdown).
const gettingStarted = `Per-user tasks over JSON. Errors are RFC 9457 problem details (\`application/problem+json\`).

## Getting a token

Every \`/api\` request carries \`Authorization: Bearer <JWT>\`; the user is the token's subject (\`sub\`). Get one, press **Authorize** (below), paste it, then **Try it out** on any operation.

- **Locally, or on a server you run**: \`taskapi token --sub alice\` (in a checkout: \`bun run token --sub alice\`) prints a token for user \`alice\`, signed with the service's \`JWT_SECRET\` (or the development secret under \`NODE_ENV=development\`), valid for an hour (\`--ttl 15m\`, \`7d\`…). On Fly.io: \`fly ssh console -C "/usr/local/bin/taskapi token --sub alice"\`.
- **From Better Auth** (the service configured with \`JWT_JWKS_URL=https://auth.example.com/api/auth/jwks\`): signed in, \`GET https://auth.example.com/api/auth/token\` with the session cookie returns \`{ "token": "…" }\`. It expires after 15 minutes: ask again before then.
- **Any other issuer** publishing a JWKS (EdDSA, ES256, RS256) works the same way.

From a web app, the typed client \`taskapi-client\` (\`bun run build:client\`) sets the header for you; see the README.`

const asset = (path: string, type: string) => () =>
  new Response(Bun.file(path), { headers: { 'content-type': type, 'cache-control': 'public, max-age=86400' } })

type Operation = { responses?: Record<string, { content?: Record<string, unknown> }> }

/** Errors are sent as application/problem+json: say so in the document. */
function problemContent(document: { paths?: Record<string, Record<string, Operation>> }) {
  for (const path of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(path)) {
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        const json = response.content?.['application/json']
        if (Number(status) >= 400 && json) response.content = { 'application/problem+json': json }
      }
    }
  }
  return document
}

// A factory: @elysiajs/openapi renders its page and caches its document per instance, so each app
// gets its own.
export const docs = () =>
  new Elysia({ name: 'docs' })
    .mapResponse(({ path, responseValue }) => {
      if (path === '/docs/json' && responseValue && typeof responseValue === 'object') {
        // Serialized here, as Response.json would, without the schemas' validation marks.
        return new Response(JSON.stringify(problemContent(responseValue), withoutMarks), { headers: { 'content-type': 'application/json;charset=utf-8' } })
      }
    })
    // Someone who opens the service in a browser lands on its documentation.
    .get('/', ({ redirect }) => redirect('/docs', 302), { detail: { hide: true } })
    .get('/favicon.ico', () => new Response(favicon, { headers: { 'content-type': 'image/svg+xml', 'cache-control': 'public, max-age=86400' } }), {
      detail: { hide: true },
    })
    .get('/docs/assets/swagger-ui-bundle.js', asset(bundle, 'text/javascript; charset=utf-8'), { detail: { hide: true } })
    .get('/docs/assets/swagger-ui.css', asset(stylesheet, 'text/css; charset=utf-8'), { detail: { hide: true } })
    .use(
      openapi({
        path: '/docs',
        specPath: '/docs/json',
        provider: 'swagger-ui',
        swagger: { cdn: '/docs/assets/swagger-ui-bundle.js', theme: '/docs/assets/swagger-ui.css', persistAuthorization: true },
        // Older clients' paths serve the same handlers; only the canonical /api/v1 is documented.
        exclude: { paths: [/^\/api\/(?!v1\/)/, /^\/docs/] },
        documentation: {
          info: {
            title: 'taskapi',
            version: pkg.version,
            description: gettingStarted,
          },
          tags: [
            { name: 'tasks', description: 'The caller\'s tasks' },
            { name: 'lists', description: 'The caller\'s lists, and the manual order of lists and tasks' },
            { name: 'operations', description: 'Health and readiness' },
          ],
          components: {
            securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
          },
        },
      }),
    )
