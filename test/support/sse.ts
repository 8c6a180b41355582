// Reads a text/event-stream response block by block, as a client would: events (with id, event
// and parsed data) and comment lines, each awaited with a deadline.
export type SseItem = { kind: 'event'; id?: string; event?: string; data?: any } | { kind: 'comment'; text: string } | { kind: 'end' }

export interface SseReader {
  /** The next event or comment; 'end' when the stream closed; throws when nothing came in time. */
  next(timeoutMs?: number): Promise<SseItem>
  /** The next event, skipping comments. */
  nextEvent(timeoutMs?: number): Promise<SseItem>
  cancel(): Promise<void>
}

export function readSse(res: Response): SseReader {
  const reader = res.body!.getReader()
  const decoder = new TextDecoder()
  let buffer = ''
  let done = false
  let pending: ReturnType<typeof reader.read> | undefined

  const parse = (block: string): SseItem => {
    if (block.startsWith(':')) return { kind: 'comment', text: block.slice(1).trim() }
    const item: Extract<SseItem, { kind: 'event' }> = { kind: 'event' }
    for (const line of block.split('\n')) {
      const colon = line.indexOf(':')
      const [field, value] = colon < 0 ? [line, ''] : [line.slice(0, colon), line.slice(colon + 1).replace(/^ /, '')]
      if (field === 'id') item.id = value
      else if (field === 'event') item.event = value
      else if (field === 'data') item.data = JSON.parse(value)
    }
    return item
  }

  const next = async (timeoutMs = 3000): Promise<SseItem> => {
    const deadline = performance.now() + timeoutMs
    for (;;) {
      const end = buffer.indexOf('\n\n')
      if (end >= 0) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        return parse(block)
      }
      if (done) return { kind: 'end' }
      pending ??= reader.read()
      let timer: Timer | undefined
      const result = await Promise.race([
        pending,
        new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - performance.now())))),
      ])
      clearTimeout(timer)
      if (result === 'timeout') throw new Error(`no event within ${timeoutMs} ms (buffered: ${JSON.stringify(buffer)})`)
      pending = undefined
      if (result.done) done = true
      else buffer += typeof result.value === 'string' ? result.value : decoder.decode(result.value, { stream: true })
    }
  }

  return {
    next,
    async nextEvent(timeoutMs = 3000) {
      const deadline = performance.now() + timeoutMs
      for (;;) {
        const item = await next(Math.max(1, deadline - performance.now()))
        if (item.kind !== 'comment') return item
      }
    },
    cancel: () => reader.cancel().catch(() => {}),
  }
}
