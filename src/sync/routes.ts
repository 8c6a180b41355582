// The 'sync' plugin: GET /changes (the change feed, paged) and GET /events (the same changes, live,
// as Server-Sent Events), on the /api base plugin. Only under /api/v1.
import { Elysia, t } from 'elysia'
import { decodeJwt } from 'jose'
import type { Api } from '../http/api'
import { errorResponses } from '../http/errors'
import { decodeCursor, encodeCursor } from './cursor'
import { readFeed } from './feed'
import type { Sync } from './hub'
import { ChangesPage, ChangesQuery, EventsQuery, StreamEvent } from './model'

const common = ['VALIDATION_ERROR', 'INVALID_JSON', 'UNAUTHORIZED', 'RATE_LIMITED', 'INTERNAL_ERROR', 'SERVICE_UNAVAILABLE'] as const
const cursorCodes = ['INVALID_CURSOR', 'CURSOR_EXPIRED'] as const

export const syncRoutes = (api: Api, sync: Sync) =>
  new Elysia({ name: 'sync', prefix: '/api/v1', detail: { tags: ['sync'], security: [{ bearer: [] }] } })
    .use(api)
    .get(
      '/changes',
      async ({ query, userId, db }) => {
        const since = query.since === undefined ? null : decodeCursor(query.since)
        const page = await readFeed(db, userId, since, Number(query.limit ?? 500), sync.feed)
        return { changes: page.changes.map((c) => c.change), cursor: encodeCursor(page.next), has_more: page.hasMore }
      },
      {
        query: ChangesQuery,
        response: { 200: ChangesPage, ...errorResponses(...common, ...cursorCodes) },
        detail: {
          summary: 'The change feed',
          description:
            'Without `since`, a snapshot of every task as upserts; with it, every object changed after that cursor, once, in its latest state, in the order of its last change. Apply the pages in order until `has_more` is false. 410 `CURSOR_EXPIRED`: start again without `since`.',
        },
      },
    )
    .get(
      '/events',
      async function* ({ query, request, userId }) {
        // A reconnecting client's Last-Event-ID is newer than the ?since= it first connected with.
        const resumeFrom = request.headers.get('last-event-id') || query.since
        const since = resumeFrom ? decodeCursor(resumeFrom) : null
        // The token was verified by the auth plugin (which requires `exp`); the stream ends with it.
        const token = request.headers.get('authorization')!.replace(/^Bearer +/i, '').trim()
        const expiresAt = (decodeJwt(token).exp ?? 0) * 1000
        yield* sync.events(userId, since, expiresAt, request.signal)
      },
      {
        query: EventsQuery,
        // Typed as a stream of events, so Eden hands the client an async iterator of them.
        response: { 200: t.Unsafe<AsyncGenerator<StreamEvent>>(StreamEvent), ...errorResponses(...common, ...cursorCodes) },
        detail: {
          summary: 'Live changes (Server-Sent Events)',
          description:
            'A `text/event-stream`. Without `Last-Event-ID` or `since`, first an event `ready` whose id is the current cursor; with one, every change after it first. Then each change as an event `change` (id: its cursor; data: the change object). A comment line at least every 15 s. The stream ends when the token expires and at shutdown: reconnect with `Last-Event-ID`. More than `EVENTS_MAX_STREAMS_PER_USER` open streams: 429.',
        },
      },
    )
