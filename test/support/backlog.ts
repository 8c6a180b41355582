// Writes queued bytes to a socket that may take only part of them (backpressure): what it does not
// take stays queued until its drain event flushes again.
export function flush(backlog: Uint8Array[], socket: { write(chunk: Uint8Array): number } | undefined) {
  while (socket && backlog.length > 0) {
    const chunk = backlog[0]!
    const written = socket.write(chunk)
    if (written < chunk.byteLength) {
      backlog[0] = chunk.subarray(Math.max(written, 0))
      return
    }
    backlog.shift()
  }
}
