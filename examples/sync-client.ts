// A client that keeps a local copy of its user's tasks and lists in sync with taskapi, typed end to end by
// Eden: pull the change feed until `has_more` is false, then follow the event stream from that
// cursor; when the stream drops (token expiry, a deploy, the network), resume from the last
// event's id; on 410 CURSOR_EXPIRED (away longer than the retention), start again from a snapshot.
//
//   const api = treaty<App>('https://tasks.example.com', { parseDate: false, headers: async () => ({ authorization: `Bearer ${await getToken()}` }) }).api.v1
//   const replica = new TaskReplica(api)
//   await replica.pull()                       // the snapshot: replica.tasks holds every task
//   void replica.follow(controller.signal)     // then live, until controller.abort()
import type { treaty } from '@elysiajs/eden'
import type { App } from '../src/app'
import type { Change } from '../src/sync/model'
import type { List } from '../src/lists/model'
import type { Task } from '../src/tasks/model'

export type Api = ReturnType<typeof treaty<App>>['api']['v1']

export class TaskReplica {
  readonly tasks = new Map<string, Task>()
  readonly lists = new Map<string, List>()
  /** Where this copy stands in the feed; keep it with the copy (e.g. in IndexedDB). */
  cursor: string | undefined

  constructor(private readonly api: Api) {}

  apply(change: Change) {
    if (change.type === 'list') {
      if (change.op === 'delete') this.lists.delete(change.id)
      else this.lists.set(change.id, change.data)
    } else if (change.op === 'delete') this.tasks.delete(change.id)
    else this.tasks.set(change.id, change.data)
  }

  /** Applies every page after the cursor (everything, the first time). */
  async pull(): Promise<void> {
    for (;;) {
      const { data, error } = await this.api.changes.get({ query: this.cursor === undefined ? {} : { since: this.cursor } })
      if (error?.status === 410) {
        this.restart()
        continue
      }
      if (error) throw new Error(`GET /changes failed: ${error.status}`)
      for (const change of data.changes) this.apply(change)
      this.cursor = data.cursor
      if (!data.has_more) return
    }
  }

  /**
   * Follows the live stream until `signal` aborts, resuming after every drop from the last event
   * it applied (no change is missed or applied twice). `onChange` runs after each applied change.
   */
  async follow(signal: AbortSignal, onChange: (change: Change) => void = () => {}): Promise<void> {
    let failures = 0
    while (!signal.aborted) {
      if (this.cursor === undefined) await this.pull()
      const { data, error } = await this.api.events.get({ headers: { 'last-event-id': this.cursor! }, fetch: { signal } })
      if (error?.status === 410) {
        this.restart()
        continue
      }
      if (error) {
        // 429 (too many streams), 503, the network: wait a little longer each time.
        await Bun.sleep(Math.min(30_000, 250 * 2 ** failures++))
        continue
      }
      failures = 0
      try {
        for await (const message of data) {
          if (message.event !== 'change') continue
          this.apply(message.data)
          this.cursor = message.id
          onChange(message.data)
        }
      } catch {
        // The connection dropped mid-stream: resume from the cursor.
      }
    }
  }

  /** The cursor is older than the server's retention: this copy may hold deleted tasks. */
  private restart() {
    this.tasks.clear()
    this.lists.clear()
    this.cursor = undefined
  }
}
