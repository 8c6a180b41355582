// Raw HTTP over a TCP socket, for what fetch() cannot send: HTTP/1.0 without Host, pipelined
// requests, exact bytes. Resolves with everything the server sent once it closes the connection.
export function rawHttp(url: string, bytes: string | Uint8Array, { timeoutMs = 10_000 } = {}): Promise<string> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = []
    const done = () => {
      clearTimeout(timer)
      resolve(Buffer.concat(chunks).toString('utf8'))
    }
    const timer = setTimeout(() => reject(new Error(`no close within ${timeoutMs} ms; got: ${Buffer.concat(chunks).toString('utf8')}`)), timeoutMs)
    Bun.connect({
      hostname,
      port: Number(port),
      socket: {
        open: (socket) => void socket.write(bytes),
        data: (_, chunk) => void chunks.push(new Uint8Array(chunk)),
        close: done,
        error: done,
      },
    }).catch(reject)
  })
}

export interface RawResponse {
  status: number
  headers: Headers
  body: string
}

/** Splits one or more HTTP/1.x responses (Content-Length framed) out of what the server sent. */
export function parseResponses(text: string): RawResponse[] {
  const responses: RawResponse[] = []
  let rest = text
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n')
    if (end < 0) break
    const [statusLine, ...lines] = rest.slice(0, end).split('\r\n')
    const headers = new Headers()
    for (const line of lines) {
      const colon = line.indexOf(':')
      headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim())
    }
    const length = Number(headers.get('content-length') ?? 0)
    const bodyBytes = Buffer.from(rest.slice(end + 4), 'utf8')
    responses.push({ status: Number(statusLine!.split(' ')[1]), headers, body: bodyBytes.subarray(0, length).toString('utf8') })
    rest = bodyBytes.subarray(length).toString('utf8')
  }
  return responses
}
