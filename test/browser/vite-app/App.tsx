// The frontend of the Vite check (test/browser/vite-client.ts): copied over src/App.tsx of a fresh
// `npm create vite -- --template react-ts` project, where it must type-check against the installed
// taskapi-client and then drive the service from Chromium. The query string names the service
// (?api=), the token (&token=) and an address where nothing listens (&offline=).
import { useEffect, useState, type FormEvent } from 'react'
import { createClient, NetworkError, pages } from 'taskapi-client'

const params = new URLSearchParams(location.search)
const api = createClient(params.get('api') ?? 'http://localhost:3000', { token: async () => params.get('token') })

type Task = NonNullable<Awaited<ReturnType<typeof api.tasks.get>>['data']>[number]

export default function App() {
  const [tasks, setTasks] = useState<Task[]>([])
  const [pageCount, setPageCount] = useState(0)
  const [title, setTitle] = useState('')
  const [message, setMessage] = useState('loading')

  /** Fetches every page; true when all came. */
  async function reload(): Promise<boolean> {
    const all: Task[] = []
    let count = 0
    // Two a page, so three tasks take a second page through the Link header.
    for await (const page of pages((cursor) => api.tasks.get({ query: { sort: 'created_at', limit: 2, cursor } }))) {
      if (page.error) {
        setMessage(`${page.error.status} ${page.error.value.error_code}`)
        return false
      }
      all.push(...page.data)
      count++
    }
    setTasks(all)
    setPageCount(count)
    return true
  }

  useEffect(() => {
    void reload().then((ok) => ok && setMessage('ready'))
  }, [])

  async function add(event: FormEvent) {
    event.preventDefault()
    const created = await api.tasks.post({ title, priority: 'medium' })
    if (created.error) {
      // Typed from the route: a 400 carries the field errors, every error the problem body.
      const fields = created.error.status === 400 ? created.error.value.errors : undefined
      return setMessage(fields?.map((e) => `${e.field}: ${e.message}`).join('; ') ?? created.error.value.detail)
    }
    setTitle('')
    setMessage(`created ${created.data.title} at ${created.data.created_at}`)
    await reload()
  }

  async function toggle(task: Task) {
    const toggled = await api.tasks({ id: task.id }).toggle.patch()
    if (toggled.error) return setMessage(toggled.error.value.detail)
    await reload()
  }

  async function remove(task: Task) {
    const deleted = await api.tasks({ id: task.id }).delete()
    if (deleted.error) return setMessage(deleted.error.value.detail)
    await reload()
  }

  async function offline() {
    try {
      const answer = await createClient(params.get('offline') ?? 'http://127.0.0.1:9').tasks.get()
      setMessage(`offline: answered ${answer.status}`)
    } catch (error) {
      setMessage(error instanceof NetworkError ? 'offline: NetworkError' : `offline: ${String(error)}`)
    }
  }

  return (
    <main>
      <h1>Tasks</h1>
      <form onSubmit={add}>
        <input aria-label="title" value={title} onChange={(e) => setTitle(e.target.value)} />
        <button type="submit">Add</button>
        <button type="button" onClick={offline}>Offline check</button>
      </form>
      <p data-testid="message">{message}</p>
      <p data-testid="pages">pages: {pageCount}</p>
      <ul>
        {tasks.map((task) => (
          <li key={task.id} data-completed={String(task.completed)}>
            <input type="checkbox" aria-label={`done: ${task.title}`} checked={task.completed} onChange={() => toggle(task)} />
            <span>{task.title}</span>
            <button type="button" onClick={() => remove(task)}>
              Delete {task.title}
            </button>
          </li>
        ))}
      </ul>
    </main>
  )
}
